"""Small pretraining-data directories for the train and evaluate tests.

The records are written with `tf.train.Example` in Google's schema from the shipped sample corpus:
characters looked up in the sample vocab, [CLS] passage [SEP] packed to max_seq_length, 15 % of
the real tokens masked Google's way (80 % [MASK], 10 % random, 10 % kept). This is a plain
(not whole-word) masking, enough for the trainer; the pretraining_data stage owns the real one.
"""

import hashlib
import json
import pathlib

import numpy as np
import tensorflow as tf

SAMPLE_DIR = pathlib.Path(__file__).resolve().parent.parent / "data" / "sample"


def load_vocab(path):
    return {token: i for i, token in enumerate(pathlib.Path(path).read_text(
        encoding="utf-8").split("\n")[:-1])}


def make_instances(corpus, vocab, max_seq_length, max_predictions_per_seq, rng):
    unk, cls, sep, mask = (vocab[t] for t in ("[UNK]", "[CLS]", "[SEP]", "[MASK]"))
    ids = [vocab.get(ch, unk) for line in corpus for ch in line.strip().lower() if ch.strip()]
    body = max_seq_length - 2
    for start in range(0, len(ids) - body, body):
        tokens = [cls] + ids[start:start + body] + [sep]
        candidates = rng.permutation(np.arange(1, len(tokens) - 1))
        count = min(max_predictions_per_seq, max(1, round(len(tokens) * 0.15)))
        positions = sorted(candidates[:count].tolist())
        inputs = list(tokens)
        for p in positions:
            roll = rng.random()
            inputs[p] = mask if roll < 0.8 else inputs[p] if roll < 0.9 else int(
                rng.integers(len(vocab)))
        pad = max_predictions_per_seq - count
        yield {
            "input_ids": inputs, "input_mask": [1] * max_seq_length,
            "segment_ids": [0] * max_seq_length,
            "masked_lm_positions": positions + [0] * pad,
            "masked_lm_ids": [tokens[p] for p in positions] + [0] * pad,
            "masked_lm_weights": [1.0] * count + [0.0] * pad,
            "next_sentence_labels": [0],
        }


def serialize(instance):
    feature = {}
    for name, values in instance.items():
        if name == "masked_lm_weights":
            feature[name] = tf.train.Feature(float_list=tf.train.FloatList(value=values))
        else:
            feature[name] = tf.train.Feature(int64_list=tf.train.Int64List(value=values))
    example = tf.train.Example(features=tf.train.Features(feature=feature))
    return example.SerializeToString(deterministic=True)


def write_pretraining_data(directory, vocab_file=SAMPLE_DIR / "vocab.txt", max_seq_length=32,
                           max_predictions_per_seq=5, heldout_every=10, train_shards=2,
                           seed=7, manifest=True):
    """A pretraining-data directory from the sample corpus; returns its instance counts."""
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    corpus = (SAMPLE_DIR / "corpus.txt").read_text(encoding="utf-8").splitlines()
    rng = np.random.default_rng(seed)
    instances = list(make_instances(corpus, load_vocab(vocab_file), max_seq_length,
                                    max_predictions_per_seq, rng))
    heldout = instances[::heldout_every]
    train = [x for i, x in enumerate(instances) if i % heldout_every]
    shards = {f"train-{k:05d}-of-{train_shards:05d}.tfrecord": train[k::train_shards]
              for k in range(train_shards)}
    shards["heldout-00000-of-00001.tfrecord"] = heldout
    for name, records in shards.items():
        with tf.io.TFRecordWriter(str(directory / name)) as writer:
            for instance in records:
                writer.write(serialize(instance))
    if manifest:
        (directory / "manifest.json").write_text(json.dumps({
            "kind": "pretraining_data", "max_seq_length": max_seq_length,
            "max_predictions_per_seq": max_predictions_per_seq,
            "vocab_sha256": hashlib.sha256(pathlib.Path(vocab_file).read_bytes()).hexdigest(),
            "train_instances": len(train), "heldout_instances": len(heldout)}))
    return {"train": len(train), "heldout": len(heldout)}


# Runs the trainer's CLI in a fresh interpreter with deterministic ops (and, optionally, the CPU
# split into logical devices, which must happen before TensorFlow initialises).
TRAINER_SCRIPT = """
import sys
import tensorflow as tf
tf.config.experimental.enable_op_determinism()
logical_cpus = int(sys.argv[1])
if logical_cpus > 1:
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * logical_cpus)
from components.train.__main__ import main
main(sys.argv[2:])
"""


def trainer_command(args, logical_cpus=1):
    import sys

    return [sys.executable, "-c", TRAINER_SCRIPT, str(logical_cpus), *map(str, args)]


def read_train_log(output_dir):
    """The complete records of train_log.jsonl (a killed run may leave half a line)."""
    path = pathlib.Path(output_dir) / "train_log.jsonl"
    records = []
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                records.append(json.loads(line))
            except ValueError:
                continue
    return records
