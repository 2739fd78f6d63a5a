"""KFP component: continued masked-LM pretraining of a Google-format BERT (trainer image, GPU).

The run parameters are the trainer's own (`TrainArguments`); the sequence lengths come from the
data's manifest, so data prepared at 64 or 512 tokens trains as it is.
"""

from kfp.dsl import Dataset, Metrics, Model

from components.common.arguments import Param
from components.common.kfp_component import component
from components.train import tasks
from components.train.arguments import PIPELINE_FIELDS, TrainArguments

# Fixed when the pipeline is compiled (definition.Settings), not run parameters.
TASK_PARAMETERS = (
    Param("num_gpus", int, 0, "the GPUs this pod was granted (0: none expected); fewer visible "
          "stops the run"),
    Param("checkpoint_root", str, "", "where the training state lives (a persistent volume on "
          "a cluster), in a sub-directory named after this task's output, which a retry of the "
          "task gets again; '': in the model directory"),
)


train = component(
    "train", tasks.run_train_task, "train",
    TrainArguments.params(PIPELINE_FIELDS) + list(TASK_PARAMETERS),
    inputs={"pretraining_data": Dataset, "base_model": Model},
    outputs={"model": Model, "metrics": Metrics},
    doc="Train from `base_model` on the train split of `pretraining_data`; write the trained "
        "model.")
