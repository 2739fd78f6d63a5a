"""The model report's "Distilled student" section: the student against its teacher on the same
held-out records (quality, size, speed), the distillation's figures and curves, and both models'
fill-mask predictions side by side; and the student's headline metrics.

It reads the distill stage's output directory (`components/distill/output.py`: the model,
manifest.json with the run's summary, distill_log.jsonl, metrics.json) and the comparison
`components.distill.compare.compare_models` returns (by default the directory's metrics.json).
A skipped stage (0 steps) leaves a directory without a model whose manifest says "skipped".
"""

import json
import logging
import os
from typing import NamedTuple

from components.common.artifacts import read_manifest, sha256_file
from components.common.errors import UserError
from components.report import fill_mask, html, plots
from components.report.labels import (
    artifact_name,
    difference,
    label,
    percent,
    times,
    value,
)
from components.report.training import THROUGHPUT, figures_table, log_table

log = logging.getLogger(__name__)

MANIFEST_KIND = "distilled_model"
LOG_FILE = "distill_log.jsonl"
METRICS_FILE = "metrics.json"
SKIPPED = ("Distillation was skipped (its step count was 0), so there is no student; pass "
           "<code>--param distill_num_train_steps=N</code> to distil one in N steps.")

# The distiller's summary keys the figures table lists, in order. Its `final_loss` is shown as
# `final_distill_loss`: a weighted sum of unlike parts, not a masked-LM loss in nats.
RUN_FIGURES = ("global_step", "num_train_steps", "train_batch_size", "processes", "precision",
               "torch_compile", "final_distill_loss", "final_loss_kd", "final_loss_hard",
               "final_loss_hidden", "final_loss_attention", "final_teacher_agreement",
               "compile_seconds")
# distill_log.jsonl's loss parts → their name in the plot (ASCII, see plots.py).
LOSS_PARTS = {"loss_kd": "soft targets (KD)", "loss_hard": "hard (MLM)",
              "loss_hidden": "hidden states", "loss_attention": "attention"}
LOG_COLUMNS = ("step", "distill_loss", *LOSS_PARTS, "teacher_agreement", "masked_lm_accuracy",
               "learning_rate", "grad_norm", "examples_per_sec", "tokens_per_sec", "mfu",
               "input_wait_fraction")
# Held-out quality: (key, which direction is better).
QUALITY_ROWS = (("masked_lm_accuracy", "higher"), ("masked_lm_loss", "lower"),
                ("perplexity", "lower"))
DEVICES = {"cpu": "CPU", "cuda": "GPU"}


class Student(NamedTuple):
    directory: str
    manifest: dict     # the distiller's summary, flat Metrics and student_config included
    intervals: list    # distill_log.jsonl's records
    comparison: dict | None  # `compare_models`' result; None when the stage did not evaluate


def read_student(student_dir, distill_metrics=None):
    """The distill stage's output as a `Student`, or None when the stage was skipped.
    `distill_metrics`: `compare_models`' result; None reads the directory's metrics.json."""
    if distill_metrics is not None and not isinstance(distill_metrics.get("teacher"), dict):
        raise ValueError("distill_metrics is compare_models' result (per-model dicts), not the "
                         "stage's flat Metrics; pass None to read the student's metrics.json")
    manifest = read_manifest(student_dir, kind=MANIFEST_KIND)
    if manifest.get("skipped") or not os.path.isfile(os.path.join(student_dir, "config.json")):
        return None
    path = os.path.join(student_dir, LOG_FILE)
    intervals = []
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            intervals = [json.loads(line) for line in f if line.strip()]
    if distill_metrics is None and os.path.isfile(os.path.join(student_dir, METRICS_FILE)):
        with open(os.path.join(student_dir, METRICS_FILE), encoding="utf-8") as f:
            distill_metrics = json.load(f)
    return Student(student_dir, manifest, intervals, distill_metrics)


def check_teacher(student, teacher_dir):
    """Refuse a student distilled from another model than the report's converted model: its
    fill-mask column and its comparison would stand beside a model it never learned from."""
    recorded = student.manifest.get("teacher_sha256")
    weights = os.path.join(teacher_dir, "model.safetensors")
    if recorded and os.path.isfile(weights) and sha256_file(weights) != recorded:
        raise UserError("the student was distilled from another teacher than this report's "
                        "transformers model", where=student.directory,
                        fix="pass the student distilled from this run's converted model, or "
                        "rerun distill after convert (`python pipeline.py rerun distill --from "
                        "RUN_DIR`)")


