"""The downstream stage as the pipeline sees it (`components.common.stage_spec`): the base
model, the adapted teacher and the distilled student fine-tuned on the users' labelled rows with
one recipe and the same seeds (distiller image, one GPU). The labelled rows come from a file, or
from a query on a database as extract reads one, with the same Secret's credentials; without
either the step succeeds with a manifest saying it was skipped."""

from components.common.stage_spec import Pod, StageSpec, TaskSpec
from components.downstream import tasks
from components.downstream.arguments import (
    PIPELINE_FIELDS,
    DownstreamArguments,
    FineTuneArguments,
)

DOWNSTREAM = StageSpec(
    name="downstream", image="distiller", package="downstream", order=77,
    doc="Base, adapted model and student fine-tuned on the labelled task (optional).",
    tasks=(TaskSpec(
        "downstream", tasks.run_downstream_task,
        "Fine-tune `base_model`, `teacher` and `student` on the labelled rows with one recipe "
        "and seeds; compare them.",
        inputs={"base_model": "Model", "teacher": "Model", "student": "Model"},
        outputs={"evaluation": "Artifact", "metrics": "Metrics"}, arguments=FineTuneArguments,
        parameters=PIPELINE_FIELDS),),
    reads={"downstream": {"base_model": "base_hf_model", "teacher": "hf_model",
                          "student": "student"}},
    makes={"downstream": ("downstream", "evaluation"),
           "downstream_metrics": ("downstream", "metrics")},
    # One GPU at most: each model is fine-tuned on one device.
    pod=Pod(gpus="one", retried=True, secret="source"),
    prefix="downstream_",
    clis={("components.downstream", None): DownstreamArguments},
)
