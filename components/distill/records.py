"""The distiller's pretraining data: a split opened for random access without TensorFlow
(`open_split` → `RecordIndex`, from `components.records`, whose `batch(indices)` gives arrays
named as FEATURES), and the check that it suits the teacher."""

import json
import os

from components.bert.vocab import check_vocab_matches_config, vocab_sha256
from components.common.errors import UserError
from components.records.reader import RecordIndex, open_split
from components.records.schema import FEATURES

__all__ = ["FEATURES", "RecordIndex", "check_data_matches_teacher", "open_split"]


def check_data_matches_teacher(index, teacher_dir):
    """Refuse data made with another vocab than the teacher's (the manifest's vocab_sha256
    against the teacher's vocab.txt), a teacher whose vocab.txt and config.json disagree in
    size, or data longer than the teacher's positions."""
    vocab_file = os.path.join(teacher_dir, "vocab.txt")
    if not os.path.isfile(vocab_file):
        raise UserError("the model directory has no vocab.txt", where=teacher_dir,
                        fix="pass the convert stage's output directory (it holds vocab.txt)")
    wanted = index.manifest.get("vocab_sha256")
    if wanted and wanted != vocab_sha256(vocab_file):
        raise UserError("the pretraining data was made with another vocab than the model's",
                        where=f"{index.where} (manifest vocab_sha256 {wanted[:12]}…) vs "
                        f"{vocab_file}", fix="make the data with the model's vocab.txt")
    config_file = os.path.join(teacher_dir, "config.json")
    with open(config_file, encoding="utf-8") as f:
        config = json.load(f)
    # Ids past the config's vocab_size would crash the embedding lookup mid-run.
    check_vocab_matches_config(vocab_file, config.get("vocab_size"), config_file)
    positions = config.get("max_position_embeddings")
    if positions is not None and index.seq_length > positions:
        raise UserError(f"the records have max_seq_length {index.seq_length} but the model "
                        f"only {positions} positions (max_position_embeddings)",
                        where=f"{index.where} vs {teacher_dir}",
                        fix="use data made with a shorter max_seq_length")
