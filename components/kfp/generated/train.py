"""KFP components of the train stage, written by `make generate` from components/train/spec.py and
the declarations it names: edit those, not this file."""

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
    learning_rate: float = 2e-05,
    save_checkpoints_steps: int = 1000,
    log_every_n_steps: int = 100,
    num_gpus: int = 0,
    checkpoint_root: str = "",
):
    """Train from `base_model` on the train split of `pretraining_data`; write the trained
    model."""
    from components.common.errors import recording_step_error
    from components.train.arguments import TrainArguments
    from components.train.tasks import run_train_task

    with recording_step_error():
        args = TrainArguments.from_run_values(
            train_batch_size=train_batch_size,
            num_train_steps=num_train_steps,
            num_warmup_steps=num_warmup_steps,
            learning_rate=learning_rate,
            save_checkpoints_steps=save_checkpoints_steps,
            log_every_n_steps=log_every_n_steps,
        )
        run_train_task(
            pretraining_data,
            base_model,
            model,
            metrics,
            args,
            num_gpus=num_gpus,
            checkpoint_root=checkpoint_root,
        )
