"""The distilled student as the stage's output: a transformers `save_pretrained` directory.

`config.json` (BertForMaskedLM), `model.safetensors` and the teacher's tokenizer files, each put
in place by a rename (saved into a temporary sub-directory first), beside the log; with
`--pytorch_dump_path` also the legacy `pytorch_model.bin`; `manifest.json` last.
"""

import contextlib
import glob
import os
import shutil
import uuid

import torch

from components.bert.vocab import vocab_sha256
from components.common import lineage
from components.common.artifacts import sha256_file, write_manifest

MANIFEST_KIND = "distilled_model"
TOKENIZER_FILES = ("vocab.txt", "tokenizer.json", "tokenizer_config.json",
                   "special_tokens_map.json", "added_tokens.json")
METRICS_FILE = "metrics.json"
_TMP_PREFIX = ".student.tmp-"


def write_student(output_dir, student, teacher_dir):
    """The student's model and the teacher's tokenizer files into `output_dir`."""
    for leftover in glob.glob(os.path.join(glob.escape(output_dir), _TMP_PREFIX + "*")):
        shutil.rmtree(leftover, ignore_errors=True)  # a killed earlier run's half-written save
    tmp = os.path.join(output_dir, _TMP_PREFIX + uuid.uuid4().hex[:8])
    try:
        student.save_pretrained(tmp)
        for name in TOKENIZER_FILES:
            if os.path.isfile(os.path.join(teacher_dir, name)):
                shutil.copyfile(os.path.join(teacher_dir, name), os.path.join(tmp, name))
        for name in os.listdir(tmp):
            os.replace(os.path.join(tmp, name), os.path.join(output_dir, name))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_legacy_dump(path, student):
    """The student's state dict as the users' old `pytorch_model.bin` (temporary file, rename)."""
    path = os.path.abspath(path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        torch.save(student.state_dict(), tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise
    return {"pytorch_dump_path": path, "pytorch_dump_sha256": sha256_file(path)}


def write_student_manifest(output_dir, teacher_dir, student_config, layer_map, summary):
    write_manifest(output_dir, {
        "kind": MANIFEST_KIND, "architecture": "BertForMaskedLM",
        "teacher_dir": os.path.abspath(teacher_dir),
        "teacher_sha256": lineage.weights_sha256(teacher_dir),
        "vocab_sha256": vocab_sha256(os.path.join(teacher_dir, "vocab.txt")),
        "student_config": student_config.to_diff_dict(), "teacher_layers": layer_map,
        **summary})
