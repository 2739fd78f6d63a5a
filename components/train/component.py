"""KFP component: continued masked-LM pretraining of a Google-format BERT (trainer image, GPU)."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Model, Output

from components.images import image


@dsl.component(base_image=image("train"), install_kfp_package=False)
def train(
    pretraining_data: Input[Dataset],
    base_model: Input[Model],
    model: Output[Model],
    metrics: Output[Metrics],
    train_batch_size: int = 96,
    num_train_steps: int = 210000,
    num_warmup_steps: int = 1000,
    learning_rate: float = 2e-5,
    save_checkpoints_steps: int = 1000,
    log_every_n_steps: int = 100,
    num_gpus: int = 0,
    checkpoint_root: str = "",
):
    """Train from `base_model` on the train split of `pretraining_data`; write the trained model.

    `num_gpus`: the GPUs this pod was granted (0: none expected); fewer visible stops the run.
    `checkpoint_root`: where the training state lives (a persistent volume on a cluster), in a
    sub-directory named after this task's output, which a retry of the task gets again; "": in
    the model directory."""
    import os

    from components.common.artifacts import read_manifest
    from components.common.kfp_outputs import log_metrics
    from components.train import train as run_training
    from components.train.state import checkpoint_dir_for

    # The sequence shapes are the data's: data prepared at 64 or 512 tokens trains as it is.
    data = read_manifest(pretraining_data.path, kind="pretraining_data")
    summary = run_training(
        input_dir=pretraining_data.path,
        output_dir=model.path,
        bert_config_file=os.path.join(base_model.path, "bert_config.json"),
        init_checkpoint=base_model.path,
        train_batch_size=train_batch_size,
        max_seq_length=data["max_seq_length"],
        max_predictions_per_seq=data["max_predictions_per_seq"],
        num_train_steps=num_train_steps,
        num_warmup_steps=num_warmup_steps,
        learning_rate=learning_rate,
        save_checkpoints_steps=save_checkpoints_steps,
        log_every_n_steps=log_every_n_steps,
        num_gpus=num_gpus or None,
        checkpoint_dir=checkpoint_dir_for(checkpoint_root, model.uri) if checkpoint_root else None,
    )
    log_metrics(metrics, summary)
