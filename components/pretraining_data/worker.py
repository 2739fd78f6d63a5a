"""One shard, start to finish: passages → words and tokens → rows × dupe_factor → masks → records.

Runs in a pool worker (or in the main process with one worker). Tokenizer and segmenter are
built once per process by `init_process` (before the pool forks, so workers share them).
Segmentation and tokenization happen once per passage; the dupe passes reuse their arrays.
"""

import os
import time

import numpy as np

from components.bert.vocab import load_vocab
from components.pretraining_data import (
    corpus,
    instances,
    masking,
    segment,
    stats,
    tfrecord,
    wordpiece,
)

ROWS_PER_BATCH = 4096

_PROCESS = {}


def init_process(settings):
    """Load vocab, tokenizer and segmenter into this process (once). `settings`: the stage's
    `PretrainingDataArguments` (every worker function takes them)."""
    key = (settings.vocab_file, settings.do_lower_case, settings.segmenter, settings.user_dict,
           settings.do_whole_word_mask)
    if _PROCESS.get("key") == key:
        return
    vocab = load_vocab(settings.vocab_file)
    tokenizer = wordpiece.build_tokenizer(vocab, settings.do_lower_case)
    _PROCESS.update(
        key=key, vocab=vocab, deleted_chars=wordpiece.DeletedChars(tokenizer),
        encoder=wordpiece.PassageEncoder(tokenizer),
        segmenter=(segment.Segmenter(settings.segmenter, settings.user_dict)
                   if settings.do_whole_word_mask else None))


class _Clock:
    def __init__(self):
        self.seconds = {}
        self._last = time.process_time()

    def lap(self, phase):
        now = time.process_time()
        self.seconds[phase] = self.seconds.get(phase, 0.0) + now - self._last
        self._last = now


def _tokens(passages, settings, clock):
    """(ids, continues_word, token counts) of passages, with counts for the manifest."""
    vocab, segmenter = _PROCESS["vocab"], _PROCESS["segmenter"]
    # Segmentation and tokenization read the same text: without what the tokenizer deletes.
    passages = _PROCESS["deleted_chars"](passages)
    words = segmenter.word_lengths(passages) if segmenter else None
    clock.lap("segmentation")
    ids, char_starts, counts = _PROCESS["encoder"].encode(passages)
    clock.lap("tokenization")
    if words is not None:
        continues = segment.continuation_flags(
            ids, char_starts, counts, np.fromiter(map(len, passages), dtype=np.int64),
            words, vocab.is_subword)
    else:
        continues = np.zeros(len(ids), dtype=bool)
    return ids, continues, counts


def drop_bad_passages(passages, ids, continues, counts, bad):
    """Leave out passages without tokens or with only [UNK] tokens, counting them in `bad`.

    `bad` maps a reason to [count, the first such passage]; returns (ids, continues, counts).
    """
    unk = np.bincount(np.repeat(np.arange(len(counts)), counts),
                      weights=ids == _PROCESS["vocab"].id_of("[UNK]"), minlength=len(counts))
    reasons = np.where(counts == 0, 1, np.where(unk == counts, 2, 0))
    for code, reason in ((1, "no_tokens"), (2, "only_unk")):
        found = np.flatnonzero(reasons == code)
        if len(found):
            entry = bad.setdefault(reason, [0, repr(passages[found[0]][:40])])
            entry[0] += len(found)
    keep = reasons == 0
    keep_token = np.repeat(keep, counts)
    return ids[keep_token], continues[keep_token], counts[keep]


def _plan(ids, continues, counts, settings, rng):
    """Row chunks for all dupe passes, shuffled, over `stream` (the passages, packed or not)."""
    vocab = _PROCESS["vocab"]
    max_num_tokens = settings.max_seq_length - 2
    counts = counts[counts > 0]
    if settings.pack:
        stream, stream_continues, is_sep = instances.pack_stream(
            ids, continues, counts, vocab.id_of("[SEP]"))
        plans = [instances.plan_packed(is_sep, max_num_tokens, settings.short_seq_prob, rng)
                 for _ in range(settings.dupe_factor)]
    else:
        stream, stream_continues = ids, continues
        plans = [instances.plan_unpacked(counts, max_num_tokens, settings.short_seq_prob, rng)
                 for _ in range(settings.dupe_factor)]
    starts = np.concatenate([p[0] for p in plans])
    lengths = np.concatenate([p[1] for p in plans])
    order = rng.permutation(len(starts))
    return stream, stream_continues, starts[order], lengths[order]


def _alternative_rows(ids, counts, settings, rng):
    """Rows and real tokens the other layout (packed vs not) would give, for the manifest."""
    max_num_tokens = settings.max_seq_length - 2
    counts = counts[counts > 0]
    if settings.pack:
        lengths = instances.plan_unpacked(counts, max_num_tokens, settings.short_seq_prob, rng)[1]
    else:
        is_sep = instances.pack_stream(ids, np.zeros(len(ids), bool), counts, 0)[2]
        lengths = instances.plan_packed(is_sep, max_num_tokens, settings.short_seq_prob, rng)[1]
    return len(lengths) * settings.dupe_factor, int(lengths.sum() + 2 * len(lengths)) * \
        settings.dupe_factor


