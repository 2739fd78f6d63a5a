"""KFP component: continued masked-LM pretraining of a Google-format BERT (trainer image, GPU).

The run parameters are the trainer's own (`TrainArguments`); the sequence lengths come from the
data's manifest, so data prepared at 64 or 512 tokens trains as it is.
"""

from kfp.dsl import Dataset, Metrics, Model

from components.common.arguments import Param
from components.common.kfp_component import component
from components.train.arguments import TrainArguments

PIPELINE_PARAMETERS = ("train_batch_size", "num_train_steps", "num_warmup_steps",
                       "learning_rate", "save_checkpoints_steps", "log_every_n_steps")
# Fixed when the pipeline is compiled (definition.Settings), not run parameters.
TASK_PARAMETERS = (
    Param("num_gpus", int, 0, "the GPUs this pod was granted (0: none expected); fewer visible "
          "stops the run"),
    Param("checkpoint_root", str, "", "where the training state lives (a persistent volume on "
          "a cluster), in a sub-directory named after this task's output, which a retry of the "
          "task gets again; '': in the model directory"),
)


def run_train_task(pretraining_data, base_model, model, metrics, num_gpus, checkpoint_root,
                   **parameters):
    """Train from `base_model` on the train split of `pretraining_data` into `model`."""
    import os

    from components.common.artifacts import read_manifest
    from components.common.kfp_outputs import log_metrics
    from components.train.loop import train
    from components.train.state import checkpoint_dir_for

    data = read_manifest(pretraining_data.path, kind="pretraining_data")
    summary = train(TrainArguments(
        input_dir=pretraining_data.path, output_dir=model.path,
        bert_config_file=os.path.join(base_model.path, "bert_config.json"),
        init_checkpoint=base_model.path, max_seq_length=data["max_seq_length"],
        max_predictions_per_seq=data["max_predictions_per_seq"], num_gpus=num_gpus or None,
        checkpoint_dir=checkpoint_dir_for(checkpoint_root, model.uri) if checkpoint_root
        else None, **parameters))
    log_metrics(metrics, summary)


train = component(
    "train", run_train_task, "train",
    TrainArguments.params(PIPELINE_PARAMETERS) + list(TASK_PARAMETERS),
    inputs={"pretraining_data": Dataset, "base_model": Model},
    outputs={"model": Model, "metrics": Metrics},
    doc="Train from `base_model` on the train split of `pretraining_data`; write the trained "
        "model.")
