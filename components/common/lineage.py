"""What an artifact was made from: the fingerprint of the model and of the data behind it.

A step that combines artifacts (the report) must not pair one model's training curve with another
model's evaluation, which is what rerunning `train` alone and then `report` used to give. Each
task that reads a model or the pretraining data records their fingerprints in its outputs'
metadata (and in the Metrics file, so `rerun --from NAME=URI` gets them back); the report
recomputes the fingerprints of the directories it reads and refuses, in one line, an input made
from another model or other data.

A fingerprint is of the content, not the path: the same weights copied elsewhere (HDFS export and
import) keep it, and two different trainings into the same directory do not share one.
"""

import glob
import hashlib
import json
import os

from components.common.artifacts import sha256_file
from components.common.errors import UserError

MODEL = "model_fingerprint"
DATA = "data_fingerprint"
CHECKPOINT_NAME = "bert_model.ckpt"
DATA_MANIFEST = "manifest.json"


def _digest(paths):
    sha = hashlib.sha256()
    for path in paths:
        sha.update(os.path.basename(path).encode() + b"\0")
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                sha.update(chunk)
    return sha.hexdigest()[:16]


def model_fingerprint(model):
    """Fingerprint of a Google-format model: a directory holding `bert_model.ckpt.*`, or a
    checkpoint prefix (`.../bert_model.ckpt`, `.../model.ckpt-1000`)."""
    prefix = os.path.join(model, CHECKPOINT_NAME) if os.path.isdir(model) else model
    files = sorted(glob.glob(glob.escape(prefix) + ".index")
                   + glob.glob(glob.escape(prefix) + ".data-*"))
    if not files:
        raise UserError("no checkpoint files (.index, .data-*) to fingerprint", where=model,
                        fix="pass a Google-format model directory or checkpoint prefix")
    return _digest(files)


def data_fingerprint(data_dir):
    """Fingerprint of a pretraining-data directory: its manifest, which holds every shard's
    sha256 and the parameters that made them."""
    return _digest([os.path.join(data_dir, DATA_MANIFEST)])


def check_made_from(kind, expected, inputs, fix):
    """Refuse the first of `inputs` ({input name: fingerprint or None}) made from another
    `kind` ("model", "data") than `expected` (an input without a fingerprint, made before they
    were recorded, is not checked)."""
    for name, fingerprint in inputs.items():
        if fingerprint is not None and fingerprint != expected:
            raise UserError(f"{name} was made from another {kind} ({fingerprint}) than the "
                            f"one the other inputs belong to ({expected})", where=name, fix=fix)


# A transformers directory's weights, in the order save_pretrained prefers them.
WEIGHTS_FILES = ("model.safetensors", "pytorch_model.bin")


def weights_sha256(model_dir):
    """sha256 of a transformers directory's weights file (safetensors, else
    pytorch_model.bin); None when it has neither."""
    for name in WEIGHTS_FILES:
        if os.path.isfile(os.path.join(model_dir, name)):
            return sha256_file(os.path.join(model_dir, name))
    return None


def recorded_fingerprint(model_dir):
    """The fingerprint of the model it was made from that a directory's manifest records (a
    converted model's: its Google checkpoint's), or None (no manifest, or made before they
    were recorded)."""
    manifest = os.path.join(model_dir, DATA_MANIFEST)
    if not os.path.isfile(manifest):
        return None
    with open(manifest, encoding="utf-8") as f:
        return json.load(f).get(MODEL) or None


def model_record(model_dir):
    """What an artifact made from the transformers model in `model_dir` records of it: its
    path, its weights' sha256 and the lineage fingerprint its manifest carries."""
    record = {"model_dir": os.path.abspath(model_dir),
              "weights_sha256": weights_sha256(model_dir)}
    fingerprint = recorded_fingerprint(model_dir)
    if fingerprint:
        record[MODEL] = fingerprint
    return record
