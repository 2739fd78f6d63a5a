"""The random initialisation as the pipeline sees it (`components.common.stage_spec`): a BERT
in Google's format (trainer image), the demo's base model (`pipeline.py run-local` builds it
from data/sample) and from-scratch runs. No step of the main pipeline."""

from components.bert import tasks
from components.bert.arguments import BertInitArguments
from components.common.stage_spec import Pod, StageSpec, TaskSpec

BERT = StageSpec(
    name="bert", image="trainer", package="bert",
    doc="A randomly initialised BERT in Google's format.",
    tasks=(TaskSpec(
        "init_random_model", tasks.run_init_task,
        "Google's initialisation of the architecture in `bert_config` with the vocab `vocab`.",
        inputs={"bert_config": "Artifact", "vocab": "Artifact"}, outputs={"model": "Model"},
        arguments=BertInitArguments, parameters=("random_seed",)),),
    pod=Pod(cpu="1", memory="4G"),
    clis={("components.bert.init", None): BertInitArguments},
)