def _write_records(sink, stream, stream_continues, starts, lengths, settings, rng, clock,
                   counts_out):
    """Mask, serialize and frame the planned rows batch by batch into `sink(bytes)`."""
    vocab = _PROCESS["vocab"]
    for first in range(0, len(starts), ROWS_PER_BATCH):
        batch = slice(first, first + ROWS_PER_BATCH)
        rows = instances.build_rows(stream, stream_continues, starts[batch], lengths[batch],
                                    settings.max_seq_length, vocab.id_of("[CLS]"),
                                    vocab.id_of("[SEP]"), vocab.id_of("[PAD]"))
        masked = masking.mask_rows(rows, settings.masked_lm_prob, settings.max_predictions_per_seq,
                                   vocab.size, vocab.id_of("[MASK]"), rng)
        clock.lap("masking")
        input_mask = (np.arange(settings.max_seq_length)[None, :]
                      < rows.real_length[:, None]).astype(np.int32)
        features = tfrecord.pretraining_features(masked, np.zeros_like(input_mask), input_mask)
        sink(tfrecord.frame_records(*tfrecord.encode_examples(features)))
        clock.lap("writing")
        stats.add_counts(counts_out, {
            "instances": len(rows.real_length),
            "real_tokens": int(rows.real_length.sum()),
            "masked_tokens": int(masked.masked_lm_weights.sum()),
            "replaced_by_mask": masked.replaced_by_mask,
            "kept_original": masked.kept_original,
            "replaced_by_random": masked.replaced_by_random,
            "instance_real_tokens_histogram": stats.histogram(
                rows.real_length, stats.instance_length_edges(settings.max_seq_length)),
        })


def _split_seed(settings, shard, split_code):
    return np.random.SeedSequence([settings.random_seed, shard.file_index, shard.index_in_file,
                                   split_code])


def process_shard(shard, settings):
    """Make one shard's records: train records go to a file, held-out records come back."""
    init_process(settings)
    clock = _Clock()
    invalid_lines = []
    passages = corpus.read_passages(shard, invalid_lines)
    bad = {"invalid_utf8": [len(invalid_lines), invalid_lines[0]]} if invalid_lines else {}
    heldout_flags = [corpus.is_heldout(p, settings.heldout_fraction) for p in passages]
    clock.lap("reading")
    result = {"shard": shard.name, "train_file": None, "heldout_records": b"",
              "counts": {"passages": len(passages), "characters": sum(map(len, passages))}}
    counts = result["counts"]
    for split_code, split in enumerate(("train", "heldout")):
        chosen = [p for p, held in zip(passages, heldout_flags, strict=True)
                  if held == (split == "heldout")]
        counts[split] = {"passages": len(chosen)}
        if not chosen:
            continue
        ids, continues, token_counts = _tokens(chosen, settings, clock)
        vocab = _PROCESS["vocab"]
        stats.add_counts(counts, {
            "text_tokens": len(ids),
            "unk_tokens": int((ids == vocab.id_of("[UNK]")).sum()),
            "passages_without_tokens": int((token_counts == 0).sum()),
            "passage_chars_histogram": stats.histogram(list(map(len, chosen)),
                                                       stats.PASSAGE_CHAR_EDGES),
            "passage_tokens_histogram": stats.histogram(token_counts, stats.PASSAGE_TOKEN_EDGES),
        })
        ids, continues, token_counts = drop_bad_passages(chosen, ids, continues, token_counts,
                                                         bad)
        if not len(token_counts):
            continue
        rng = np.random.default_rng(_split_seed(settings, shard, split_code))
        plan = _plan(ids, continues, token_counts, settings, rng)
        alt_rows, alt_real = _alternative_rows(
            ids, token_counts, settings, np.random.default_rng(_split_seed(settings, shard, 2)))
        stats.add_counts(counts, {"alternative_instances": alt_rows,
                                  "alternative_real_tokens": alt_real})
        clock.lap("masking")
        if split == "heldout":
            blobs = []
            _write_records(blobs.append, *plan, settings, rng, clock, counts[split])
            result["heldout_records"] = b"".join(blobs)
        elif len(plan[2]):
            path = os.path.join(settings.output_dir, f"train-shard-{shard.name}.tfrecord")
            with open(path, "wb") as f:
                _write_records(f.write, *plan, settings, rng, clock, counts[split])
            result["train_file"] = path
        clock.lap("writing")
    counts["bad_passages"] = {reason: n for reason, (n, _) in bad.items()}
    result["first_bad"] = {reason: f"{shard.path}: {first}" for reason, (_, first) in bad.items()}
    result["seconds"] = clock.seconds
    return result
