"""tf.data input for masked-LM pretraining: Google's TFRecord schema, checked against the flags.

Reads either a pretraining-data directory (our `pretraining_data` stage: `train-*.tfrecord`,
`heldout-*.tfrecord` and a manifest) or, as Google's scripts did, any file or glob of
`*.tfrecord` files in Google's schema; a directory without a manifest is refused, as it may be
what a killed stage left half-written. The sequence lengths come from the manifest when there is
one and are always checked against the first record, so a mismatch is one clear error instead of
a shape failure deep inside the first training step.
"""

import glob
import json
import os

import tensorflow as tf

from components.bert.vocab import vocab_sha256
from components.common.errors import UserError

MANIFEST = "manifest.json"
SPLIT_PATTERNS = {"train": "train-*.tfrecord", "heldout": "heldout-*.tfrecord"}
SEQUENCE_FEATURES = ("input_ids", "input_mask", "segment_ids")
PREDICTION_FEATURES = ("masked_lm_positions", "masked_lm_ids", "masked_lm_weights")


def _read_manifest(directory):
    path = os.path.join(directory, MANIFEST)
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        manifest = json.load(f)
    if manifest.get("kind") != "pretraining_data":
        raise UserError(f"expected a 'pretraining_data' directory, found kind "
                        f"{manifest.get('kind')!r}", where=directory,
                        fix="pass the output directory of the pretraining_data stage")
    return manifest


def list_input_files(input_path, split):
    """(files, manifest or None) for a pretraining-data dir's `split`, or any tfrecord dir/glob."""
    if not input_path:
        raise UserError("no input given", fix="pass --input_dir (a pretraining-data directory)")
    manifest = None
    if not os.path.exists(input_path) and not glob.has_magic(input_path):
        raise UserError("input directory does not exist", where=input_path,
                        fix="check the path, or run the pretraining_data stage first")
    if os.path.isdir(input_path):
        manifest = _read_manifest(input_path)
        if manifest is None:
            raise UserError(f"input directory has no {MANIFEST}, so it is incomplete or not a "
                            "pretraining-data artifact", where=input_path,
                            fix="rerun the pretraining_data stage, or pass a glob of TFRecord "
                            "files (DIR/*.tfrecord) made elsewhere")
        files = sorted(glob.glob(os.path.join(glob.escape(input_path), SPLIT_PATTERNS[split])))
    else:
        files = sorted(glob.glob(input_path))
    files = [f for f in files if os.path.isfile(f)]
    if not files:
        wanted = SPLIT_PATTERNS[split] if manifest is not None else "*.tfrecord"
        raise UserError(f"no {wanted} files found", where=input_path,
                        fix="pass a pretraining-data directory (or a glob of TFRecord files)")
    return files, manifest


def record_lengths(path):
    """(max_seq_length, max_predictions_per_seq) of the first record of a TFRecord file."""
    try:
        first = next(iter(tf.data.TFRecordDataset(path).take(1)), None)
    except tf.errors.OpError as err:
        raise UserError(f"cannot read TFRecord file: {str(err).splitlines()[0]}", where=path,
                        fix="regenerate it with the pretraining_data stage") from err
    if first is None:
        raise UserError("TFRecord file holds no records", where=path,
                        fix="regenerate the pretraining data from a non-empty corpus")
    example = tf.train.Example.FromString(first.numpy())
    features = example.features.feature
    missing = [n for n in SEQUENCE_FEATURES + PREDICTION_FEATURES if n not in features]
    if missing:
        raise UserError(f"records lack Google's features {', '.join(missing)}", where=path,
                        fix="pass TFRecords written by the pretraining_data stage")
    seq = len(features["input_ids"].int64_list.value)
    preds = len(features["masked_lm_positions"].int64_list.value)
    return seq, preds


