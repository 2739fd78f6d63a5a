"""KFP component: a randomly initialised BERT in Google's format (trainer image).

The demo's base model (`pipeline.py run-local` builds it from data/sample) and from-scratch runs.
"""

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
    from components.bert import init_random_model as init

    init(bert_config_file=bert_config.path, vocab_file=vocab.path, output_dir=model.path,
         random_seed=random_seed)
