"""KFP component: held-out masked-LM accuracy, loss and perplexity of a model (trainer image)."""

from kfp.dsl import Dataset, Metrics, Model

from components.common.kfp_component import component
from components.evaluate import tasks
from components.evaluate.arguments import PIPELINE_FIELDS, EvaluateArguments


def evaluate_component(name="evaluate"):
    """The evaluate component, its tasks named after `name` (the pipeline evaluates two models
    and names each task for what it evaluates)."""
    return component(
        name, tasks.run_evaluate_task, "evaluate", EvaluateArguments.params(PIPELINE_FIELDS),
        inputs={"pretraining_data": Dataset, "model": Model}, outputs={"metrics": Metrics},
        doc="Evaluate `model` on the held-out split of `pretraining_data`.")
