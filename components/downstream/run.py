"""Fine-tune every model on one labelled task with one recipe and the same seeds; compare them.

Output (`--output_dir`, written to a temporary sibling and renamed when complete):
- `metrics.json`: the task (files, columns, labels and their counts), the recipe, the
  majority-class baseline, `model_names` in the order given (the first is the reference), per
  model the accuracy and macro-F1 of each seed with their mean and
  sample standard deviation, and each model's difference from the first with a 95 % confidence
  interval over the seeds (`stats.METHOD`);
- `predictions.jsonl`: one line per evaluation row: its line in the source file (a query's: its
  row), its label, and each model's prediction per seed (in the order of `recipe.seeds`);
- `train_rows.jsonl`, `eval_rows.jsonl`: the rows a query returned (`labelled.py`), when the rows
  came from one (the file names: `layout.py`);
- `manifest.json`, last: where the labelled rows came from and their sha256
  (`labelled.source_records`), each model's weights sha256 (and the lineage fingerprint its own
  manifest carries, when it has one), and the models left out, with why.
"""

import json
import logging
import os

import torch

from components.common import lineage
from components.common.artifacts import (
    atomic_file,
    atomic_output_dir,
    write_json_atomic,
    write_manifest,
)
from components.distill.loop import resolve_precision
from components.downstream import finetune, stats
from components.downstream.data import prepare_task
from components.downstream.labelled import read_labelled, source_records
from components.downstream.layout import MANIFEST_KIND, METRICS_FILE, PREDICTIONS_FILE

log = logging.getLogger(__name__)


def _task(args, train, evaluation, labels):
    def counts(values):
        return {label: values.count(label) for label in labels}

    def path(file):
        return os.path.abspath(file) if file else None

    return {"train_file": path(args.train_file), "eval_file": path(args.eval_file),
            "query": args.query, "eval_query": args.eval_query,
            "eval_split": "eval_file" if args.eval_file else "eval_query" if args.eval_query
            else f"hash of the text, fraction {args.eval_fraction}",
            "text_column": args.text_column, "text_pair_column": args.text_pair_column,
            "label_column": args.label_column, "labels": labels,
            "max_train_examples_per_class": args.max_train_examples_per_class,
            "train_examples": len(train), "eval_examples": len(evaluation),
            "train_label_counts": counts(train.labels),
            "eval_label_counts": counts(evaluation.labels)}


def _model_metrics(per_seed):
    result = {}
    for key in ("accuracy", "macro_f1"):
        result[f"{key}_mean"], result[f"{key}_std"] = stats.mean_std(
            [seed[key] for seed in per_seed.values()])
    return result


def _fine_tune_seeds(name, model_dir, tokenizer, train, evaluation, labels, args, device,
                     precision):
    """({seed: accuracy, macro_f1 and the training summary}, [predicted labels per seed]) of
    one model."""
    label_ids = {label: i for i, label in enumerate(labels)}
    encoded_train = finetune.encode(tokenizer, train, label_ids, args.max_seq_length)
    encoded_eval = finetune.encode(tokenizer, evaluation, label_ids, args.max_seq_length)
    per_seed, predicted = {}, []
    for seed in args.seed_list():
        desc = f"{name} seed {seed}"
        model, summary = finetune.fine_tune(model_dir, labels, encoded_train,
                                            tokenizer.pad_token_id, seed, args, device,
                                            precision, desc)
        ids = finetune.predict(model, encoded_eval, tokenizer.pad_token_id, args.eval_batch_size,
                               device, precision)
        guesses = [labels[i] for i in ids]
        per_seed[str(seed)] = {"accuracy": stats.accuracy(evaluation.labels, guesses),
                               "macro_f1": stats.macro_f1(evaluation.labels, guesses), **summary}
        predicted.append(guesses)
        log.info("%s: accuracy %.4f, macro-F1 %.4f (%.0f s)", desc,
                 per_seed[str(seed)]["accuracy"], per_seed[str(seed)]["macro_f1"],
                 summary["train_seconds"])
    return per_seed, predicted


