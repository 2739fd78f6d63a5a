"""KFP component: a randomly initialised BERT in Google's format (trainer image).

The demo's base model (`pipeline.py run-local` builds it from data/sample) and from-scratch runs.
"""

from kfp.dsl import Artifact, Model

from components.bert import tasks
from components.bert.arguments import BertInitArguments
from components.common.kfp_component import component

init_random_model = component(
    "init_random_model", tasks.run_init_task, "bert", BertInitArguments.params(["random_seed"]),
    inputs={"bert_config": Artifact, "vocab": Artifact}, outputs={"model": Model},
    doc="Google's initialisation of the architecture in `bert_config` with the vocab `vocab`.")
