"""KFP component: held-out masked-LM accuracy, loss and perplexity of a model (trainer image)."""

from kfp.dsl import Dataset, Metrics, Model

from components.common.kfp_component import component
from components.evaluate import tasks
from components.evaluate.arguments import PIPELINE_FIELDS, EvaluateArguments

evaluate = component(
    "evaluate", tasks.run_evaluate_task, "evaluate", EvaluateArguments.params(PIPELINE_FIELDS),
    inputs={"pretraining_data": Dataset, "model": Model}, outputs={"metrics": Metrics},
    doc="Evaluate `model` on the held-out split of `pretraining_data`.")
