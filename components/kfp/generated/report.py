"""KFP components of the report stage, written by `make generate` from components/report/spec.py
and the declarations it names: edit those, not this file."""

from kfp import dsl
from kfp.dsl import HTML, Artifact, Dataset, Input, Markdown, Metrics, Model, Output

from components.images import image


@dsl.component(base_image=image("report"), install_kfp_package=False)
def report(
    pretraining_data: Input[Dataset],
    data_metrics: Input[Metrics],
    model: Input[Model],
    train_metrics: Input[Metrics],
    base_eval: Input[Metrics],
    trained_eval: Input[Metrics],
    base_hf_model: Input[Model],
    hf_model: Input[Model],
    parity: Input[Metrics],
    base_parity: Input[Metrics],
    student: Input[Model],
    distill_metrics: Input[Metrics],
    downstream: Input[Artifact],
    serving_model: Input[Model],
    html: Output[HTML],
    summary: Output[Markdown],
    metrics: Output[Metrics],
    fill_mask_examples: int = 8,
):
    """Training curves, held-out before/after, fill-mask examples, parity, the distilled
    student, the downstream task, the serving export; Markdown summary."""
    from components.common.errors import recording_step_error
    from components.report.arguments import ModelReportArguments
    from components.report.tasks import run_model_report_task

    with recording_step_error():
        args = ModelReportArguments.from_run_values(
            fill_mask_examples=fill_mask_examples,
        )
        run_model_report_task(
            pretraining_data,
            data_metrics,
            model,
            train_metrics,
            base_eval,
            trained_eval,
            base_hf_model,
            hf_model,
            parity,
            base_parity,
            student,
            distill_metrics,
            downstream,
            serving_model,
            html,
            summary,
            metrics,
            args,
        )
