"""The downstream stage's parameters, declared once (see `components.common.arguments`).

`FineTuneArguments`: the labelled rows (files, or a SQL/Hive query as extract reads), their
columns and split, and the fine-tuning recipe with its seeds, in the flag style of HF's
run_glue.py: what the pipeline step (`tasks.run_downstream_task`) takes.
`DownstreamArguments`: those and the models and the output directory, the CLI's
(`python -m components.downstream`). No torch here, so the pipeline can read the declarations
without it.
"""

import dataclasses
import os
from dataclasses import dataclass

from components.common.arguments import REQUIRED, Arguments, arg, same_as
from components.common.errors import UserError
from components.distill.arguments import DistillArguments
from components.extract.arguments import ExtractArguments

FILE_FORMATS = "JSONL (.jsonl: one JSON object a line), CSV (.csv, with a header row) or TSV " \
               "(.tsv: a header row, one row a line, no quoting)"
MODELS, ROWS, TRAINING, DEVICES = "models and output", "labelled rows", "training", "devices"


def _in_group(field, group):
    """A `same_as` field under this declaration's --help heading `group`."""
    return dataclasses.field(default=field.default, metadata={**field.metadata, "group": group})


@dataclass(kw_only=True)
class FineTuneArguments(Arguments):
    train_file: str | None = arg(
        None, f"the labelled training rows: {FILE_FORMATS}; or --source_url and --query "
        "instead", group=ROWS)
    eval_file: str | None = arg(
        None, "the labelled evaluation rows, in one of the same formats; default: --eval_query, "
        "else --eval_fraction of the training rows, chosen by a hash of the text (the same rows "
        "every run, duplicates on one side)", group=ROWS)
    source_url: str | None = _in_group(same_as(ExtractArguments, "source_url"), ROWS)
    query: str | None = arg(
        None, "instead of --train_file: the SELECT on --source_url that returns the labelled "
        "training rows (the columns --text_column, --label_column and, for pairs, "
        "--text_pair_column name); the rows it returned are kept in the output", group=ROWS)
    eval_query: str | None = arg(
        None, "the SELECT on --source_url that returns the evaluation rows (same columns), "
        "instead of --eval_file", group=ROWS)
    batch_size: int = _in_group(same_as(ExtractArguments, "batch_size"), ROWS)
    eval_fraction: float = arg(0.2, "share of the training rows held out for evaluation when "
                               "there is no --eval_file or --eval_query", low=0, high=1,
                               low_open=True, high_open=True, group=ROWS)
    text_column: str = arg("text", "the column (JSON key) holding the text", group=ROWS)
    text_pair_column: str | None = arg(
        None, "the column of the second text for a sentence-pair task (encoded as "
        "[CLS] text [SEP] pair [SEP]); default: single sentences", group=ROWS)
    label_column: str = arg("label", "the column of the class label (any string or number)",
                            group=ROWS)
    max_train_examples: int | None = arg(None, "fine-tune on the first this many training "
                                         "rows; default: all", low=1, group=ROWS)
    max_train_examples_per_class: int | None = arg(
        None, "fine-tune on the first this many training rows of each label (a low-resource "
        "setting, e.g. 32); default: all", low=1, group=ROWS)
    max_eval_examples: int | None = arg(None, "evaluate on the first this many evaluation "
                                        "rows; default: all", low=1, group=ROWS)

    seeds: str = arg("1,2,3", "comma-separated seeds: each model is fine-tuned once per seed "
                     "(the classifier head's initialisation, dropout and data order), and the "
                     "differences between models are paired by seed", group=TRAINING)
    num_train_epochs: float = arg(3.0, "passes over the training rows (a fraction ends part "
                                  "way through the last one)", low=0, low_open=True,
                                  group=TRAINING)
    learning_rate: float = arg(2e-5, "peak learning rate of AdamW (BERT's fine-tuning range is "
                               "2e-5 to 5e-5)", low=0, low_open=True, group=TRAINING)
    train_batch_size: int = arg(32, "examples per optimizer step", low=1, group=TRAINING)
    max_seq_length: int = arg(128, "tokens per example after tokenization (longer ones are "
                              "truncated; at most the models' max_position_embeddings)", low=8,
                              group=TRAINING)
    warmup_ratio: float = arg(0.1, "share of the steps with a linear learning-rate warmup "
                              "(BERT's run_classifier.py warmup_proportion), then linear decay "
                              "to 0", low=0, high=1, high_open=True, group=TRAINING)
    weight_decay: float = _in_group(same_as(DistillArguments, "weight_decay"), TRAINING)
    max_grad_norm: float = _in_group(same_as(DistillArguments, "max_grad_norm"), TRAINING)
    eval_batch_size: int = _in_group(same_as(DistillArguments, "eval_batch_size"), TRAINING)
    precision: str = _in_group(same_as(DistillArguments, "precision"), DEVICES)

    def seed_list(self):
        """--seeds as a list of ints."""
        return [int(seed) for seed in self.seeds.split(",")]

    def has_labelled_rows(self):
        """Whether a training source (--train_file or --query) is given."""
        return bool(self.train_file or self.query)

    def fine_tune_values(self):
        """{field: value} of this declaration's fields (to build a `DownstreamArguments`)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(FineTuneArguments)}

    def check(self):
        try:
            seeds = self.seed_list()
        except ValueError:
            raise UserError(f"--seeds={self.seeds} is not a comma-separated list of integers",
                            where="--seeds", fix="pass e.g. --seeds 1,2,3") from None
        if len(set(seeds)) != len(seeds):
            raise UserError(f"--seeds={self.seeds} repeats a seed", where="--seeds",
                            fix="pass each seed once")
        if self.text_pair_column is not None and self.text_pair_column == self.text_column:
            raise UserError("--text_pair_column is --text_column", where="--text_pair_column",
                            fix="name the column of the second text")
        self._check_sources()

    def _check_sources(self):
        for file, query in (("train_file", "query"), ("eval_file", "eval_query")):
            if getattr(self, file) and getattr(self, query):
                raise UserError(f"both --{file} and --{query} were given",
                                where=f"--{file} / --{query}", fix="pass one of them")
        if (self.query or self.eval_query) and not self.source_url:
            raise UserError("a query was given without --source_url",
                            where="--query" if self.query else "--eval_query",
                            fix="pass the database URL with --source_url")
        if self.source_url and not (self.query or self.eval_query):
            raise UserError("--source_url was given without a query", where="--source_url",
                            fix='pass --query "SELECT text, label FROM table"')
        if (self.eval_file or self.eval_query) and not self.has_labelled_rows():
            raise UserError("evaluation rows were given without training rows",
                            where="--eval_file" if self.eval_file else "--eval_query",
                            fix="pass --train_file, or --query")


# What a pipeline run sets (its run parameters): every field of the step's declaration.
PIPELINE_FIELDS = tuple(f.name for f in dataclasses.fields(FineTuneArguments))


@dataclass(kw_only=True)
class DownstreamArguments(FineTuneArguments):
    model_dir: list[str] = arg(
        REQUIRED, "a model to fine-tune: a transformers BERT save_pretrained directory with its "
        "tokenizer (the convert stage's output, the distilled student, a Hub download); repeat "
        "the flag for each model, the first is the one the others are compared with",
        action="append", group=MODELS)
    model_name: list[str] | None = arg(
        None, "a name for each --model_dir, in the same order, as metrics.json keys (repeat the "
        "flag); default: each directory's base name", action="append", group=MODELS)
    output_dir: str = arg(REQUIRED, "where metrics.json, predictions.jsonl and manifest.json "
                          "go; a rerun replaces it whole, once the run is complete",
                          group=MODELS)

    def model_names(self):
        """The metrics.json key of each --model_dir."""
        return self.model_name or [os.path.basename(os.path.normpath(d)) for d in self.model_dir]

    def check(self):
        super().check()
        if not self.has_labelled_rows():
            raise UserError("no labelled rows given", where="--train_file / --query",
                            fix="pass --train_file FILE, or --source_url URL --query SQL")
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
