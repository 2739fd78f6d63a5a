"""KFP components of the bert stage, written by `make generate` from components/bert/spec.py and
the declarations it names: edit those, not this file."""

from kfp import dsl
from kfp.dsl import Artifact, Input, Model, Output

from components.images import image


@dsl.component(base_image=image("bert"), install_kfp_package=False)
def init_random_model(
    bert_config: Input[Artifact],
    vocab: Input[Artifact],
    model: Output[Model],
    random_seed: int = 12345,
):
    """Google's initialisation of the architecture in `bert_config` with the vocab `vocab`."""
    from components.bert.arguments import BertInitArguments
    from components.bert.tasks import run_init_task
    from components.common.errors import recording_step_error

    with recording_step_error():
        args = BertInitArguments.from_run_values(
            random_seed=random_seed,
        )
        run_init_task(
            bert_config,
            vocab,
            model,
            args,
        )
