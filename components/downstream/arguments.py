"""The downstream stage's parameters, declared once (see `components.common.arguments`).

`DownstreamArguments`: fine-tune each model on a labelled text-classification task with the same
recipe and seeds (`python -m components.downstream`), in the flag style of HF's run_glue.py. No
torch here, so the pipeline can read the declaration without it.
"""

import dataclasses
import os
from dataclasses import dataclass

from components.common.arguments import REQUIRED, Arguments, arg, same_as
from components.common.errors import UserError
from components.distill.arguments import DistillArguments

FILE_FORMATS = "JSONL (.jsonl: one JSON object a line), CSV (.csv, with a header row) or TSV " \
               "(.tsv: a header row, one row a line, no quoting)"


def _in_group(field, group):
    """A `same_as` field under this declaration's --help heading `group`."""
    return dataclasses.field(default=field.default, metadata={**field.metadata, "group": group})


@dataclass
class DownstreamArguments(Arguments):
    model_dir: list[str] = arg(
        REQUIRED, "a model to fine-tune: a transformers BERT save_pretrained directory with its "
        "tokenizer (the convert stage's output, the distilled student, a Hub download); repeat "
        "the flag for each model, the first is the one the others are compared with",
        action="append", group="inputs")
    train_file: str = arg(REQUIRED, f"the labelled training rows: {FILE_FORMATS}",
                          group="inputs")
    output_dir: str = arg(REQUIRED, "where metrics.json, predictions.jsonl and manifest.json "
                          "go; a rerun replaces it whole, once the run is complete",
                          group="inputs")
    eval_file: str | None = arg(
        None, "the labelled evaluation rows, in the same format; default: --eval_fraction of "
        "--train_file, chosen by a hash of the text (the same rows every run, duplicates on one "
        "side)", group="inputs")
    eval_fraction: float = arg(0.2, "share of --train_file held out for evaluation when there "
                               "is no --eval_file", low=0, high=1, low_open=True, high_open=True,
                               group="inputs")
    text_column: str = arg("text", "the column (JSON key) holding the text", group="inputs")
    text_pair_column: str | None = arg(
        None, "the column of the second text for a sentence-pair task (encoded as "
        "[CLS] text [SEP] pair [SEP]); default: single sentences", group="inputs")
    label_column: str = arg("label", "the column of the class label (any string or number)",
                            group="inputs")
    model_name: list[str] | None = arg(
        None, "a name for each --model_dir, in the same order, as metrics.json keys (repeat the "
        "flag); default: each directory's base name", action="append", group="inputs")
    max_train_examples: int | None = arg(None, "fine-tune on the first this many training "
                                         "rows; default: all", low=1, group="inputs")
    max_train_examples_per_class: int | None = arg(
        None, "fine-tune on the first this many training rows of each label (a low-resource "
        "setting, e.g. 32); default: all", low=1, group="inputs")
    max_eval_examples: int | None = arg(None, "evaluate on the first this many evaluation "
                                        "rows; default: all", low=1, group="inputs")

    seeds: str = arg("1,2,3", "comma-separated seeds: each model is fine-tuned once per seed "
                     "(the classifier head's initialisation, dropout and data order), and the "
                     "differences between models are paired by seed", group="training")
    num_train_epochs: float = arg(3.0, "passes over the training rows (a fraction ends part "
                                  "way through the last one)", low=0, low_open=True,
                                  group="training")
    learning_rate: float = arg(2e-5, "peak learning rate of AdamW (BERT's fine-tuning range is "
                               "2e-5 to 5e-5)", low=0, low_open=True, group="training")
    train_batch_size: int = arg(32, "examples per optimizer step", low=1, group="training")
    max_seq_length: int = arg(128, "tokens per example after tokenization (longer ones are "
                              "truncated; at most the models' max_position_embeddings)", low=8,
                              group="training")
    warmup_ratio: float = arg(0.1, "share of the steps with a linear learning-rate warmup "
                              "(BERT's run_classifier.py warmup_proportion), then linear decay "
                              "to 0", low=0, high=1, high_open=True, group="training")
    weight_decay: float = _in_group(same_as(DistillArguments, "weight_decay"), "training")
    max_grad_norm: float = _in_group(same_as(DistillArguments, "max_grad_norm"), "training")
    eval_batch_size: int = _in_group(same_as(DistillArguments, "eval_batch_size"), "training")
    precision: str = _in_group(same_as(DistillArguments, "precision"), "devices")

    def seed_list(self):
        """--seeds as a list of ints."""
        return [int(seed) for seed in self.seeds.split(",")]

    def model_names(self):
        """The metrics.json key of each --model_dir."""
        return self.model_name or [os.path.basename(os.path.normpath(d)) for d in self.model_dir]

    def check(self):
        try:
            seeds = self.seed_list()
        except ValueError:
            raise UserError(f"--seeds={self.seeds} is not a comma-separated list of integers",
                            where="--seeds", fix="pass e.g. --seeds 1,2,3") from None
        if len(set(seeds)) != len(seeds):
            raise UserError(f"--seeds={self.seeds} repeats a seed", where="--seeds",
                            fix="pass each seed once")
        if self.model_name is not None and len(self.model_name) != len(self.model_dir):
            raise UserError(f"{len(self.model_name)} --model_name for {len(self.model_dir)} "
                            "--model_dir", where="--model_name",
                            fix="give one name per --model_dir, or none")
        names = self.model_names()
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise UserError(f"two models are named {repeated[0]!r}",
                            where="--model_name" if self.model_name else "--model_dir",
                            fix="name each model once with --model_name")
        if self.text_pair_column is not None and self.text_pair_column == self.text_column:
            raise UserError("--text_pair_column is --text_column", where="--text_pair_column",
                            fix="name the column of the second text")
