"""The table `run-local` and `rerun` print at the end: steps, whether they ran or came from the
cache, their wall time, and the key metrics they logged; and the footer saying where the results
are."""

import os
import shutil

# stage -> [(task name, label, metrics artifact or None, [(metric key, short label)])]; task
# names are those of the compiled pipeline (definition.ARTIFACTS).
EVAL = [("masked_lm_loss", "loss"), ("masked_lm_accuracy", "accuracy"), ("perplexity", "ppl")]
PARITY = [("max_abs_logit_diff", "max |Δlogit|")]
ROWS = {
    "demo_base_model": [("init-random-model", "demo base model (random init)", None, [])],
    "extract": [("extract", "extract", "extract_metrics",
                 [("rows_read", "rows"), ("rows_kept", "kept"), ("characters", "chars")])],
    "pretraining_data": [
        ("split-corpus", "split corpus", None, []),
        ("pretraining-data-shard", "pretraining data", None, []),
        ("merge-pretraining-data", "merge shards", "data_metrics",
         [("train_instances", "train"), ("heldout_instances", "held-out"),
          ("padding_fraction", "padding")])],
    "data_report": [("data-report", "data report", None, [])],
    "train": [("train", "train", "train_metrics",
               [("global_step", "steps"), ("final_loss", "final loss"),
                ("examples_per_sec", "ex/s")])],
    "evaluate": [("evaluate-base-model", "evaluate base model", "base_eval", EVAL),
                 ("evaluate-trained-model", "evaluate trained model", "trained_eval", EVAL)],
    "convert": [("convert-base-model", "convert base model", "base_parity", PARITY),
                ("convert-trained-model", "convert trained model", "parity", PARITY)],
    "distill": [("distill", "distill student", "distill_metrics",
                 [("student_masked_lm_accuracy", "accuracy"),
                  ("student_top1_agreement", "agreement"),
                  ("cpu_throughput_speedup", "speed-up")])],
    "serve_export": [("serve-export", "serve export (ONNX)", "serving_metrics",
                      [("fp32_max_abs_diff_logits", "fp32 max |Δlogit|"),
                       ("int8_top1_agreement", "int8 agreement"),
                       ("latency_onnx_int8_p50_speedup_1x128_1t", "int8 speed-up 1x128")])],
    "downstream": [("downstream", "downstream task", "downstream_metrics",
                    [("base_accuracy_mean", "base accuracy"),
                     ("adapted_accuracy_mean", "adapted"), ("student_accuracy_mean", "student")])],
    "export": [("export-tf-model", "export tf_model to HDFS", None, []),
               ("export-hf-model", "export hf_model to HDFS", None, []),
               ("export-student", "export student to HDFS", None, []),
               ("export-serving-model", "export serving_model to HDFS", None, [])],
    "report": [("report", "report", "report_metrics",
                [("masked_lm_loss_before", "loss before"),
                 ("masked_lm_loss_after", "after")])],
}


def _format(value):
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, float):
        if abs(value) < 1e-2 or abs(value) >= 1e4:
            return f"{value:.3g}"
        return f"{value:.1f}" if abs(value) >= 100 else f"{value:.4f}"
    return str(value)


def key_metrics(metadata, keys):
    return ", ".join(f"{label} {_format(metadata[key])}" for key, label in keys
                     if key in metadata)


def rows_of(stage):
    """ROWS[stage]; a step without rows of its own gets one per task (as KFP names it), with
    the Metrics artifact the task makes and no key metrics picked, so that a new stage needs
    no line here (ARCHITECTURE.md, "Add a stage in one place")."""
    if stage in ROWS:
        return ROWS[stage]
    from components.pipeline import definition

    spec = definition.STAGES[stage].spec
    metrics = {task: artifact for artifact, (task, _) in spec.makes.items()
               if spec.artifact_kind(artifact) == "Metrics"}
    return [(definition.task_name(name), name.replace("_", " "), metrics.get(name), [])
            for task in spec.tasks for name in task.names]


def step_rows(stages, tasks, artifacts, reused=()):
    """[(label, status, seconds, metrics)] for the tasks of `stages`, in pipeline order; `tasks`:
    what kfp.local ran (`local.TaskEvents.tasks`), a task not in it came from the cache, or,
    when in `reused`, from the run a rerun started from."""
    rows = []
    for stage in stages:
        for task, label, metrics, keys in rows_of(stage):
            timing = tasks.get(task)
            if task in reused:
                status, seconds = "reused", ""
            elif timing is None:
                status, seconds = "cached", ""
            else:
                status = "ran" if timing.get("status") == "SUCCESS" else timing.get("status", "?")
                seconds = f"{timing.get('end', timing['start']) - timing['start']:.1f}"
                if timing["runs"] > 1:
                    label = f"{label} ×{timing['runs']}"
            values = artifacts.get(metrics, {}).get("metadata", {}) if metrics else {}
            rows.append((label, status, seconds, key_metrics(values, keys)))
    return rows


def format_table(rows):
    header = ("step", "status", "seconds", "key metrics")
    widths = [max(len(str(r[i])) for r in (header, *rows)) for i in range(3)]
    lines = []
    for i, row in enumerate((header, *rows)):
        lines.append("  ".join([str(row[0]).ljust(widths[0]), str(row[1]).ljust(widths[1]),
                                str(row[2]).rjust(widths[2]), str(row[3])]).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths) + "  " + "-" * 11)
    return "\n".join(lines)


# What the footer under the table names: (artifact, label); the HTML ones get a browser copy.
FOOTER = (("hf_model", "transformers model"), ("report", "report"),
          ("data_report", "data report"), ("summary", "summary"))
HTML_ARTIFACTS = ("report", "data_report")


def browser_copy(path):
    """A copy of the HTML artifact at `path` named `<its directory>.html`, beside it: KFP names
    the file `html`, which a browser shows as text; the artifact stays where the KFP UI reads
    it. Returns the copy's path, or `path` when it is not a local file (a cluster's URI)."""
    if not os.path.isfile(path):
        return path
    copy = os.path.join(os.path.dirname(path), os.path.basename(os.path.dirname(path)) + ".html")
    shutil.copyfile(path, copy + ".tmp")
    os.replace(copy + ".tmp", copy)
    return copy


def footer_lines(artifacts, run_dir, made=None):
    """Where the results are, one line each; `made`: the artifacts this run made (None: all),
    the others are marked as an earlier run's."""
    lines = []
    for name, label in FOOTER:
        if name not in artifacts:
            continue
        path = artifacts[name]["uri"]
        if name in HTML_ARTIFACTS:
            path = browser_copy(path)
        earlier = made is not None and name not in made
        lines.append(f"{label + ':':20} {path}"
                     + ("  (an earlier run's, not remade by this one)" if earlier else ""))
    lines.append(f"{'run directory:':20} {run_dir}")
    return lines