def _config(model_dir):
    with open(os.path.join(model_dir, "config.json"), encoding="utf-8") as f:
        return json.load(f)


def _shape(config):
    return (f"{config['num_hidden_layers']} layers, hidden size {config['hidden_size']}, "
            f"{config['num_attention_heads']} attention heads, feed-forward size "
            f"{config['intermediate_size']}")


def _words(numbers):
    numbers = [str(n) for n in numbers]
    return numbers[0] if len(numbers) == 1 else ", ".join(numbers[:-1]) + " and " + numbers[-1]


def _introduction(student, teacher_dir):
    config, teacher = _config(student.directory), _config(teacher_dir)
    found = (f"The student {artifact_name(student.directory)}: {_shape(config)}; its teacher "
             f"{artifact_name(teacher_dir)}: {_shape(teacher)}.")
    layers = student.manifest.get("teacher_layers")
    if layers:
        chosen = (f"layer{'s' if len(layers) > 1 else ''} {_words(n + 1 for n in layers)} of "
                  f"{teacher['num_hidden_layers']}")
        if config["hidden_size"] == teacher["hidden_size"]:
            found += (f" It started as a copy of the teacher's embeddings, MLM head and "
                      f"{chosen}.")
        else:
            found += (" It started from random weights (its hidden size is not the teacher's); "
                      f"its layers learned to match the teacher's {chosen} through learned "
                      "projections.")
    return f"<p>{html.esc(found)}</p>"


def _speed_rows(comparison):
    settings = comparison.get("speed_settings", {})
    found = []
    for device, speed in comparison.get("speed", {}).items():
        name, measured = DEVICES.get(device, device), speed["measured"]
        found.append((f"throughput on the {name}, batch {settings.get('batch_size', '?')} × "
                      f"{settings.get('seq_length', '?')} tokens",
                      *(value("sequences_per_second", measured[m]["sequences_per_second"])
                        for m in ("teacher", "student")),
                      f"{times(speed['throughput'])} the teacher's throughput"))
        found.append((f"latency on the {name}, batch 1 × {settings.get('seq_length', '?')} "
                      "tokens (median)",
                      *(value("latency_ms_p50", measured[m]["latency_ms_p50"])
                        for m in ("teacher", "student")),
                      f"{times(speed['latency'])} as fast as the teacher"))
    return found


def _comparison_section(comparison):
    if comparison is None:
        return ("<p>The student was not compared with the teacher: the stage ran without its "
                "held-out evaluation, so its directory has no metrics.json.</p>")
    teacher, student = comparison["teacher"], comparison["student"]
    table = []
    share = comparison["student_accuracy_share"]
    for key, better in QUALITY_ROWS:
        if key == "masked_lm_accuracy" and share is not None:
            against = f"{percent(share)} of the teacher's"
        else:
            against = f"{difference(key, student[key] - teacher[key])} ({better} is better)"
        table.append((label(key), value(key, teacher[key]), value(key, student[key]), against))
    table.append((label("num_parameters"), value("num_parameters", teacher["num_parameters"]),
                  value("num_parameters", student["num_parameters"]),
                  f"{percent(comparison['parameter_ratio'])} of the teacher's"))
    for key in ("num_hidden_layers", "hidden_size"):
        table.append((label(key), value(key, teacher[key]), value(key, student[key]), ""))
    table += _speed_rows(comparison)

    summary = (f"The student makes the teacher's top-1 prediction at "
               f"{percent(comparison['student_top1_agreement'])} of the masked positions"
               + (f", and its accuracy is {percent(share)} of the teacher's" if share is not None
                  else " (the teacher gets none right, so there is no accuracy share)")
               + f", with {percent(comparison['parameter_ratio'])} of its parameters.")
    cpu = comparison.get("speed", {}).get("cpu")
    if cpu:
        summary += (f" Speed-up on the CPU: {times(cpu['throughput'])} the throughput, "
                    f"{times(cpu['latency'])} at batch 1.")
    settings = comparison.get("speed_settings")
    how = (f" Speed: the whole fill-mask forward pass (logits at every position) in "
           f"{settings.get('dtype', 'float32')}, {settings.get('repeats')} timed passes after a "
           f"warm-up, {settings.get('cpu_threads')} CPU threads." if settings else
           " Speed was not measured.")
    sizes = (f"Both models on the same held-out data: {value('examples', comparison['examples'])} "
             f"({value('masked_positions', comparison['masked_positions'])} masked).")
    return (f"<p>{html.esc(sizes + how)}</p>"
            + html.table(("", "teacher", "student", "student against the teacher"), table)
            + f"<p><b>{html.esc(summary)}</b></p>")


