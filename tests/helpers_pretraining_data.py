"""Reading pretraining-data output back with TensorFlow, in Google's run_pretraining schema."""

import glob
import os

import numpy as np


def google_schema(max_seq_length=128, max_predictions_per_seq=20):
    """The feature spec of Google's run_pretraining.input_fn_builder."""
    import tensorflow as tf

    return {
        "input_ids": tf.io.FixedLenFeature([max_seq_length], tf.int64),
        "input_mask": tf.io.FixedLenFeature([max_seq_length], tf.int64),
        "segment_ids": tf.io.FixedLenFeature([max_seq_length], tf.int64),
        "masked_lm_positions": tf.io.FixedLenFeature([max_predictions_per_seq], tf.int64),
        "masked_lm_ids": tf.io.FixedLenFeature([max_predictions_per_seq], tf.int64),
        "masked_lm_weights": tf.io.FixedLenFeature([max_predictions_per_seq], tf.float32),
        "next_sentence_labels": tf.io.FixedLenFeature([1], tf.int64),
    }


def parse_dir(directory, split="train", max_seq_length=128, max_predictions_per_seq=20):
    """All records of a split, parsed with tf.io.parse_single_example, as NumPy arrays."""
    import tensorflow as tf

    files = sorted(glob.glob(os.path.join(directory, f"{split}-*.tfrecord")))
    schema = google_schema(max_seq_length, max_predictions_per_seq)
    dataset = tf.data.TFRecordDataset(files).map(
        lambda record: tf.io.parse_single_example(record, schema)).batch(4096)
    batches = [{k: v.numpy() for k, v in batch.items()} for batch in dataset]
    return {k: np.concatenate([b[k] for b in batches]) for k in schema}


def original_ids(parsed):
    """Input ids with the labels put back at the masked positions (the unmasked rows)."""
    ids = parsed["input_ids"].copy()
    rows, slots = np.nonzero(parsed["masked_lm_weights"] > 0)
    ids[rows, parsed["masked_lm_positions"][rows, slots]] = parsed["masked_lm_ids"][rows, slots]
    return ids


def directory_bytes(directory):
    """{file name: bytes} of the TFRecord files of an output directory."""
    return {name: open(os.path.join(directory, name), "rb").read()
            for name in sorted(os.listdir(directory)) if name.endswith(".tfrecord")}
