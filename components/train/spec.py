"""The train stage as the pipeline sees it (`components.common.stage_spec`): continued
masked-LM pretraining of a Google-format BERT (trainer image, GPU). The sequence lengths come
from the data's manifest, so data prepared at 64 or 512 tokens trains as it is."""

from components.common.arguments import Param
from components.common.stage_spec import Pod, StageSpec, TaskSpec
from components.train import tasks
from components.train.arguments import PIPELINE_FIELDS, TrainArguments

# Fixed when the pipeline is built (definition.Settings), not run parameters.
NUM_GPUS = Param("num_gpus", int, 0, "the GPUs this pod was granted (0: none expected); fewer "
                 "visible stops the run")
CHECKPOINT_ROOT = Param("checkpoint_root", str, "", "where the training state lives (a "
                        "persistent volume on a cluster), in a sub-directory named after this "
                        "task's output, which a retry of the task gets again; '': in the model "
                        "directory")

TRAIN = StageSpec(
    name="train", image="trainer", package="train", order=40,
    doc="Continued masked-LM pretraining from the base model.",
    tasks=(TaskSpec(
        "train", tasks.run_train_task,
        "Train from `base_model` on the train split of `pretraining_data`; write the trained "
        "model.",
        inputs={"pretraining_data": "Dataset", "base_model": "Model"},
        outputs={"model": "Model", "metrics": "Metrics"}, arguments=TrainArguments,
        parameters=PIPELINE_FIELDS, settings=(NUM_GPUS, CHECKPOINT_ROOT)),),
    reads={"train": {"pretraining_data": "pretraining_data", "base_model": "base_model"}},
    makes={"model": ("train", "model"), "train_metrics": ("train", "metrics")},
    pod=Pod(gpus="all", retried=True, checkpoint_volume=True),
    clis={("components.train", None): TrainArguments},
)
