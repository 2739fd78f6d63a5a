"""KFP component: held-out masked-LM accuracy, loss and perplexity of a model (trainer image)."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Model, Output

from components.images import image


@dsl.component(base_image=image("evaluate"), install_kfp_package=False)
def evaluate(
    pretraining_data: Input[Dataset],
    model: Input[Model],
    metrics: Output[Metrics],
    eval_batch_size: int = 64,
):
    """Evaluate `model` on the held-out split of `pretraining_data`."""
    from components.common.kfp_outputs import log_metrics
    from components.evaluate import evaluate as run_evaluation

    result = run_evaluation(
        input_dir=pretraining_data.path,
        init_checkpoint=model.path,
        eval_batch_size=eval_batch_size,
    )
    log_metrics(metrics, result)
