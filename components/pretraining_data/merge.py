"""Join the partial outputs of a fan-out (`--shard_index i --num_shards N`) into one dataset.

CLI: python -m components.pretraining_data.merge --input_dir PART0 PART1 … --output_dir DIR

Files are hard-linked where possible (copied otherwise) under one `-NNNNN-of-NNNNN` numbering,
in part order, so the merged train files are exactly those a single run would have written.
"""

import os
import shutil

from components.common.artifacts import atomic_output_dir, write_manifest
from components.common.errors import UserError, exit_on_user_error
from components.common.logs import setup_logging
from components.pretraining_data import stats
from components.pretraining_data.arguments import MergeArguments
from components.records import layout

MUST_AGREE = ("vocab_sha256", "vocab_size", "max_seq_length", "max_predictions_per_seq",
              "masked_lm_prob", "short_seq_prob", "dupe_factor", "random_seed",
              "do_whole_word_mask", "do_lower_case", "heldout_fraction", "segmenter", "pack",
              "user_dict", "histogram_edges")


def _link_or_copy(source, target):
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def merge_pretraining_data(input_dirs, output_dir):
    """Merge partial pretraining-data directories; returns the merged manifest."""
    if not input_dirs:
        raise UserError("no partial outputs to merge", where="--input_dir",
                        fix="pass the output directories of the fan-out steps")
    parts = [(d, layout.read_data_manifest(d)) for d in input_dirs]
    parts.sort(key=lambda part: part[1]["part"]["shard_index"])
    first_dir, first = parts[0]
    for directory, manifest in parts[1:]:
        for key in MUST_AGREE:
            if manifest.get(key) != first.get(key):
                raise UserError(f"partial outputs disagree on {key}",
                                where=f"{first_dir} vs {directory}",
                                fix="merge only parts of one run (same parameters and vocab)")
    indexes = [m["part"]["shard_index"] for _, m in parts]
    expected = list(range(first["part"]["num_shards"]))
    if indexes != expected or any(m["part"]["num_shards"] != len(expected) for _, m in parts):
        raise UserError(f"expected parts {expected} of one fan-out, got {indexes}",
                        where=", ".join(input_dirs), fix="pass every part exactly once")
    counts, seconds = {}, {}
    for _, manifest in parts:
        stats.add_counts(counts, manifest["counts"])
        stats.add_counts(seconds, manifest["phase_cpu_seconds"])
    if counts.get("passages", 0) == 0:
        raise UserError("the corpus has no passages", where=", ".join(input_dirs),
                        fix="pass a corpus with at least one non-empty line")
    with atomic_output_dir(output_dir) as tmp:
        names = {}
        for split in layout.SPLITS:
            sources = [os.path.join(d, name) for d, m in parts for name in m[f"{split}_files"]]
            names[split] = [layout.shard_file_name(split, i, len(sources))
                            for i in range(len(sources))]
            for source, name in zip(sources, names[split], strict=True):
                _link_or_copy(source, os.path.join(tmp, name))
        manifest = {key: value for key, value in first.items() if key in MUST_AGREE}
        manifest.update({
            "kind": layout.KIND,
            "train_files": names["train"],
            "heldout_files": names["heldout"],
            "input_files": [f for _, m in parts for f in m["input_files"]],
            "part": {"shard_index": 0, "num_shards": 1,
                     "merged_parts": len(parts), "input_shards": first["part"]["input_shards"]},
            "next_sentence_labels": 0,
            "counts": counts,
            **stats.summary(counts, first["max_seq_length"], first["pack"]),
            "phase_cpu_seconds": {k: round(v, 3) for k, v in seconds.items()},
        })
        write_manifest(tmp, manifest)
    return manifest


def build_parser():
    return MergeArguments.parser("python -m components.pretraining_data.merge", __doc__)


@exit_on_user_error
def main(argv=None):
    setup_logging()
    args = MergeArguments.from_namespace(build_parser().parse_args(argv))
    merge_pretraining_data(args.input_dir, args.output_dir)


if __name__ == "__main__":
    main()
