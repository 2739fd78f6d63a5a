"""A real teacher and real pretraining data for the distiller's tests.

`teacher_and_data(tmp_path_factory)` builds, once per test run, a tiny Google-format BERT
(4 layers, hidden 64, 4 heads, the sample vocab of 1797 tokens) with non-trivial random weights,
converts it with the convert stage to a transformers `BertForMaskedLM` directory, and makes
pretraining data of the sample corpus with the pretraining_data stage (max_seq_length 64, 10 %
held out). Tests take it as the `distill_inputs` fixture (tests/conftest.py), a
`DistillInputs(teacher_dir, data_dir)`.
"""

import json
import pathlib
import shutil
from typing import NamedTuple

from tests.helpers_session import built_once

SAMPLE_DIR = pathlib.Path(__file__).resolve().parent.parent / "data" / "sample"

TEACHER_CONFIG = {"hidden_size": 64, "num_hidden_layers": 4, "num_attention_heads": 4,
                  "intermediate_size": 128, "max_position_embeddings": 128}
MAX_SEQ_LENGTH = 64
MAX_PREDICTIONS = 10

_built = {}


class DistillInputs(NamedTuple):
    teacher_dir: str  # transformers BertForMaskedLM directory (the convert stage's output)
    data_dir: str     # pretraining-data directory (train-*.tfrecord, heldout-*.tfrecord)


def google_teacher(directory, seed=3):
    """A tiny Google-format BERT with random non-trivial weights, nudged to predict the token
    at the position (small residual branches, a near-identity head transform): its predictions
    vary with the input and it gets a few percent of the masked tokens right, so accuracy
    shares and agreement mean something."""
    import numpy as np

    from components.bert.checkpoint import write_model_dir
    from components.bert.config import BertConfig
    from components.bert.model import BertForPreTraining
    from tests.helpers_bert import randomize_weights

    config = json.loads((SAMPLE_DIR / "bert_config.json").read_text())
    config.update(TEACHER_CONFIG)
    model = BertForPreTraining(BertConfig.from_dict(config))
    randomize_weights(model, seed=seed)
    for name, variable in model.variables_by_name.items():
        if name.endswith("output/dense/kernel"):
            variable.assign(variable * 0.1)
    model.variables_by_name["cls/predictions/transform/dense/kernel"].assign(
        3 * np.eye(config["hidden_size"], dtype=np.float32))
    write_model_dir(model, str(directory), str(SAMPLE_DIR / "vocab.txt"))
    return directory


def transformers_teacher(google_dir, output_dir):
    from components.convert.arguments import ConvertArguments
    from components.convert.core import convert

    convert(ConvertArguments(tf_checkpoint_path=str(google_dir), output_dir=str(output_dir),
                             parity_seq_length=MAX_SEQ_LENGTH))
    return output_dir


def sample_pretraining_data(output_dir, vocab_file=SAMPLE_DIR / "vocab.txt"):
    from components.pretraining_data.arguments import PretrainingDataArguments
    from components.pretraining_data.create import create_pretraining_data

    create_pretraining_data(PretrainingDataArguments(
        input_file=[str(SAMPLE_DIR / "corpus.txt")], vocab_file=str(vocab_file),
        output_dir=str(output_dir), dupe_factor=1, heldout_fraction=0.1, num_workers=1,
        max_seq_length=MAX_SEQ_LENGTH, max_predictions_per_seq=MAX_PREDICTIONS))
    return output_dir


def _build_teacher_and_data(root):
    google = google_teacher(root / "google_teacher")
    transformers_teacher(google, root / "teacher")
    sample_pretraining_data(root / "data")


def teacher_and_data(tmp_path_factory):
    """(teacher_dir, data_dir) as strings, built once per test run (for all the xdist workers);
    treat them as read-only (copy with `copy_dir` to change one)."""
    if "inputs" not in _built:
        root = built_once(tmp_path_factory, "distill_inputs", _build_teacher_and_data)
        _built["inputs"] = DistillInputs(str(root / "teacher"), str(root / "data"))
    return _built["inputs"]


def copy_dir(source, target):
    """A writable copy of a fixture directory (to corrupt or edit it)."""
    shutil.copytree(source, target)
    return str(target)


def skipped_student(directory):
    """What the distill stage leaves when a run skips it (`distill_num_train_steps` 0): a
    directory with only a manifest saying so."""
    directory.mkdir()
    (directory / "manifest.json").write_text(json.dumps(
        {"kind": "distilled_model", "skipped": True, "reason": "distill_num_train_steps is 0"}))
    return directory
