"""KFP component: held-out masked-LM accuracy, loss and perplexity of a model (trainer image)."""

from kfp.dsl import Dataset, Metrics, Model

from components.common.kfp_component import component
from components.evaluate.arguments import EvaluateArguments


def run_evaluate_task(pretraining_data, model, metrics, **parameters):
    """Evaluate `model` on the held-out split of `pretraining_data`."""
    from components.common.kfp_outputs import log_metrics
    from components.evaluate.heldout import evaluate

    log_metrics(metrics, evaluate(EvaluateArguments(
        input_dir=pretraining_data.path, init_checkpoint=model.path, **parameters)))


evaluate = component(
    "evaluate", run_evaluate_task, "evaluate", EvaluateArguments.params(["eval_batch_size"]),
    inputs={"pretraining_data": Dataset, "model": Model}, outputs={"metrics": Metrics},
    doc="Evaluate `model` on the held-out split of `pretraining_data`.")