def run_downstream(args, left_out=None):
    """Fine-tune and evaluate every `args.model_dir` (`DownstreamArguments`); write the output
    directory and return the metrics. `left_out`: {model name: why} of models the caller did not
    pass (a skipped student), recorded as such."""
    names, seeds = args.model_names(), args.seed_list()
    labelled = read_labelled(args)
    train, evaluation = prepare_task(*labelled, args)
    tokenizers = {name: finetune.check_model_dir(model_dir, args.max_seq_length)
                  for name, model_dir in zip(names, args.model_dir, strict=True)}
    labels = sorted(set(train.labels))
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    precision = resolve_precision(args.precision, device)
    log.info("%d training and %d evaluation rows, %d labels; %d model(s) x %d seed(s) on %s (%s)",
             len(train), len(evaluation), len(labels), len(names), len(seeds), device, precision)

    with atomic_output_dir(args.output_dir) as tmp:
        models, predicted = {}, {}
        for name, model_dir in zip(names, args.model_dir, strict=True):
            per_seed, predicted[name] = _fine_tune_seeds(name, model_dir, tokenizers[name], train,
                                                         evaluation, labels, args, device,
                                                         precision)
            models[name] = {"model_dir": os.path.abspath(model_dir), **_model_metrics(per_seed),
                            "per_seed": per_seed}
        result = {
            "task": _task(args, train, evaluation, labels),
            "recipe": {"seeds": seeds, "num_train_epochs": args.num_train_epochs,
                       "learning_rate": args.learning_rate,
                       "train_batch_size": args.train_batch_size,
                       "max_seq_length": args.max_seq_length, "warmup_ratio": args.warmup_ratio,
                       "weight_decay": args.weight_decay, "max_grad_norm": args.max_grad_norm,
                       "num_train_steps": finetune.num_train_steps(len(train), args),
                       "device": device.type, "precision": precision},
            "majority_baseline": stats.majority_baseline(train.labels, evaluation.labels),
            "model_names": names, "models": models, "differences": stats.compare(models, names),
            "difference_method": stats.METHOD, "left_out": dict(left_out or {})}
        write_json_atomic(os.path.join(tmp, METRICS_FILE), result)
        _write_predictions(os.path.join(tmp, PREDICTIONS_FILE), evaluation, predicted)
        sources = source_records(tmp, labelled, args)
        write_manifest(tmp, {
            "kind": MANIFEST_KIND,
            "files": [METRICS_FILE, PREDICTIONS_FILE] + [
                record["file"] for record in sources.values() if record and "file" in record],
            "labelled": sources,
            "models": {name: lineage.model_record(d) for name, d in zip(names, args.model_dir,
                                                                 strict=True)},
            "left_out": result["left_out"]})
    log.info("wrote %s", args.output_dir)
    _log_summary(result, names)
    return result


def _write_predictions(path, evaluation, predicted):
    with atomic_file(path) as f:
        for i, (line, label) in enumerate(zip(evaluation.lines, evaluation.labels, strict=True)):
            row = {"line": line, "label": label,
                   "predicted": {name: [seed[i] for seed in runs]
                                 for name, runs in predicted.items()}}
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def _log_summary(result, names):
    baseline = result["majority_baseline"]
    log.info("majority class %r: accuracy %.4f", baseline["label"], baseline["accuracy"])
    for name in names:
        model = result["models"][name]
        spread = ("" if model["accuracy_std"] is None else
                  f" ± {model['accuracy_std']:.4f} (sample std over {len(model['per_seed'])} "
                  "seeds)")
        log.info("%s: accuracy %.4f%s, macro-F1 %.4f", name, model["accuracy_mean"], spread,
                 model["macro_f1_mean"])
    for name, difference in result["differences"].items():
        accuracy = difference["accuracy"]
        interval = ("" if accuracy["ci95_low"] is None else
                    f" (95 % CI {accuracy['ci95_low']:+.4f} to {accuracy['ci95_high']:+.4f})")
        log.info("%s minus %s: accuracy %+.4f%s", name, difference["reference"],
                 accuracy["mean"], interval)


def flat_metrics(result):
    """{name: number} of `run_downstream`'s result, for a KFP Metrics artifact (None values,
    e.g. a deviation over one seed, left out)."""
    flat = {"majority_baseline_accuracy": result["majority_baseline"]["accuracy"],
            "majority_baseline_macro_f1": result["majority_baseline"]["macro_f1"],
            "eval_examples": result["task"]["eval_examples"],
            "train_examples": result["task"]["train_examples"]}
    for name, model in result["models"].items():
        for key in ("accuracy_mean", "accuracy_std", "macro_f1_mean", "macro_f1_std"):
            flat[f"{name}_{key}"] = model[key]
    for name, difference in result["differences"].items():
        for metric in ("accuracy", "macro_f1"):
            for key in ("mean", "ci95_low", "ci95_high"):
                flat[f"{name}_minus_{difference['reference']}_{metric}_{key}"] = \
                    difference[metric][key]
    return {key: value for key, value in flat.items() if value is not None}
