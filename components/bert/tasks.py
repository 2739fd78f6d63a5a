"""What the pipeline's random-initialisation task runs (`component.py` wraps it for KFP)."""

from components.bert.arguments import BertInitArguments


def run_init_task(bert_config, vocab, model, random_seed):
    """Google's initialisation of the architecture in `bert_config` with the vocab `vocab`."""
    from components.bert.init import init_random_model

    init_random_model(BertInitArguments(bert_config.path, vocab.path, model.path, random_seed))
