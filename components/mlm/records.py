"""tf.data input for masked-LM pretraining: Google's TFRecord schema, checked against the flags.

Reads either a pretraining-data directory (our `pretraining_data` stage: `train-*.tfrecord`,
`heldout-*.tfrecord` and a manifest) or, as Google's scripts did, any file or glob of
`*.tfrecord` files in Google's schema; a directory without a manifest is refused, as it may be
what a killed stage left half-written. The sequence lengths come from the manifest when there is
one and are always checked against the first record, so a mismatch is one clear error instead of
a shape failure deep inside the first training step. The layout, the manifest check and the
schema are `components.records`' (as every reader's); only the batches are tf.data's.
"""

import glob
import os

import tensorflow as tf

from components.bert.vocab import vocab_sha256
from components.common.errors import UserError
from components.records import layout, reader
from components.records.schema import feature_widths, is_float


def list_input_files(input_path, split):
    """(files, manifest or None) for a pretraining-data dir's `split`, or any tfrecord dir/glob."""
    if not input_path:
        raise UserError("no input given", fix="pass --input_dir (a pretraining-data directory)")
    if not os.path.exists(input_path) and not glob.has_magic(input_path):
        raise UserError("input directory does not exist", where=input_path,
                        fix="check the path, or run the pretraining_data stage first")
    if os.path.isdir(input_path):
        manifest = layout.read_data_manifest(
            input_path, fix=f"{layout.RERUN}, or pass a glob of TFRecord files "
            f"(DIR/{layout.ANY_PATTERN}) made elsewhere")
        return layout.split_files(input_path, split, required=True), manifest
    files = sorted(f for f in glob.glob(input_path) if os.path.isfile(f))
    if not files:
        raise UserError(f"no {layout.ANY_PATTERN} files found", where=input_path,
                        fix="pass a pretraining-data directory (or a glob of TFRecord files)")
    return files, None


def record_lengths(path):
    """(max_seq_length, max_predictions_per_seq) of the first record of a TFRecord file."""
    first = next(reader.iter_batches([path], 1), None)
    if first is None:
        raise UserError("TFRecord file holds no records", where=path,
                        fix="regenerate the pretraining data from a non-empty corpus")
    return first["input_ids"].shape[1], first["masked_lm_positions"].shape[1]


def check_lengths(input_path, files, manifest, max_seq_length=None,
                  max_predictions_per_seq=None):
    """Check the data's lengths against the flags (None = take the data's); return them."""
    found = record_lengths(files[0])
    layout.check_declared_lengths(manifest, found, files[0])
    for flag, wanted, have in (("max_seq_length", max_seq_length, found[0]),
                               ("max_predictions_per_seq", max_predictions_per_seq, found[1])):
        if wanted is not None and wanted != have:
            raise UserError(f"--{flag}={wanted} but the TFRecords were made with {flag}={have}",
                            where=input_path,
                            fix=f"pass --{flag}={have} or regenerate the data with {wanted}")
    return found


def parse_fn(max_seq_length, max_predictions_per_seq):
    """Parse a batch of serialized Examples into int32/float32 tensors [B, T] and [B, P]."""
    spec = {name: tf.io.FixedLenFeature([width], tf.float32 if is_float(name) else tf.int64)
            for name, width in feature_widths(max_seq_length, max_predictions_per_seq).items()}

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