def check_lengths(input_path, files, manifest, max_seq_length=None,
                  max_predictions_per_seq=None):
    """Check the data's lengths against the flags (None = take the data's); return them."""
    found = record_lengths(files[0])
    if manifest is not None:
        declared = (manifest.get("max_seq_length"), manifest.get("max_predictions_per_seq"))
        if None not in declared and tuple(declared) != found:
            raise UserError(f"manifest says max_seq_length={declared[0]}, "
                            f"max_predictions_per_seq={declared[1]} but the records have "
                            f"{found[0]} and {found[1]}", where=files[0],
                            fix="regenerate the pretraining data")
    for flag, wanted, have in (("max_seq_length", max_seq_length, found[0]),
                               ("max_predictions_per_seq", max_predictions_per_seq, found[1])):
        if wanted is not None and wanted != have:
            raise UserError(f"--{flag}={wanted} but the TFRecords were made with {flag}={have}",
                            where=input_path,
                            fix=f"pass --{flag}={have} or regenerate the data with {wanted}")
    return found


def parse_fn(max_seq_length, max_predictions_per_seq):
    """Parse a batch of serialized Examples into int32/float32 tensors [B, T] and [B, P]."""
    spec = {name: tf.io.FixedLenFeature([max_seq_length], tf.int64)
            for name in SEQUENCE_FEATURES}
    spec["masked_lm_positions"] = tf.io.FixedLenFeature([max_predictions_per_seq], tf.int64)
    spec["masked_lm_ids"] = tf.io.FixedLenFeature([max_predictions_per_seq], tf.int64)
    spec["masked_lm_weights"] = tf.io.FixedLenFeature([max_predictions_per_seq], tf.float32)

    def parse(serialized):
        features = tf.io.parse_example(serialized, spec)
        # int32 ids: what Google feeds (TPUs lack int64) and half the bytes per batch.
        return {name: tf.cast(t, tf.int32) if t.dtype == tf.int64 else t
                for name, t in features.items()}

    return parse


def training_dataset(files, batch_size, max_seq_length, max_predictions_per_seq, seed,
                     shuffle_buffer_size, cycle_length=8):
    """Endless, seeded, shuffled batches (drop_remainder) of parsed training examples.

    Files are reshuffled every epoch and read `cycle_length` at a time; records then pass a
    shuffle buffer (Google used 100). Everything is deterministic for a seed, so the iterator's
    state, saved in the training checkpoint, resumes at the exact record.
    """
    autotune = tf.data.AUTOTUNE
    dataset = tf.data.Dataset.from_tensor_slices(files)
    dataset = dataset.shuffle(len(files), seed=seed, reshuffle_each_iteration=True).repeat()
    dataset = dataset.interleave(tf.data.TFRecordDataset, cycle_length=min(cycle_length,
                                 len(files)), num_parallel_calls=autotune, deterministic=True)
    dataset = dataset.shuffle(shuffle_buffer_size, seed=seed + 1, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size, drop_remainder=True)
    dataset = dataset.map(parse_fn(max_seq_length, max_predictions_per_seq),
                          num_parallel_calls=autotune, deterministic=True)
    return dataset.prefetch(autotune)


def evaluation_dataset(files, batch_size, max_seq_length, max_predictions_per_seq):
    """Every held-out example once, in file order; the last batch may be smaller."""
    dataset = tf.data.TFRecordDataset(files, num_parallel_reads=1)
    dataset = dataset.batch(batch_size, drop_remainder=False)
    dataset = dataset.map(parse_fn(max_seq_length, max_predictions_per_seq),
                          num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return dataset.prefetch(tf.data.AUTOTUNE)


def check_data_matches_model(input_dir, manifest, config, vocab_file, max_seq_length):
    """Refuse records the model cannot read: longer than its positions, or made with another
    vocab (the manifest's vocab_sha256 against `vocab_file`'s, when both are known)."""
    if max_seq_length > config.max_position_embeddings:
        raise UserError(f"the records have max_seq_length {max_seq_length} but the model only "
                        f"{config.max_position_embeddings} positions (max_position_embeddings)",
                        where=input_dir, fix="use data made with a shorter max_seq_length")
    wanted = (manifest or {}).get("vocab_sha256")
    if wanted and vocab_file and wanted != vocab_sha256(vocab_file):
        raise UserError("the pretraining data was made with another vocab than the model's",
                        where=f"{input_dir} vs {vocab_file}",
                        fix="make the data with the model's vocab.txt")
