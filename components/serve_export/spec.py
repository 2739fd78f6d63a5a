"""The serve_export stage as the pipeline sees it (`components.common.stage_spec`): the
distilled student (the teacher when distillation was skipped) exported to ONNX for an online
service, checked against PyTorch on the run's held-out records and timed beside the teacher
(distiller image: torch, transformers, onnx, onnxruntime). A CPU pod: its latency figures are
what a CPU server with the pod's cores sees, so its size is the serving machine's."""

from components.common.stage_spec import Pod, StageSpec, TaskSpec
from components.serve_export import tasks
from components.serve_export.arguments import (
    LATENCY_GRID,
    PIPELINE_FIELDS,
    ExportArguments,
    ServeExportArguments,
)

SERVE_EXPORT = StageSpec(
    name="serve_export", image="distiller", package="serve_export", order=75,
    doc="The student as ONNX graphs (fp32, int8) for serving, checked and timed.",
    tasks=(TaskSpec(
        "serve_export", tasks.run_serve_export_task,
        "Export `student` (or `teacher` when distillation was skipped) to ONNX; check it on the "
        "held-out records of `pretraining_data`; time it beside `teacher`.",
        inputs={"student": "Model", "teacher": "Model", "pretraining_data": "Dataset"},
        outputs={"serving_model": "Model", "metrics": "Metrics"}, arguments=ExportArguments,
        parameters=(*PIPELINE_FIELDS, *LATENCY_GRID)),),
    reads={"serve_export": {"student": "student", "teacher": "hf_model",
                            "pretraining_data": "pretraining_data"}},
    makes={"serving_model": ("serve_export", "serving_model"),
           "serving_metrics": ("serve_export", "metrics")},
    pod=Pod(cpu="4", memory="16G"),
    prefix="serve_",
    clis={("components.serve_export", None): ServeExportArguments},
)
