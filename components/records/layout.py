"""The pretraining-data directory: which files hold which split, and the manifest that says it is
complete and how it was made.

    DIR/train-00000-of-00004.tfrecord …   the training records
    DIR/heldout-00000-of-00001.tfrecord … the held-out records (none when heldout_fraction is 0)
    DIR/manifest.json                     kind "pretraining_data", written last

A directory without its manifest may be what a killed stage left half-written, so every reader
refuses it (`read_data_manifest`).
"""

import glob
import os

from components.common.artifacts import MANIFEST, read_manifest
from components.common.errors import UserError

KIND = "pretraining_data"
SPLITS = ("train", "heldout")
SPLIT_PATTERNS = {split: f"{split}-*.tfrecord" for split in SPLITS}
ANY_PATTERN = "*.tfrecord"  # TFRecord files in Google's schema made elsewhere
RERUN = "rerun the pretraining_data stage"


def shard_file_name(split, index, count):
    """The name of file `index` of the `count` files of `split`."""
    return f"{split}-{index:05d}-of-{count:05d}.tfrecord"


def read_data_manifest(directory, fix=RERUN):
    """The manifest of a pretraining-data directory; refuses a missing directory, one without a
    manifest (`fix` says what to do) and another kind of artifact."""
    if os.path.isdir(directory) and not os.path.isfile(os.path.join(directory, MANIFEST)):
        raise UserError(f"input directory has no {MANIFEST}, so it is incomplete or not a "
                        "pretraining-data artifact", where=directory, fix=fix)
    return read_manifest(directory, kind=KIND)


def split_files(directory, split, required=False):
    """The sorted files of `split` ("train" or "heldout") in a pretraining-data directory; with
    `required`, none is an error."""
    if split not in SPLIT_PATTERNS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, not {split!r}")
    files = sorted(f for f in glob.glob(os.path.join(glob.escape(directory),
                                                     SPLIT_PATTERNS[split])) if os.path.isfile(f))
    if required and not files:
        raise UserError(f"no {SPLIT_PATTERNS[split]} files found", where=directory,
                        fix="pass a pretraining-data directory"
                        + (" made with --heldout_fraction > 0" if split == "heldout" else ""))
    return files


def check_declared_lengths(manifest, lengths, where):
    """Refuse records whose (max_seq_length, max_predictions_per_seq) `lengths` are not those
    the manifest declares (when it declares them)."""
    declared = ((manifest or {}).get("max_seq_length"),
                (manifest or {}).get("max_predictions_per_seq"))
    if None not in declared and declared != tuple(lengths):
        raise UserError(f"manifest says max_seq_length={declared[0]}, "
                        f"max_predictions_per_seq={declared[1]} but the records have "
                        f"{lengths[0]} and {lengths[1]}", where=where,
                        fix="regenerate the pretraining data")
