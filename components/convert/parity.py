"""Inputs for the TF ↔ PyTorch parity check: real pretraining instances or seeded random ids."""

import glob
import os

import numpy as np

from components.bert.config import BertConfig
from components.common.errors import UserError
from components.records import layout, reader
from components.records.schema import SEQUENCE_FEATURES


def _record_files(parity_data):
    """TFRecord files of a pretraining-data directory (held-out split first) or given paths.

    A directory must carry its manifest, as the trainer demands: without one it may be what a
    killed stage left half-written.
    """
    paths = [parity_data] if isinstance(parity_data, str | os.PathLike) else list(parity_data)
    files = []
    for path in map(str, paths):
        if os.path.isdir(path):
            layout.read_data_manifest(path)
            files += layout.split_files(path, "heldout") + layout.split_files(path, "train")
            files += sorted(glob.glob(os.path.join(glob.escape(path), layout.ANY_PATTERN)))
        else:
            files += sorted(glob.glob(path))
    files = list(dict.fromkeys(files))
    if not files:
        raise UserError("no TFRecord files found for the parity check", where=str(parity_data),
                        fix="pass a pretraining-data directory, or leave --parity_data out")
    return files


def instances_from_records(parity_data, config: BertConfig, num_examples):
    """The first `num_examples` instances: dict of int64 arrays [B, T] for SEQUENCE_FEATURES."""
    files = _record_files(parity_data)
    batch = next(reader.iter_batches(files, num_examples, SEQUENCE_FEATURES), None)
    if batch is None or batch["input_ids"].shape[1] == 0:
        raise UserError("TFRecords are not BERT pretraining instances (input_ids, input_mask, "
                        "segment_ids of one length)", where=files[0],
                        fix="pass the output directory of the pretraining_data stage")
    seq_length = batch["input_ids"].shape[1]
    if seq_length > config.max_position_embeddings:
        raise UserError(f"instances have {seq_length} tokens but the model takes at most "
                        f"max_position_embeddings {config.max_position_embeddings}",
                        where=files[0], fix="pass pretraining data made for this model")
    if batch["input_ids"].max() >= config.vocab_size:
        raise UserError(f"instances hold token id {batch['input_ids'].max()} but vocab_size is "
                        f"{config.vocab_size}", where=files[0],
                        fix="pass pretraining data made with this model's vocab.txt")
    if batch["segment_ids"].max() >= config.type_vocab_size:
        raise UserError(f"instances hold segment id {batch['segment_ids'].max()} but "
                        f"type_vocab_size is {config.type_vocab_size}", where=files[0],
                        fix="pass pretraining data made for this model")
    return batch, f"{len(batch['input_ids'])} instances from {', '.join(files[:3])}"


def random_instances(config: BertConfig, num_examples, seq_length, seed=0):
    """Seeded [CLS] a [SEP] b [SEP] + padding instances over the whole vocab, two segments."""
    rng = np.random.default_rng(seed)
    seq_length = min(seq_length, config.max_position_embeddings)
    input_ids = rng.integers(0, config.vocab_size, size=(num_examples, seq_length))
    lengths = rng.integers(max(2, seq_length // 2), seq_length + 1, size=num_examples)
    positions = np.arange(seq_length)[np.newaxis, :]
    input_mask = (positions < lengths[:, np.newaxis]).astype(np.int64)
    segment_ids = ((positions >= lengths[:, np.newaxis] // 2) & (input_mask == 1))
    segment_ids = segment_ids.astype(np.int64) if config.type_vocab_size > 1 else segment_ids * 0
    batch = {"input_ids": input_ids * input_mask, "input_mask": input_mask,
             "segment_ids": segment_ids.astype(np.int64)}
    return batch, f"{num_examples} random instances of {seq_length} tokens (seed {seed})"
