"""`create_pretraining_data`: corpus + vocab → TFRecord shards in Google's schema + manifest.

Streaming: the input is cut into byte-range shards (`corpus.py`); a bounded window of shards is
in flight in a process pool, each worker writes its shard's train records to one file and hands
back the (small) held-out records, which are appended in shard order. Memory is bounded by the
window, not the corpus; the output does not depend on the number of workers.
"""

import collections
import concurrent.futures
import logging
import multiprocessing
import os
import time

from components.bert.vocab import load_vocab
from components.common.artifacts import atomic_output_dir, write_manifest
from components.common.bad_rows import BadRows, check_max_bad_fraction
from components.common.cli import check_range
from components.common.disk import check_free_space, write_errors_as_user_errors
from components.common.errors import UserError
from components.common.logs import progress
from components.pretraining_data import corpus, segment, stats, worker

log = logging.getLogger(__name__)

HELDOUT_FILE_BYTES = 256 << 20


def default_num_workers():
    return len(os.sched_getaffinity(0))


def _output_dir(output_dir, output_file):
    if output_file:
        from_file = os.path.dirname(os.path.abspath(output_file))
        if output_dir and os.path.abspath(output_dir) != from_file:
            raise UserError("--output_dir and --output_file name different directories",
                            where=f"{output_dir} vs {output_file}", fix="pass only one of them")
        return from_file
    if not output_dir:
        raise UserError("no output directory given", where="--output_dir",
                        fix="pass --output_dir DIR (or the users' --output_file DIR/name.tfrecord)")
    return output_dir


def _check_parameters(p):
    check_range("max_seq_length", p["max_seq_length"], 3, None)
    check_range("max_predictions_per_seq", p["max_predictions_per_seq"], 1, None)
    if p["max_predictions_per_seq"] > p["max_seq_length"]:
        raise UserError(f"--max_predictions_per_seq={p['max_predictions_per_seq']} is larger "
                        f"than --max_seq_length={p['max_seq_length']}",
                        where="--max_predictions_per_seq",
                        fix="use at most max_seq_length predictions (Google uses 20 for 128)")
    check_range("masked_lm_prob", p["masked_lm_prob"], 0, 1, low_open=True, high_open=True)
    check_range("short_seq_prob", p["short_seq_prob"], 0, 1, high_open=True)
    check_range("heldout_fraction", p["heldout_fraction"], 0, 1, high_open=True)
    check_range("dupe_factor", p["dupe_factor"], 1, None)
    check_range("num_workers", p["num_workers"], 1, None)
    check_range("shard_size_mb", p["shard_size_mb"], 0, None, low_open=True)
    check_range("num_shards", p["num_shards"], 1, None)
    check_max_bad_fraction(p["max_bad_fraction"])
    check_range("shard_index", p["shard_index"], 0, p["num_shards"] - 1)
    if p["segmenter"] not in segment.SEGMENTERS:
        raise UserError(f"unknown segmenter {p['segmenter']!r}", where="--segmenter",
                        fix=f"choose one of {', '.join(segment.SEGMENTERS)}")


def _results(shards, settings, num_workers):
    """Per-shard results in shard order, at most 2 × num_workers shards in flight."""
    if num_workers == 1 or len(shards) <= 1:
        for shard in shards:
            yield worker.process_shard(shard, settings)
        return
    context = multiprocessing.get_context("fork")
    pool = concurrent.futures.ProcessPoolExecutor(num_workers, mp_context=context)
    try:
        pending = collections.deque()
        remaining = iter(shards)
        for shard in remaining:
            pending.append(pool.submit(worker.process_shard, shard, settings))
            if len(pending) >= 2 * num_workers:
                break
        while pending:
            result = pending.popleft().result()
            shard = next(remaining, None)
            if shard is not None:
                pending.append(pool.submit(worker.process_shard, shard, settings))
            yield result
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


class _HeldoutWriter:
    """Appends held-out records in shard order, starting a new file every HELDOUT_FILE_BYTES."""

    def __init__(self, directory):
        self.directory, self.paths, self._file, self._size = directory, [], None, 0

    def write(self, blob):
        if not blob:
            return
        if self._file is None or self._size >= HELDOUT_FILE_BYTES:
            self.close()
            self.paths.append(os.path.join(self.directory, f"heldout-part-{len(self.paths)}"))
            self._file, self._size = open(self.paths[-1], "wb"), 0
        self._file.write(blob)
        self._size += len(blob)

    def close(self):
        if self._file is not None:
            self._file.close()
            self._file = None


def name_shards(directory, paths, prefix):
    """Rename files to `<prefix>-NNNNN-of-NNNNN.tfrecord`; returns the new base names."""
    names = [f"{prefix}-{i:05d}-of-{len(paths):05d}.tfrecord" for i in range(len(paths))]
    for path, name in zip(paths, names, strict=True):
        os.replace(path, os.path.join(directory, name))
    return names


