"""The pipeline's run parameters: one table for the pipeline signature, the CLI and the README.

A stage's run parameters are read from its declaration (ARCHITECTURE.md, "One declaration per
parameter"); names and defaults are the users' own flags. Credentials are never parameters: they
come from a Kubernetes Secret (see `definition.SECRET_KEYS_TO_ENV`).
"""

import argparse
import dataclasses
import inspect

from components.common.arguments import Param
from components.common.cli import str2bool
from components.common.errors import UserError
from components.distill import arguments as distill_arguments
from components.distill.arguments import DistillArguments
from components.evaluate import arguments as evaluate_arguments
from components.evaluate.arguments import EvaluateArguments
from components.extract import arguments as extract_arguments
from components.hdfs.arguments import HdfsExportArguments
from components.pretraining_data import arguments as pretraining_data_arguments
from components.pretraining_data.arguments import FANOUT_SHARDS, PretrainingDataArguments
from components.report import arguments as report_arguments
from components.report.arguments import ModelReportArguments
from components.train import arguments as train_arguments
from components.train.arguments import TrainArguments

# The pipeline's steps, in order (definition.STAGES builds them); `rerun STEP` takes these names.
STEPS = ("extract", "pretraining_data", "data_report", "train", "evaluate", "convert", "distill",
         "report", "export")

# Kubernetes Secret (its name fixed at compile time) → environment variables of the steps.
DEFAULT_SECRET = "edu-mlm-source-credentials"
# PersistentVolumeClaim holding the trainer's resumable state on a cluster (compile option).
DEFAULT_CHECKPOINT_PVC = "edu-mlm-checkpoints"
SECRET_KEYS_TO_ENV = {"username": "EDU_MLM_SOURCE_USER", "password": "EDU_MLM_SOURCE_PASSWORD"}
HDFS_SECRET_KEYS_TO_ENV = {"hdfs_user": "EDU_MLM_HDFS_USER", "hdfs_token": "EDU_MLM_HDFS_TOKEN"}


# The distiller's run parameters are its flags prefixed: several (num_train_steps,
# learning_rate, ...) are also the trainer's.
DISTILL_PREFIX = "distill_"


def _distill_params():
    params = []
    for param in DistillArguments.params(distill_arguments.PIPELINE_FIELDS):
        help_text = param.help
        if param.name == "num_train_steps":
            help_text = "distillation steps; 0 skips the distill stage (its task does nothing)"
        params.append(dataclasses.replace(param, name=DISTILL_PREFIX + param.name,
                                          help=help_text))
    return params


# The pipeline's run parameters, in the order `params` lists them. A stage's are read from its
# declaration (its PIPELINE_FIELDS); only what belongs to the pipeline itself is written here.
PARAMETERS = (
    Param("base_model_uri", str, "", "the base model (Google-format BERT directory: "
          "bert_config.json, vocab.txt, bert_model.ckpt.*), an artifact-store URI"),
    *extract_arguments.TASK_PARAMETERS,
    FANOUT_SHARDS,
    *[p for p in PretrainingDataArguments.params(pretraining_data_arguments.PIPELINE_FIELDS)
      if p.name != "max_bad_fraction"],  # one run parameter for extract and data prep
    *TrainArguments.params(train_arguments.PIPELINE_FIELDS),
    *EvaluateArguments.params(evaluate_arguments.PIPELINE_FIELDS),
    *_distill_params(),
    *ModelReportArguments.params(report_arguments.PIPELINE_FIELDS),
    Param("export_hdfs_dir", str, "", "if set: copy the trained model (tf_model/), the "
          "transformers model (hf_model/) and the distilled student (student/) to this HDFS "
          "directory"),
    Param("hdfs_url", str, "", "WebHDFS namenode URL (default: $EDU_MLM_HDFS_URL in the pod)"),
    *HdfsExportArguments.params(["hdfs_auth"]),
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


TYPE_NAMES = {int: "an integer", float: "a number", bool: "True or False", str: "a string"}


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
                            fix=f"give {TYPE_NAMES[BY_NAME[name].type]}") from err
    return values
