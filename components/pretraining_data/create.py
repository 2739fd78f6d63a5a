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
from components.common.bad_rows import BadRows
from components.common.disk import check_free_space, write_errors_as_user_errors
from components.common.errors import UserError
from components.common.logs import progress
from components.pretraining_data import corpus, stats, worker
from components.records import layout

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
    names = [layout.shard_file_name(prefix, i, len(paths)) for i in range(len(paths))]
    for path, name in zip(paths, names, strict=True):
        os.replace(path, os.path.join(directory, name))
    return names


def create_pretraining_data(args):
    """Make Google-schema MLM TFRecords from a corpus (`PretrainingDataArguments`); returns the
    manifest.

    `shard_index`/`num_shards` process only that contiguous part of the input's shards, for a
    fan-out whose partial outputs `merge.merge_pretraining_data` joins.
    """
    started = time.perf_counter()
    num_workers = args.num_workers or default_num_workers()
    output_dir = _output_dir(args.output_dir, args.output_file)
    vocab = load_vocab(args.vocab_file)
    files = corpus.resolve_input_files(args.input_file)
    all_shards = corpus.plan_shards(files, max(1, int(args.shard_size_mb * (1 << 20))))
    if not all_shards:
        raise UserError("the corpus is empty", where=f"--input_file {', '.join(files)}",
                        fix="pass a corpus with at least one passage per line")
    shards = corpus.select_part(all_shards, args.shard_index, args.num_shards)
    # A lower bound: each input byte becomes at least one byte of record per dupe pass.
    check_free_space(output_dir, args.dupe_factor * sum(s.end - s.start for s in shards),
                     "the pretraining data")
    if num_workers > 1:
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    with write_errors_as_user_errors(output_dir), atomic_output_dir(output_dir) as tmp:
        # What each worker reads: the same arguments, writing into the temporary directory.
        settings = args.replace(vocab_file=os.path.abspath(args.vocab_file), output_dir=tmp,
                                output_file=None)
        log.info("%d input files, %d shards (this part: %d), %d workers, segmenter %s%s",
                 len(files), len(all_shards), len(shards), num_workers, args.segmenter,
                 ", packed rows" if args.pack else "")
        worker.init_process(settings)
        counts, seconds, train_paths = {}, {}, []
        bad = BadRows(args.max_bad_fraction, unit="passages")
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
        if args.num_shards == 1 and counts.get("passages", 0) == 0:
            raise UserError("the corpus has no passages", where=f"--input_file {', '.join(files)}",
                            fix="pass a corpus with at least one non-empty line")
        if args.num_shards == 1 and counts.get("text_tokens", 0) == 0:
            raise UserError("no passage of the corpus has a single token (only invisible or "
                            "control characters?)", where=f"--input_file {', '.join(files)}",
                            fix="check the corpus text and its encoding")
        manifest = {
            "kind": layout.KIND,
            "train_files": name_shards(tmp, train_paths, "train"),
            "heldout_files": name_shards(tmp, heldout.paths, "heldout"),
            "input_files": files,
            "vocab_sha256": vocab.sha256,
            "vocab_size": vocab.size,
            "part": {"shard_index": args.shard_index, "num_shards": args.num_shards,
                     "input_shards": len(all_shards), "shards_in_part": len(shards)},
            **{k: getattr(args, k) for k in (
                "max_seq_length", "max_predictions_per_seq", "masked_lm_prob", "short_seq_prob",
                "dupe_factor", "random_seed", "do_whole_word_mask", "do_lower_case",
                "heldout_fraction", "segmenter", "pack")},
            "user_dict": os.path.basename(args.user_dict) if args.user_dict else None,
            "next_sentence_labels": 0,
            "counts": counts,
            "histogram_edges": {
                "passage_chars": stats.PASSAGE_CHAR_EDGES,
                "passage_tokens": stats.PASSAGE_TOKEN_EDGES,
                "instance_real_tokens": stats.instance_length_edges(args.max_seq_length)},
            **stats.summary(counts, args.max_seq_length, args.pack),
            "phase_cpu_seconds": {k: round(v, 3) for k, v in seconds.items()},
            "wall_seconds": round(time.perf_counter() - started, 3),
            "num_workers": num_workers,
        }
        write_manifest(tmp, manifest)
    log.info("wrote %d train and %d held-out instances to %s (padding %.1f%%, masked %.1f%%)",
             manifest["train_instances"], manifest["heldout_instances"], output_dir,
             100 * manifest["padding_fraction"], 100 * manifest["masked_token_fraction"])
    return manifest
