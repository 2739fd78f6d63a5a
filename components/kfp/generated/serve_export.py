"""KFP components of the serve_export stage, written by `make generate` from
components/serve_export/spec.py and the declarations it names: edit those, not this file."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Model, Output

from components.images import image


@dsl.component(base_image=image("serve_export"), install_kfp_package=False)
def serve_export(
    student: Input[Model],
    teacher: Input[Model],
    pretraining_data: Input[Dataset],
    serving_model: Output[Model],
    metrics: Output[Metrics],
    head: str = "mlm",
    quantize: str = "none",
    opset: int = 18,
    max_abs_diff: float = 0.0001,
    min_int8_agreement: float = 0.98,
    max_parity_examples: int = 512,
    parity_batch_size: int = 8,
    latency_runs: int = 10,
    latency_seconds_per_cell: float = 2.0,
    latency_batch_sizes: str = "1,8",
    latency_seq_lengths: str = "32,128",
):
    """Export `student` (or `teacher` when distillation was skipped) to ONNX; check it on the
    held-out records of `pretraining_data`; time it beside `teacher`."""
    from components.common.errors import recording_step_error
    from components.serve_export.arguments import ExportArguments
    from components.serve_export.tasks import run_serve_export_task

    with recording_step_error():
        args = ExportArguments.from_run_values(
            head=head,
            quantize=quantize,
            opset=opset,
            max_abs_diff=max_abs_diff,
            min_int8_agreement=min_int8_agreement,
            max_parity_examples=max_parity_examples,
            parity_batch_size=parity_batch_size,
            latency_runs=latency_runs,
            latency_seconds_per_cell=latency_seconds_per_cell,
        )
        run_serve_export_task(
            student,
            teacher,
            pretraining_data,
            serving_model,
            metrics,
            args,
            latency_batch_sizes=latency_batch_sizes,
            latency_seq_lengths=latency_seq_lengths,
        )
