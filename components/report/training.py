"""The model report's training section: the run's figures (steps, time, throughput, MFU), the
loss, accuracy and learning-rate curves, and every logged interval behind a fold."""

import json
import os

from components.report import html, plots
from components.report.labels import label, rows, seconds, value

# The trainer's summary keys the table lists, in order (the last log interval's throughput).
RUN_FIGURES = ("global_step", "num_train_steps", "train_batch_size", "replicas", "precision",
               "jit_compile", "final_loss", "final_masked_lm_accuracy", "train_seconds",
               "compile_seconds")
THROUGHPUT = ("examples_per_sec", "tokens_per_sec", "model_tflops", "mfu", "input_wait_fraction")
LOG_COLUMNS = ("step", "loss", "masked_lm_accuracy", "learning_rate", "grad_norm",
               "examples_per_sec", "tokens_per_sec", "mfu", "input_wait_fraction")


def read_train_log(model_dir):
    path = os.path.join(model_dir, "train_log.jsonl")
    if not os.path.isfile(path):
        return []
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def describe_model(model_dir):
    """One line on the model's shape from its bert_config.json ('' when there is none)."""
    path = os.path.join(model_dir, "bert_config.json")
    if not os.path.isfile(path):
        return ""
    with open(path, encoding="utf-8") as f:
        config = json.load(f)
    return (f"BERT with {config['num_hidden_layers']} layers, hidden size "
            f"{config['hidden_size']}, {config['num_attention_heads']} attention heads, a "
            f"vocabulary of {config['vocab_size']:,} tokens.")


def step_seconds(train_log, batch):
    """Seconds spent in training steps, from each interval's steps and throughput (the
    trainer's clock leaves out the first step and the saves); None without throughput."""
    total, previous = 0.0, 0
    for entry in train_log:
        if not entry.get("examples_per_sec"):
            return None
        total += (entry["step"] - previous) * batch / entry["examples_per_sec"]
        previous = entry["step"]
    return total


def run_figures(train_metrics, train_log):
    """The trainer's summary, its missing final values taken from the last logged interval."""
    last = train_log[-1] if train_log else {}
    figures = {k: last[k] for k in THROUGHPUT if k in last}
    for key, name in (("loss", "final_loss"), ("masked_lm_accuracy", "final_masked_lm_accuracy")):
        if key in last:
            figures[name] = last[key]
    if train_log and "compile_seconds" in train_log[0]:
        figures["compile_seconds"] = train_log[0]["compile_seconds"]
    figures.update(train_metrics)
    return figures


def figures_table(figures, intervals, run_keys, activity):
    """A run's figures (`run_keys` of them, in order), the time in its steps ("time in
    `activity` steps") and its throughput."""
    found = rows(run_keys, figures)
    batch = figures.get("train_batch_size")
    spent = step_seconds(intervals, batch) if batch and intervals else None
    if spent is not None:
        found.append((f"time in {activity} steps (from the logged throughput, saves left out)",
                      seconds(spent)))
    throughput = rows(THROUGHPUT, figures)
    if "model_tflops" in figures and "mfu" not in figures:
        throughput.insert(3, (label("mfu"), "not known (no peak FLOP/s for this device)"))
    return html.table(("", "value"), found + throughput)


def log_table(intervals, columns):
    """Every logged interval, a row each, in those of `columns` that any interval has."""
    columns = [k for k in columns if any(k in e for e in intervals)]
    table_rows = [tuple(value(k, e[k]) if k in e else "–" for k in columns) for e in intervals]
    return html.table([label(k) for k in columns], table_rows, range(len(columns)))


def training_section(train_metrics, train_log, base_eval, trained_eval, model_dir):
    """The section's HTML: figures, curves, and the log behind a <details>."""
    intro = f"<p>{html.esc(describe_model(model_dir))}</p>"
    figures = run_figures(train_metrics, train_log)
    if not train_log:
        return (intro + figures_table(figures, train_log, RUN_FIGURES, "training")
                + "<p>The trained model has no train_log.jsonl: no curves.</p>")
    steps = [e["step"] for e in train_log]
    markers = {}
    if "masked_lm_loss" in base_eval:
        markers["base held-out"] = (0, base_eval["masked_lm_loss"])
    if "masked_lm_loss" in trained_eval:
        markers["trained held-out"] = (steps[-1], trained_eval["masked_lm_loss"])
    curves = [plots.curves(steps, {"train": [e["loss"] for e in train_log]},
                           "Masked-LM loss", "loss (nats per masked token)", markers)]
    if all("masked_lm_accuracy" in e for e in train_log):
        curves.append(plots.curves(steps, {"train": [e["masked_lm_accuracy"]
                                                     for e in train_log]},
                                   "Masked-LM accuracy (train batches)", "accuracy"))
    if all("learning_rate" in e for e in train_log):
        curves.append(plots.curves(steps, {"train": [e["learning_rate"] for e in train_log]},
                                   "Learning rate", "learning rate"))
    return (intro + figures_table(figures, train_log, RUN_FIGURES, "training")
            + '<div class="plots">' + "".join(html.png(f) for f in curves) + "</div>"
            + html.details(f"Every logged interval ({len(train_log)})",
                           log_table(train_log, LOG_COLUMNS)))
