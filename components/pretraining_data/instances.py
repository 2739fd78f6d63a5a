"""Rows of token ids from passages: Google's MLM-only instances, or packed rows (`--pack`).

Unpacked (Google's `create_instances_from_document` with next-sentence prediction removed):
each passage is cut into consecutive chunks of `max_seq_length - 2` tokens; with probability
`short_seq_prob` a passage's target length is drawn from [2, max_seq_length - 2] instead (once
per passage and pass, as Google draws it once per document). Each row is
`[CLS] chunk [SEP]`, then `[PAD]`.

Packed (RoBERTa's "full sentences"): the passages of a shard form one stream with `[SEP]`
between passages, cut into rows of up to `max_seq_length - 2` tokens (short rows with
probability `short_seq_prob`, drawn per row). A row never starts or ends on a separator.
All rows have segment id 0: there is no sentence pair.
"""

import dataclasses

import numpy as np


@dataclasses.dataclass
class Rows:
    """A batch of rows before masking."""

    input_ids: np.ndarray  # int32 [rows, max_seq_length]
    continues_word: np.ndarray  # bool [rows, max_seq_length]: joins the group before it
    candidate: np.ndarray  # bool [rows, max_seq_length]: a text token (not CLS/SEP/PAD)
    real_length: np.ndarray  # int64 [rows]: tokens before padding, [CLS] and [SEP] included


def _target_lengths(rng, count, max_num_tokens, short_seq_prob):
    short = rng.random(count) < short_seq_prob
    return np.where(short, rng.integers(2, max_num_tokens + 1, count), max_num_tokens)


def plan_unpacked(token_counts, max_num_tokens, short_seq_prob, rng):
    """(starts, lengths) of the rows' chunks in the passages' tokens laid back to back."""
    counts = np.asarray(token_counts, dtype=np.int64)
    targets = _target_lengths(rng, len(counts), max_num_tokens, short_seq_prob)
    rows_per_passage = -(-counts // targets)
    passage_of_row = np.repeat(np.arange(len(counts)), rows_per_passage)
    first_row = np.cumsum(rows_per_passage) - rows_per_passage
    chunk_index = np.arange(len(passage_of_row)) - first_row[passage_of_row]
    offset_in_passage = chunk_index * targets[passage_of_row]
    starts = (np.cumsum(counts) - counts)[passage_of_row] + offset_in_passage
    lengths = np.minimum(targets[passage_of_row], counts[passage_of_row] - offset_in_passage)
    return starts, lengths


def plan_packed(is_separator, max_num_tokens, short_seq_prob, rng):
    """(starts, lengths) of the rows' chunks in a stream with separators between passages."""
    total = len(is_separator)
    targets = _target_lengths(rng, total + 1, max_num_tokens, short_seq_prob)
    starts, lengths = [], []
    position = 0
    for target in targets.tolist():
        if position < total and is_separator[position]:
            position += 1
        if position >= total:
            break
        end = min(position + target, total)
        if end < total and is_separator[end - 1]:
            end -= 1
        starts.append(position)
        lengths.append(end - position)
        position = end
    return np.asarray(starts, dtype=np.int64), np.asarray(lengths, dtype=np.int64)


def pack_stream(ids, continues_word, token_counts, sep_id):
    """Passages' tokens back to back with one [SEP] between consecutive passages."""
    counts = np.asarray(token_counts, dtype=np.int64)
    separators = len(counts) - 1
    stream_len = len(ids) + max(separators, 0)
    ends = np.cumsum(counts)[:-1]
    sep_positions = ends + np.arange(separators)
    is_separator = np.zeros(stream_len, dtype=bool)
    is_separator[sep_positions] = True
    stream_ids = np.full(stream_len, sep_id, dtype=np.int32)
    stream_ids[~is_separator] = ids
    stream_continues = np.zeros(stream_len, dtype=bool)
    stream_continues[~is_separator] = continues_word
    return stream_ids, stream_continues, is_separator


def build_rows(ids, continues_word, starts, lengths, max_seq_length, cls_id, sep_id, pad_id):
    """Gather the planned chunks into `[CLS] chunk [SEP] [PAD]…` rows."""
    count = len(starts)
    width = max_seq_length - 2
    columns = np.arange(width)
    valid = columns[None, :] < lengths[:, None]
    source = np.minimum(starts[:, None] + columns[None, :], len(ids) - 1)
    input_ids = np.full((count, max_seq_length), pad_id, dtype=np.int32)
    input_ids[:, 0] = cls_id
    input_ids[:, 1:-1] = np.where(valid, ids[source], pad_id)
    input_ids[np.arange(count), lengths + 1] = sep_id
    continues = np.zeros((count, max_seq_length), dtype=bool)
    continues[:, 1:-1] = valid & continues_word[source]
    continues[:, 1] = False
    candidate = np.zeros((count, max_seq_length), dtype=bool)
    candidate[:, 1:-1] = valid
    candidate &= input_ids != sep_id
    return Rows(input_ids, continues, candidate, lengths + 2)
