"""Google-format BERT checkpoints: find them, load them by name, write them.

The exchange format is Google's: a name-based TF checkpoint (`bert_model.ckpt.index` +
`.data-00000-of-00001`) whose variable names are those of google-research/bert. What it can load,
we load; what we write, it can load. A model directory holds `bert_config.json`, `vocab.txt` and
the checkpoint; ours also carry `manifest.json` (kind "bert_model"), Google's do not.
"""

import glob
import logging
import os
import shutil
import uuid

import numpy as np
import tensorflow as tf

from components.bert.config import BertConfig
from components.bert.model import FROZEN_PREFIX, BertForPreTraining, google_variable_shapes
from components.bert.vocab import check_vocab_matches_config
from components.common.artifacts import atomic_output_dir, sha256_file, write_manifest
from components.common.disk import write_errors_as_user_errors
from components.common.errors import UserError

log = logging.getLogger(__name__)

CHECKPOINT_NAME = "bert_model.ckpt"
CONFIG_NAME = "bert_config.json"
VOCAB_NAME = "vocab.txt"
MANIFEST_KIND = "bert_model"
# Optimizer slots and bookkeeping that Google's (and others') training checkpoints carry.
IGNORED_SUFFIXES = ("/adam_m", "/adam_v", "/Adam", "/Adam_1", "/Momentum",
                    "/ExponentialMovingAverage")
_SHOWN = 5  # names listed per kind of mismatch in an error line

__all__ = ["google_variable_shapes", "resolve_checkpoint", "resolve_model_files",
           "check_vocab_matches_config", "load_google_checkpoint", "save_google_checkpoint",
           "write_model_dir", "load_model"]


def resolve_checkpoint(path):
    """A checkpoint prefix (`.../bert_model.ckpt`) or a directory holding one → the prefix."""
    if not path:
        raise UserError("no checkpoint given", fix="pass a checkpoint prefix such as "
                        "model/bert_model.ckpt, or the model directory")
    path = os.path.normpath(os.path.expanduser(str(path)))
    for suffix in (".index", ".data-00000-of-00001", ".meta"):
        if path.endswith(suffix) and os.path.isfile(path):
            path = path[: -len(suffix)]
    if os.path.isfile(path + ".index"):
        prefix = path
    elif os.path.isdir(path):
        prefix = _prefix_in_directory(path)
    else:
        raise UserError("no TensorFlow checkpoint found", where=path,
                        fix="pass a prefix whose .index file exists (e.g. .../bert_model.ckpt) "
                        "or a directory holding bert_model.ckpt.index")
    if not glob.glob(glob.escape(prefix) + ".data-*"):
        raise UserError("checkpoint has an .index file but no .data-* file", where=prefix,
                        fix="copy the checkpoint's .data-00000-of-00001 file next to its .index")
    return prefix


def _prefix_in_directory(directory):
    default = os.path.join(directory, CHECKPOINT_NAME)
    if os.path.isfile(default + ".index"):
        return default
    latest = tf.train.latest_checkpoint(directory)
    if latest and os.path.isfile(latest + ".index"):
        return latest
    indexes = sorted(glob.glob(os.path.join(glob.escape(directory), "*.index")))
    if len(indexes) == 1:
        return indexes[0][: -len(".index")]
    if not indexes:
        raise UserError(f"directory holds no checkpoint ({CHECKPOINT_NAME}.index)",
                        where=directory, fix="pass the model directory or a checkpoint prefix")
    names = ", ".join(os.path.basename(p)[: -len(".index")] for p in indexes[:_SHOWN])
    raise UserError(f"directory holds several checkpoints ({names})", where=directory,
                    fix="pass the checkpoint prefix you mean")


def resolve_model_files(checkpoint, bert_config_file=None, vocab_file=None, need_vocab=True):
    """(prefix, config path, vocab path or None) for a checkpoint and optional explicit files.

    Files not given are looked for beside the checkpoint, as in Google's released directories.
    """
    prefix = resolve_checkpoint(checkpoint)
    model_dir = os.path.dirname(prefix)

    def beside(given, name, flag):
        if given:
            if not os.path.isfile(given):
                raise UserError(f"{name} not found", where=given, fix=f"check {flag}")
            return given
        candidate = os.path.join(model_dir, name)
        if os.path.isfile(candidate):
            return candidate
        raise UserError(f"no {name} beside the checkpoint", where=model_dir,
                        fix=f"pass {flag}")

    config_file = beside(bert_config_file, CONFIG_NAME, "--bert_config_file")
    vocab = beside(vocab_file, VOCAB_NAME, "--vocab_file") if need_vocab or vocab_file else None
    return prefix, config_file, vocab


def _ignored(name):
    return not name.startswith(("bert/", "cls/")) or name.endswith(IGNORED_SUFFIXES)


def _listing(names):
    shown = ", ".join(names[:_SHOWN])
    return shown + (f", ... ({len(names) - _SHOWN} more)" if len(names) > _SHOWN else "")


