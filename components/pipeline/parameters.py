"""The pipeline's run parameters: one table for the pipeline signature, the CLI and the README.

Names and defaults are the users' own flags (DESIGN.md, "Command lines"). Credentials are never
parameters: they come from a Kubernetes Secret (see `definition.SECRET_KEYS_TO_ENV`).
"""

import argparse
import inspect
from dataclasses import dataclass

from components.common.cli import str2bool
from components.common.errors import UserError

# The pipeline's steps, in order (definition.STAGES builds them); `rerun STEP` takes these names.
STEPS = ("extract", "pretraining_data", "data_report", "train", "evaluate", "convert", "report",
         "export")

# Kubernetes Secret (its name fixed at compile time) → environment variables of the steps.
DEFAULT_SECRET = "edu-mlm-source-credentials"
# PersistentVolumeClaim holding the trainer's resumable state on a cluster (compile option).
DEFAULT_CHECKPOINT_PVC = "edu-mlm-checkpoints"
SECRET_KEYS_TO_ENV = {"username": "EDU_MLM_SOURCE_USER", "password": "EDU_MLM_SOURCE_PASSWORD"}
HDFS_SECRET_KEYS_TO_ENV = {"hdfs_user": "EDU_MLM_HDFS_USER", "hdfs_token": "EDU_MLM_HDFS_TOKEN"}


@dataclass(frozen=True)
class Param:
    name: str
    type: type
    default: object
    help: str


PARAMETERS = (
    Param("base_model_uri", str, "", "the base model (Google-format BERT directory: "
          "bert_config.json, vocab.txt, bert_model.ckpt.*), an artifact-store URI"),
    Param("source_url", str, "", "SQLAlchemy URL of the text (hive://user@host:10000/db, "
          "sqlite:///file.db); no password in it: the Secret supplies it"),
    Param("query", str, "", "SELECT returning the passages"),
    Param("text_column", str, "", "column holding the text when the query returns several"),
    Param("input_files", str, "", "instead of SQL: comma-separated text files or globs"),
    Param("min_chars", int, 10, "drop passages shorter than this after cleaning"),
    Param("normalize_punctuation", bool, True,
          "map characters missing from the vocab (curly quotes, ellipsis) to covered ones"),
    Param("limit", int, 0, "read at most this many rows (a dry run); 0 = all"),
    Param("max_bad_fraction", float, 0.01,
          "extract / pretraining data stop when more than this fraction of rows is bad"),
    Param("num_shards", int, 4, "corpus shards = parallel pretraining-data pods"),
    Param("max_seq_length", int, 128, "tokens per instance"),
    Param("max_predictions_per_seq", int, 20, "masked positions per instance"),
    Param("masked_lm_prob", float, 0.15, "fraction of tokens masked"),
    Param("random_seed", int, 123456, "seed of the masking (per-shard seeds derive from it)"),
    Param("do_whole_word_mask", bool, True, "mask whole jieba words"),
    Param("dupe_factor", int, 5, "passes over the corpus with fresh masks"),
    Param("short_seq_prob", float, 0.1, "probability of a shorter instance"),
    Param("heldout_fraction", float, 0.01, "fraction of passages held out for evaluation"),
    Param("segmenter", str, "jieba", "word segmenter for whole-word masking: jieba or rjieba"),
    Param("pack", bool, False, "pack several short passages per instance"),
    Param("train_batch_size", int, 96, "instances per training step per GPU"),
    Param("num_train_steps", int, 210000, "training steps"),
    Param("num_warmup_steps", int, 1000, "linear learning-rate warmup steps"),
    Param("learning_rate", float, 2e-5, "peak learning rate (AdamW, linear decay)"),
    Param("save_checkpoints_steps", int, 1000, "steps between checkpoints (resume points)"),
    Param("log_every_n_steps", int, 100, "steps per logged interval (train_log.jsonl, curves)"),
    Param("eval_batch_size", int, 64, "held-out evaluation batch size"),
    Param("fill_mask_examples", int, 8, "held-out sentences shown with top-5 predictions"),
    Param("export_hdfs_dir", str, "", "if set: copy the trained model (tf_model/) and the "
          "transformers model (hf_model/) to this HDFS directory"),
    Param("hdfs_url", str, "", "WebHDFS namenode URL (default: $EDU_MLM_HDFS_URL in the pod)"),
    Param("hdfs_auth", str, "insecure", "HDFS auth: insecure (user), token or kerberos"),
)
BY_NAME = {p.name: p for p in PARAMETERS}


def signature(return_annotation=inspect.Signature.empty):
    """The pipeline function's signature: one keyword parameter per row of PARAMETERS."""
    return inspect.Signature(
        [inspect.Parameter(p.name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=p.default,
                           annotation=p.type) for p in PARAMETERS],
        return_annotation=return_annotation)


def _convert(param, text):
    return str2bool(text) if param.type is bool else param.type(text)


def parse_assignments(assignments):
    """`["num_train_steps=100", ...]` → {"num_train_steps": 100}, typed per PARAMETERS."""
    values = {}
    for item in assignments or ():
        name, sep, text = item.partition("=")
        name = name.strip().replace("-", "_")
        if not sep:
            raise UserError(f"--param {item!r} is not NAME=VALUE", where="--param",
                            fix="write e.g. --param num_train_steps=1000")
        if name not in BY_NAME:
            raise UserError(f"unknown pipeline parameter {name!r}", where="--param",
                            fix="see `python pipeline.py params` for the list")
        try:
            values[name] = _convert(BY_NAME[name], text)
        except (ValueError, argparse.ArgumentTypeError) as err:
            raise UserError(f"--param {name}={text!r}: {err}", where="--param",
                            fix=f"give a {BY_NAME[name].type.__name__}") from err
    return values
