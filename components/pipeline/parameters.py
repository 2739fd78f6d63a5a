"""The pipeline's run parameters: one table for the pipeline signature, the CLI and the README.

A stage's run parameters are read from its spec and declaration (ARCHITECTURE.md, "One
declaration per parameter"); names and defaults are the users' own flags. Credentials are never
parameters: they come from a Kubernetes Secret (see `definition.SECRET_KEYS_TO_ENV`).
"""

import argparse
import inspect

from components import stages
from components.common.arguments import Param
from components.common.cli import str2bool
from components.common.errors import UserError

# The pipeline's steps, in order (definition.STAGES builds them); `rerun STEP` takes these names.
STEPS = tuple(spec.step_name for spec in stages.steps())

# Kubernetes Secret (its name fixed at compile time) → environment variables of the steps.
DEFAULT_SECRET = "edu-mlm-source-credentials"
# PersistentVolumeClaim holding the trainer's resumable state on a cluster (compile option).
DEFAULT_CHECKPOINT_PVC = "edu-mlm-checkpoints"
SECRET_KEYS_TO_ENV = {"username": "EDU_MLM_SOURCE_USER", "password": "EDU_MLM_SOURCE_PASSWORD"}
HDFS_SECRET_KEYS_TO_ENV = {"hdfs_user": "EDU_MLM_HDFS_USER", "hdfs_token": "EDU_MLM_HDFS_TOKEN"}
# What a stage's `Pod.secret` names.
SECRETS = {"source": SECRET_KEYS_TO_ENV, "hdfs": HDFS_SECRET_KEYS_TO_ENV}


def _parameters():
    """The pipeline's own parameter, then each step's (`StageSpec.pipeline_parameters`), in
    step order; a name two steps give is an error (a step that takes another's says so with
    `shares`, the distiller prefixes its own)."""
    params = {"base_model_uri": Param(
        "base_model_uri", str, "", "the base model (Google-format BERT directory: "
        "bert_config.json, vocab.txt, bert_model.ckpt.*), an artifact-store URI")}
    for spec in stages.steps():
        for param in spec.pipeline_parameters():
            if param.name in params:
                raise ValueError(f"run parameter {param.name!r} of step {spec.step_name} is "
                                 "another step's too: share it (StageSpec.shares) or prefix it")
            params[param.name] = param
    return tuple(params.values())


# The pipeline's run parameters, in the order `params` lists them, read from the steps' specs
# and their declarations (their PIPELINE_FIELDS).
PARAMETERS = _parameters()
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
