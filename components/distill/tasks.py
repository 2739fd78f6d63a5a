"""What the pipeline's distill task runs (a plain function; `spec.py` declares it and
`components/kfp/generated/distill.py`, written from that, wraps it for KFP)."""

from components.distill.arguments import DistillArguments

# The student artifact of a run that skipped distillation (the report says so).
SKIPPED_KIND = "distilled_model"


def run_distill_task(teacher, pretraining_data, student, metrics, args: DistillArguments | None,
                     num_gpus=0, checkpoint_root=""):
    """Distil `teacher` (a transformers model) on the train split of `pretraining_data` into
    `student`; compare them on the held-out split into `metrics`. `args` None: the run skips
    distillation (`spec.SKIP`), and the student is only a manifest saying so."""
    import json
    import os

    from components.common import lineage
    from components.common.artifacts import atomic_output_dir, write_manifest
    from components.common.errors import exit_on_user_error
    from components.common.kfp_outputs import log_metrics
    from components.common.run_state import check_state_dir_writable, checkpoint_dir_for

    checkpoint_dir = checkpoint_dir_for(checkpoint_root, student.uri) \
        if checkpoint_root and args else None
    if checkpoint_dir:  # one line, not a traceback; before torch loads
        exit_on_user_error(check_state_dir_writable)(checkpoint_dir)
    with open(os.path.join(teacher.path, "manifest.json"), encoding="utf-8") as f:
        teacher_model = json.load(f).get(lineage.MODEL)
    made_from = {lineage.DATA: lineage.data_fingerprint(pretraining_data.path)}
    if teacher_model:
        made_from[lineage.MODEL] = teacher_model
    student.metadata.update(made_from)
    if args is None:
        with atomic_output_dir(student.path) as tmp:
            write_manifest(tmp, {"kind": SKIPPED_KIND, "skipped": True,
                                 "reason": "distill_num_train_steps is 0"})
        log_metrics(metrics, {}, made_from)
        return
    from components.distill.loop import distill

    summary = distill(args.replace(
        teacher_dir=teacher.path, input_dir=pretraining_data.path, output_dir=student.path,
        num_processes=num_gpus or None, checkpoint_dir=checkpoint_dir))
    log_metrics(metrics, summary, made_from)