def run_figures(manifest, intervals):
    """The distiller's summary, its throughput taken from the last interval when missing."""
    figures = {k: intervals[-1][k] for k in THROUGHPUT if intervals and k in intervals[-1]}
    figures.update({k: v for k, v in manifest.items() if k in RUN_FIGURES or k in THROUGHPUT})
    if "final_loss" in manifest:
        figures["final_distill_loss"] = manifest["final_loss"]
    return figures


def _curves(intervals, comparison):
    steps = [e["step"] for e in intervals]
    losses = {"total": [e["loss"] for e in intervals]}
    losses.update({name: [e[key] for e in intervals] for key, name in LOSS_PARTS.items()
                   if all(key in e for e in intervals)})
    figures = [plots.curves(steps, losses, "Distillation loss and its parts", "loss")]
    agreement = {"same top-1 as teacher": [e["teacher_agreement"] for e in intervals]}
    if all("masked_lm_accuracy" in e for e in intervals):
        agreement["student accuracy"] = [e["masked_lm_accuracy"] for e in intervals]
    markers = ({"held-out agreement": (steps[-1], comparison["student_top1_agreement"])}
               if comparison else {})
    figures.append(plots.curves(steps, agreement, "Student vs teacher (train batches)",
                                "share of masked positions", markers))
    if all("learning_rate" in e for e in intervals):
        figures.append(plots.curves(steps, {"train": [e["learning_rate"] for e in intervals]},
                                    "Learning rate", "learning rate"))
    return '<div class="plots">' + "".join(html.png(f) for f in figures) + "</div>"


def _training_section(student):
    figures = figures_table(run_figures(student.manifest, student.intervals), student.intervals,
                            RUN_FIGURES, "distillation")
    if not student.intervals:
        return figures + f"<p>The student has no {LOG_FILE}: no curves.</p>"
    return (figures + _curves(student.intervals, student.comparison)
            + html.details(f"Every logged interval ({len(student.intervals)})",
                           log_table([{"distill_loss": e["loss"], **e} for e in student.intervals],
                                     LOG_COLUMNS)))


def student_headline(student, examples, student_predictions):
    """The student's numbers among the run's headline metrics (the KFP run page's)."""
    values = {}
    if "global_step" in student.manifest:
        values["distill_steps"] = student.manifest["global_step"]
    comparison = student.comparison or {}
    if comparison:
        values["student_masked_lm_accuracy"] = comparison["student"]["masked_lm_accuracy"]
        values["student_top1_agreement"] = comparison["student_top1_agreement"]
        if comparison["student_accuracy_share"] is not None:
            values["student_accuracy_share"] = comparison["student_accuracy_share"]
        values["student_num_parameters"] = comparison["student"]["num_parameters"]
    cpu = comparison.get("speed", {}).get("cpu")
    if cpu:
        values["student_speedup"] = cpu["throughput"]
        values["student_latency_speedup"] = cpu["latency"]
    if examples:
        values["fill_mask_top5_student"] = fill_mask.hits(examples, student_predictions)
    return values


def student_section(student, teacher_dir, examples, teacher_predictions):
    """(the section's HTML, the student's headline metrics) of `read_student`'s result (None:
    skipped; check it with `check_teacher` first); `examples` and `teacher_predictions` are the
    report's fill-mask sentences and the teacher's (the report's converted model's) predictions
    on them."""
    if student is None:
        return f"<p>{SKIPPED}</p>", {}
    student_predictions = fill_mask.predict(student.directory, examples)
    log.info("student %s: fill-mask on %d held-out sentences",
             artifact_name(student.directory), len(examples))
    body = (_introduction(student, teacher_dir)
            + "<h3>Teacher vs student</h3>" + _comparison_section(student.comparison)
            + "<h3>Distillation</h3>" + _training_section(student)
            + "<h3>Fill-mask, teacher and student</h3>"
            + fill_mask.side_by_side(examples, {"teacher": teacher_predictions,
                                                "student": student_predictions}))
    return body, student_headline(student, examples, student_predictions)