def create_pretraining_data(input_file, output_dir=None, vocab_file=None, output_file=None,
                            max_seq_length=128, max_predictions_per_seq=20, masked_lm_prob=0.15,
                            short_seq_prob=0.1, dupe_factor=5, random_seed=123456,
                            do_whole_word_mask=True, do_lower_case=True, heldout_fraction=0.01,
                            segmenter="jieba", user_dict=None, pack=False, num_workers=None,
                            shard_size_mb=0.25, shard_index=0, num_shards=1,
                            max_bad_fraction=0.01):
    """Make Google-schema MLM TFRecords from a corpus; returns the manifest.

    `shard_index`/`num_shards` process only that contiguous part of the input's shards, for a
    fan-out whose partial outputs `merge.merge_pretraining_data` joins.
    """
    started = time.perf_counter()
    params = dict(locals())
    params["num_workers"] = num_workers = num_workers or default_num_workers()
    _check_parameters(params)
    output_dir = _output_dir(output_dir, output_file)
    vocab = load_vocab(vocab_file)
    files = corpus.resolve_input_files(input_file)
    all_shards = corpus.plan_shards(files, max(1, int(shard_size_mb * (1 << 20))))
    if not all_shards:
        raise UserError("the corpus is empty", where=f"--input_file {', '.join(files)}",
                        fix="pass a corpus with at least one passage per line")
    shards = corpus.select_part(all_shards, shard_index, num_shards)
    # A lower bound: each input byte becomes at least one byte of record per dupe pass.
    check_free_space(output_dir, dupe_factor * sum(s.end - s.start for s in shards),
                     "the pretraining data")
    if num_workers > 1:
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    with write_errors_as_user_errors(output_dir), atomic_output_dir(output_dir) as tmp:
        settings = worker.Settings(
            vocab_file=os.path.abspath(vocab_file), do_lower_case=do_lower_case,
            segmenter=segmenter, user_dict=user_dict, max_seq_length=max_seq_length,
            max_predictions_per_seq=max_predictions_per_seq, masked_lm_prob=masked_lm_prob,
            short_seq_prob=short_seq_prob, dupe_factor=dupe_factor, random_seed=random_seed,
            do_whole_word_mask=do_whole_word_mask, heldout_fraction=heldout_fraction, pack=pack,
            output_dir=tmp)
        log.info("%d input files, %d shards (this part: %d), %d workers, segmenter %s%s",
                 len(files), len(all_shards), len(shards), num_workers, segmenter,
                 ", packed rows" if pack else "")
        worker.init_process(settings)
        counts, seconds, train_paths = {}, {}, []
        bad = BadRows(max_bad_fraction, unit="passages")
        heldout = _HeldoutWriter(tmp)
        shard_bytes = {s.name: s.end - s.start for s in shards}
        with progress(total=sum(shard_bytes.values()), desc="pretraining data",
                      unit="B") as bar:
            for result in _results(shards, settings, num_workers):
                stats.add_counts(counts, result["counts"])
                stats.add_counts(seconds, result["seconds"])
                if result["train_file"]:
                    train_paths.append(result["train_file"])
                heldout.write(result["heldout_records"])
                bad.merge(result["counts"]["bad_passages"], result["first_bad"])
                bar.update(shard_bytes[result["shard"]])
        heldout.close()
        bad.check(counts.get("passages", 0) + bad.counts.get("invalid_utf8", 0),
                  f"--input_file {', '.join(files)}")
        if num_shards == 1 and counts.get("passages", 0) == 0:
            raise UserError("the corpus has no passages", where=f"--input_file {', '.join(files)}",
                            fix="pass a corpus with at least one non-empty line")
        if num_shards == 1 and counts.get("text_tokens", 0) == 0:
            raise UserError("no passage of the corpus has a single token (only invisible or "
                            "control characters?)", where=f"--input_file {', '.join(files)}",
                            fix="check the corpus text and its encoding")
        manifest = {
            "kind": "pretraining_data",
            "train_files": name_shards(tmp, train_paths, "train"),
            "heldout_files": name_shards(tmp, heldout.paths, "heldout"),
            "input_files": files,
            "vocab_sha256": vocab.sha256,
            "vocab_size": vocab.size,
            "part": {"shard_index": shard_index, "num_shards": num_shards,
                     "input_shards": len(all_shards), "shards_in_part": len(shards)},
            **{k: params[k] for k in (
                "max_seq_length", "max_predictions_per_seq", "masked_lm_prob", "short_seq_prob",
                "dupe_factor", "random_seed", "do_whole_word_mask", "do_lower_case",
                "heldout_fraction", "segmenter", "pack")},
            "user_dict": os.path.basename(user_dict) if user_dict else None,
            "next_sentence_labels": 0,
            "counts": counts,
            "histogram_edges": {
                "passage_chars": stats.PASSAGE_CHAR_EDGES,
                "passage_tokens": stats.PASSAGE_TOKEN_EDGES,
                "instance_real_tokens": stats.instance_length_edges(max_seq_length)},
            **stats.summary(counts, max_seq_length, pack),
            "phase_cpu_seconds": {k: round(v, 3) for k, v in seconds.items()},
            "wall_seconds": round(time.perf_counter() - started, 3),
            "num_workers": num_workers,
        }
        write_manifest(tmp, manifest)
    log.info("wrote %d train and %d held-out instances to %s (padding %.1f%%, masked %.1f%%)",
             manifest["train_instances"], manifest["heldout_instances"], output_dir,
             100 * manifest["padding_fraction"], 100 * manifest["masked_token_fraction"])
    return manifest
