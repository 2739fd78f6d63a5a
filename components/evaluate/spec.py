"""The evaluate stage as the pipeline sees it (`components.common.stage_spec`): held-out
masked-LM accuracy, loss and perplexity of the base and of the trained model (trainer image),
one task each, named for the model it evaluates."""

from components.common.stage_spec import Pod, StageSpec, TaskSpec
from components.evaluate import tasks
from components.evaluate.arguments import PIPELINE_FIELDS, EvaluateArguments

EVALUATE = StageSpec(
    name="evaluate", image="trainer", package="evaluate", order=50,
    doc="Held-out masked-LM metrics of the base and the trained model.",
    tasks=(TaskSpec(
        "evaluate_base_model", tasks.run_evaluate_task,
        "Evaluate `model` on the held-out split of `pretraining_data`.",
        inputs={"pretraining_data": "Dataset", "model": "Model"},
        outputs={"metrics": "Metrics"}, arguments=EvaluateArguments,
        parameters=PIPELINE_FIELDS, copies=("evaluate_trained_model",)),),
    reads={"evaluate_base_model": {"pretraining_data": "pretraining_data",
                                   "model": "base_model"},
           "evaluate_trained_model": {"pretraining_data": "pretraining_data", "model": "model"}},
    makes={"base_eval": ("evaluate_base_model", "metrics"),
           "trained_eval": ("evaluate_trained_model", "metrics")},
    # One GPU at most: evaluation runs on one device.
    pod=Pod(gpus="one", retried=True),
    clis={("components.evaluate", None): EvaluateArguments},
)
