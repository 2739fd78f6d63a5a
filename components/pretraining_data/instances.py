"""Rows of token ids from passages: Google's MLM-only instances, or packed rows (`--pack`).

Unpacked (Google's `create_instances_from_document` with next-sentence prediction removed, a
passage being a document): each passage is cut into consecutive chunks of `max_seq_length - 2`
tokens. Google draws a shorter target length (uniform in [2, max_seq_length - 2]) with
probability `short_seq_prob` once per multi-sentence document; as our chunks are cut inside a
passage, the draw is made per row, so that `short_seq_prob` of the rows are short (one draw per
passage would cut a whole long passage into rows of a few tokens). Each row is
`[CLS] chunk [SEP]`, then `[PAD]`.

Packed (RoBERTa's "full sentences"): the passages of a shard form one stream with `[SEP]`
between passages, cut into rows the same way (short rows with probability `short_seq_prob`); a
separator at either end of a row is dropped. All rows have segment id 0: there is no sentence
pair.
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
    most_rows = int((counts // 2).sum()) + len(counts)
    targets = _target_lengths(rng, most_rows, max_num_tokens, short_seq_prob).tolist()
    starts, lengths = [], []
    row = 0
    for base, count in zip((np.cumsum(counts) - counts).tolist(), counts.tolist(), strict=True):
        position = 0
        while position < count:
            length = min(targets[row], count - position)
            starts.append(base + position)
            lengths.append(length)
            position += length
            row += 1
    return np.asarray(starts, dtype=np.int64), np.asarray(lengths, dtype=np.int64)


def plan_packed(is_separator, max_num_tokens, short_seq_prob, rng):
    """(starts, lengths) of the rows' chunks in a stream with separators between passages.

    The stream is cut at consecutive target lengths; a separator at either end of a chunk is
    dropped from it (so a row never starts or ends on one).
    """
    total = len(is_separator)
    if total == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    targets = _target_lengths(rng, total // 2 + 1, max_num_tokens, short_seq_prob)
    ends = np.cumsum(targets)
    ends = np.append(ends[ends < total], total)
    starts = np.concatenate([[0], ends[:-1]])
    starts = starts + is_separator[starts]
    ends = ends - is_separator[ends - 1]
    keep = ends > starts
    return starts[keep], (ends - starts)[keep]


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
