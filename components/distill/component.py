"""KFP component: distil the converted teacher into a small student (distiller image, GPU).

The run parameters are the distiller's own (`DistillArguments`, `PIPELINE_FIELDS`); the
sequence lengths come from the data.
"""

from kfp.dsl import Dataset, Metrics, Model

from components.common.arguments import Param
from components.common.kfp_component import component
from components.distill import tasks
from components.distill.arguments import PIPELINE_FIELDS, DistillArguments

# Fixed when the pipeline is compiled (definition.Settings), not run parameters.
TASK_PARAMETERS = (
    Param("num_gpus", int, 0, "the GPUs this pod was granted, one process each (0: the CPU)"),
    Param("checkpoint_root", str, "", "where the distillation state lives (a persistent volume "
          "on a cluster), in a sub-directory named after this task's output, which a retry of "
          "the task gets again; '': in the student directory"),
)


distill = component(
    "distill", tasks.run_distill_task, "distill",
    DistillArguments.params(PIPELINE_FIELDS) + list(TASK_PARAMETERS),
    inputs={"teacher": Model, "pretraining_data": Dataset},
    outputs={"student": Model, "metrics": Metrics},
    doc="Distil `teacher` on the train split of `pretraining_data` into a small `student`; "
        "compare them on the held-out split.")
