"""What the pipeline's serve_export step runs (a plain function; a KFP component wraps it).

The distilled student is exported for serving (`run.run_serve_export`), checked on the run's
held-out records and timed beside its teacher. When distillation was skipped (the student
directory holds only a manifest saying so) the teacher is exported in its place, timed alone,
and metrics.json (`exported`), the output's metadata and the Metrics say so.

Lineage: the output artifact's and the Metrics' metadata hold the fingerprint the teacher's
manifest carries (the trained model's, `common/lineage.py`) and the pretraining data's; the
output's manifest holds the exported model's weights sha256, which the report checks against
the model it shows.
"""

from components.serve_export.arguments import ExportArguments

# Metadata key of the exported model's role: "student", or "teacher" when none was distilled.
EXPORTED = "exported_model"


def skipped_student(student_dir):
    """Why the distill stage's output `student_dir` holds no student (its manifest's reason),
    or None when it holds one."""
    import os

    from components.common.artifacts import read_manifest
    from components.distill.output import MANIFEST_KIND

    manifest = read_manifest(student_dir, kind=MANIFEST_KIND)
    if manifest.get("skipped") or not os.path.isfile(os.path.join(student_dir, "config.json")):
        return f"distillation was skipped ({manifest.get('reason', 'no student was made')})"
    return None


def flat_metrics(metrics):
    """The export's figures as flat Metrics: the parity goals' figures, the graphs' sizes and,
    at the goal's cell of the latency grid, each model's p50 and speed-up per thread setting
    (e.g. `latency_onnx_int8_p50_speedup_1x128_1t`)."""
    from components.serve_export import latency

    flat = {"exported_teacher": int(metrics["exported"]["role"] == "teacher")}
    checked = metrics["parity"]
    flat["parity_examples"] = checked["data"]["examples"]
    flat["parity_masked_positions"] = checked["data"]["masked_positions"]
    flat["pytorch_masked_lm_accuracy"] = checked["pytorch"]["masked_lm_accuracy"]
    for graph in ("fp32", "int8"):
        if graph in checked:
            flat.update({f"{graph}_{key}": value for key, value in checked[graph].items()
                         if key.startswith("max_abs_diff") or key in (
                             "top1_agreement", "accuracy_drop")})
            flat[f"{graph}_bytes"] = metrics["graphs"][graph]["bytes"]
    figures = metrics.get("latency")
    for cell in latency.headline_cells(figures) if figures else ():
        where = f"{cell['batch']}x{cell['sequence']}_{cell['threads']}t"
        for model, summary in cell["models"].items():
            flat[f"latency_{model}_p50_ms_{where}"] = summary["p50_ms"]
            if model != figures["baseline"]:
                flat[f"latency_{model}_p50_speedup_{where}"] = summary["p50_speedup"]
    return flat


def grid_sizes(text, name):
    """A comma-separated latency grid run value ("1,8") → [1, 8]; one line naming `name`
    otherwise."""
    from components.common.errors import UserError
    from components.common.kfp_outputs import split_list

    try:
        return [int(item) for item in split_list(text)]
    except ValueError:
        raise UserError(f"{name}={text!r} is not a comma-separated list of integers",
                        where=name, fix="pass e.g. 1,8") from None


def run_serve_export_task(student, teacher, pretraining_data, serving_model, metrics,
                          args: ExportArguments, latency_batch_sizes="", latency_seq_lengths=""):
    """Export the distill stage's `student` (or `teacher`, when distillation was skipped) into
    `serving_model`, checked on the held-out records of `pretraining_data` and timed beside
    `teacher`, as `args` says; the flat figures and the lineage go to `metrics` (a KFP Metrics
    artifact). `student`, `teacher`, `pretraining_data` and `serving_model` are directory
    artifacts (`.path`, `.metadata`). `latency_batch_sizes`, `latency_seq_lengths`: the
    pipeline's comma-separated grid, over `args`' ("": as `args` says). Return
    `run_serve_export`'s metrics."""
    from components.common import lineage
    from components.common.kfp_outputs import log_metrics
    from components.serve_export.arguments import ServeExportArguments
    from components.serve_export.run import run_serve_export

    made_from = {lineage.DATA: lineage.data_fingerprint(pretraining_data.path)}
    fingerprint = lineage.model_record(teacher.path).get(lineage.MODEL)
    if fingerprint:
        made_from[lineage.MODEL] = fingerprint
    for name, text in (("latency_batch_sizes", latency_batch_sizes),
                       ("latency_seq_lengths", latency_seq_lengths)):
        if text:
            args = args.replace(**{name: grid_sizes(text, name)})
    why = skipped_student(student.path)
    paths = {"output_dir": serving_model.path, "input_dir": pretraining_data.path}
    if why:
        paths.update(model_dir=teacher.path, teacher_dir=None)
        role, why = "teacher", f"{why}, so the teacher is exported in the student's place"
    else:
        paths.update(model_dir=student.path, teacher_dir=teacher.path)
        role = "student"
    result = run_serve_export(ServeExportArguments(**paths, **args.export_values()), role, why)
    serving_model.metadata.update({**made_from, EXPORTED: role})
    log_metrics(metrics, flat_metrics(result), made_from)
    return result
