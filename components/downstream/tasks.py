"""What the pipeline's downstream step runs (a plain function; a KFP component wraps it).

The base model, the adapted teacher (the trained model, converted) and the distilled student are
fine-tuned on the labelled rows with one recipe and the same seeds (`run.run_downstream`), named
`base`, `adapted` and `student` (`layout.py`): the base is the reference, so
`differences["adapted"]` is the gain of domain-adaptive pretraining; the student's share of the
teacher is `stats.share`. A student
directory of a skipped distillation (only a manifest saying so) is left out, and metrics.json and
the manifest say why. Without labelled rows (no file, no query) the step is skipped: its output
is a manifest saying so and why, and it succeeds.

Lineage: the output artifact's and the Metrics' metadata hold the fingerprints the models'
manifests carry (`common/lineage.py`) and the labelled rows' sha256; the output's manifest holds
each model's weights sha256, which the report checks against the models it shows
(`components/report/downstream.py`).
"""

import os

from components.downstream.arguments import FineTuneArguments
from components.downstream.layout import ADAPTED, BASE, MANIFEST_KIND, STUDENT

SKIPPED_REASON = ("no labelled rows were given (neither a labelled file nor a query on a "
                  "database)")
# The metadata keys of what the step was made from, beside lineage.MODEL (the teacher's).
BASE_MODEL = "base_model_fingerprint"
LABELLED = "labelled_sha256"
LABELLED_EVAL = "labelled_eval_sha256"


def skipped_student(student_dir):
    """Why the distill stage's output `student_dir` holds no student (its manifest's reason),
    or None when it holds one."""
    from components.common.artifacts import read_manifest

    manifest = read_manifest(student_dir)
    if manifest.get("skipped") or not os.path.isfile(os.path.join(student_dir, "config.json")):
        return f"distillation was skipped ({manifest.get('reason', 'no student was made')})"
    return None


def models_to_compare(base_dir, teacher_dir, student_dir):
    """([model name], [model directory], {left-out model name: why}), in the order base,
    adapted, student; `student_dir` None or a skipped distillation's output leaves the student
    out."""
    names, dirs, left_out = [BASE, ADAPTED], [base_dir, teacher_dir], {}
    reason = "no student was given" if student_dir is None else skipped_student(student_dir)
    if reason:
        left_out[STUDENT] = reason
    else:
        names.append(STUDENT)
        dirs.append(student_dir)
    return names, dirs, left_out


def share_metrics(result):
    """Flat Metrics of the student's share of the adapted teacher (`stats.share`), e.g.
    `student_share_of_adapted_accuracy_mean`; {} without a student."""
    from components.downstream import stats

    if STUDENT not in result["models"]:
        return {}
    flat = {}
    for metric, ratio in stats.share(result["models"], STUDENT, ADAPTED).items():
        for key in ("mean", "ci95_low", "ci95_high"):
            if ratio is not None and ratio[key] is not None:
                flat[f"{STUDENT}_share_of_{ADAPTED}_{metric}_{key}"] = ratio[key]
    return flat


def run_downstream_task(base_model, teacher, student, evaluation, metrics,
                        args: FineTuneArguments):
    """Fine-tune `base_model`, `teacher` and `student` (artifacts of transformers BERT
    directories; `student` may be a skipped distillation's output, or None) on the labelled rows
    of `args` into `evaluation` (a directory artifact) and `metrics` (a KFP Metrics artifact);
    return `run_downstream`'s result, or None when there are no labelled rows (skipped)."""
    from components.common import lineage
    from components.common.artifacts import atomic_output_dir, read_manifest, write_manifest
    from components.common.kfp_outputs import log_metrics

    made_from = {key: fingerprint for key, fingerprint in (
        (lineage.MODEL, lineage.recorded_fingerprint(teacher.path)),
        (BASE_MODEL, lineage.recorded_fingerprint(base_model.path))) if fingerprint}
    if not args.has_labelled_rows():
        with atomic_output_dir(evaluation.path) as tmp:
            write_manifest(tmp, {"kind": MANIFEST_KIND, "skipped": True,
                                 "reason": SKIPPED_REASON})
        evaluation.metadata.update(made_from)
        log_metrics(metrics, {}, made_from)
        return None
    from components.downstream.arguments import DownstreamArguments
    from components.downstream.run import flat_metrics, run_downstream

    names, dirs, left_out = models_to_compare(base_model.path, teacher.path,
                                              student.path if student is not None else None)
    result = run_downstream(DownstreamArguments(
        model_dir=dirs, model_name=names, output_dir=evaluation.path,
        **args.fine_tune_values()), left_out)
    labelled = read_manifest(evaluation.path, kind=MANIFEST_KIND)["labelled"]
    made_from[LABELLED] = labelled["train"]["sha256"]
    if labelled["eval"] is not None:
        made_from[LABELLED_EVAL] = labelled["eval"]["sha256"]
    evaluation.metadata.update({**made_from, "left_out": left_out})
    log_metrics(metrics, {**flat_metrics(result), **share_metrics(result)}, made_from)
    return result
