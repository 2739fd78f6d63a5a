"""The distill stage as the pipeline sees it (`components.common.stage_spec`): the converted
teacher distilled into a small student (distiller image, GPU). The run parameters are the
distiller's own flags, prefixed (several are the trainer's too); the sequence lengths come from
the data."""

from components.common.arguments import Param
from components.common.stage_spec import Pod, Skip, StageSpec, TaskSpec
from components.distill import tasks
from components.distill.arguments import PIPELINE_FIELDS, CompareArguments, DistillArguments

# A run that does not distil: `num_train_steps` 0 (the distiller's own flag takes 1 and more).
SKIP = Skip("num_train_steps", 0,
            "distillation steps; 0 skips the distill stage (its task does nothing)")
# Fixed when the pipeline is built (definition.Settings), not run parameters.
NUM_GPUS = Param("num_gpus", int, 0, "the GPUs this pod was granted, one process each (0: the "
                 "CPU)")
CHECKPOINT_ROOT = Param("checkpoint_root", str, "", "where the distillation state lives (a "
                        "persistent volume on a cluster), in a sub-directory named after this "
                        "task's output, which a retry of the task gets again; '': in the "
                        "student directory")

DISTILL = StageSpec(
    name="distill", image="distiller", package="distill", order=70,
    doc="The trained model, converted, distilled into a small student.",
    tasks=(TaskSpec(
        "distill", tasks.run_distill_task,
        "Distil `teacher` on the train split of `pretraining_data` into a small `student`; "
        "compare them on the held-out split.",
        inputs={"teacher": "Model", "pretraining_data": "Dataset"},
        outputs={"student": "Model", "metrics": "Metrics"}, arguments=DistillArguments,
        parameters=PIPELINE_FIELDS, settings=(NUM_GPUS, CHECKPOINT_ROOT), skip=SKIP),),
    reads={"distill": {"teacher": "hf_model", "pretraining_data": "pretraining_data"}},
    makes={"student": ("distill", "student"), "distill_metrics": ("distill", "metrics")},
    pod=Pod(gpus="all", retried=True, checkpoint_volume=True),
    prefix="distill_",
    clis={("components.distill", None): DistillArguments,
          ("components.distill.evaluate", None): CompareArguments},
)
