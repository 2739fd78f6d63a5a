"""KFP components of the evaluate stage, written by `make generate` from
components/evaluate/spec.py and the declarations it names: edit those, not this file."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Model, Output

from components.images import image


@dsl.component(base_image=image("evaluate"), install_kfp_package=False)
def evaluate_base_model(
    pretraining_data: Input[Dataset],
    model: Input[Model],
    metrics: Output[Metrics],
    eval_batch_size: int = 64,
):
    """Evaluate `model` on the held-out split of `pretraining_data`."""
    from components.common.errors import recording_step_error
    from components.evaluate.arguments import EvaluateArguments
    from components.evaluate.tasks import run_evaluate_task

    with recording_step_error():
        args = EvaluateArguments.from_run_values(
            eval_batch_size=eval_batch_size,
        )
        run_evaluate_task(
            pretraining_data,
            model,
            metrics,
            args,
        )


@dsl.component(base_image=image("evaluate"), install_kfp_package=False)
def evaluate_trained_model(
    pretraining_data: Input[Dataset],
    model: Input[Model],
    metrics: Output[Metrics],
    eval_batch_size: int = 64,
):
    """Evaluate `model` on the held-out split of `pretraining_data`."""
    from components.common.errors import recording_step_error
    from components.evaluate.arguments import EvaluateArguments
    from components.evaluate.tasks import run_evaluate_task

    with recording_step_error():
        args = EvaluateArguments.from_run_values(
            eval_batch_size=eval_batch_size,
        )
        run_evaluate_task(
            pretraining_data,
            model,
            metrics,
            args,
        )