def load_google_checkpoint(model, prefix, config_file=None):
    """Assign every model variable from the checkpoint by its Google name, checking shapes.

    Optimizer slots and bookkeeping are ignored. A checkpoint without the next-sentence head
    (`cls/seq_relationship/*`) is accepted: this project never trains or uses it.
    Any other missing, unexpected or mis-shaped name is a UserError listing them.
    """
    try:
        reader = tf.train.load_checkpoint(prefix)
    except (tf.errors.OpError, ValueError) as err:
        raise UserError(f"cannot read checkpoint: {str(err).splitlines()[0]}", where=prefix,
                        fix="pass a TensorFlow checkpoint in Google's format") from err
    stored = {n: s for n, s in reader.get_variable_to_shape_map().items() if not _ignored(n)}
    expected = {n: v.shape.as_list() for n, v in model.variables_by_name.items()}
    missing = sorted(n for n in expected if n not in stored)
    frozen_missing = [n for n in missing if n.startswith(FROZEN_PREFIX)]
    missing = [n for n in missing if not n.startswith(FROZEN_PREFIX)]
    unexpected = sorted(n for n in stored if n not in expected)
    misshaped = sorted(f"{n} {list(stored[n])} vs {expected[n]}" for n in expected
                       if n in stored and list(stored[n]) != expected[n])
    if missing or unexpected or misshaped:
        problems = [f"{len(names)} {label}: {_listing(names)}" for label, names in
                    (("missing", missing), ("unexpected", unexpected),
                     ("mis-shaped (checkpoint vs config)", misshaped)) if names]
        raise UserError("checkpoint does not match the BERT config; " + "; ".join(problems),
                        where=f"{prefix} vs {config_file or 'bert_config'}",
                        fix="pass the bert_config.json the checkpoint was trained with")
    for name in frozen_missing:
        log.warning("checkpoint has no %s; keeping its random initial value", name)
    for name, variable in model.variables_by_name.items():
        if name in stored:
            variable.assign(reader.get_tensor(name).astype(np.float32))
    log.info("loaded %d variables from %s", len(stored), prefix)


def save_google_checkpoint(model, prefix, global_step=None):
    """Write the model's variables under Google's names (plus `global_step` when given).

    The files are written under a temporary prefix and renamed, data first, then the index that
    readers look for, so a crash never leaves a readable but incomplete checkpoint.
    """
    names = sorted(model.variables_by_name)
    tensors = [model.variables_by_name[n] for n in names]
    if global_step is not None:
        names.append("global_step")
        tensors.append(tf.constant(int(global_step), tf.int64))
    tmp_prefix = f"{prefix}.tmp-{uuid.uuid4().hex[:8]}"
    tf.raw_ops.SaveV2(prefix=tmp_prefix, tensor_names=names,
                      shape_and_slices=[""] * len(names), tensors=tensors)
    for tmp_file in sorted(glob.glob(glob.escape(tmp_prefix) + ".data-*")):
        os.replace(tmp_file, prefix + tmp_file[len(tmp_prefix):])
    os.replace(tmp_prefix + ".index", prefix + ".index")
    return prefix


def write_model_dir(model, output_dir, vocab_file, manifest_extra=None, global_step=None):
    """Write a complete Google-format model directory atomically; return its manifest."""
    config = model.config
    check_vocab_matches_config(vocab_file, config.vocab_size)
    with write_errors_as_user_errors(output_dir), atomic_output_dir(output_dir) as tmp:
        config.to_json_file(os.path.join(tmp, CONFIG_NAME))
        shutil.copyfile(vocab_file, os.path.join(tmp, VOCAB_NAME))
        save_google_checkpoint(model, os.path.join(tmp, CHECKPOINT_NAME), global_step)
        manifest = {
            "kind": MANIFEST_KIND,
            "checkpoint": CHECKPOINT_NAME,
            "bert_config": config.to_dict(),
            "vocab_sha256": sha256_file(os.path.join(tmp, VOCAB_NAME)),
            "num_variables": len(model.variables_by_name),
            "num_parameters": int(sum(np.prod(v.shape) for v in model.variables_by_name.values())),
            **(manifest_extra or {}),
        }
        write_manifest(tmp, manifest)
    log.info("wrote BERT model (%d parameters) to %s", manifest["num_parameters"], output_dir)
    return manifest


def load_model(checkpoint, bert_config_file=None, compute_dtype=tf.float32):
    """A checkpoint prefix or model directory (+ optional config) → (model, config, prefix)."""
    prefix, config_file, _ = resolve_model_files(checkpoint, bert_config_file, need_vocab=False)
    config = BertConfig.from_json_file(config_file)
    model = BertForPreTraining(config, compute_dtype=compute_dtype)
    load_google_checkpoint(model, prefix, config_file)
    return model, config, prefix
