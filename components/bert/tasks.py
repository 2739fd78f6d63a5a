"""What the pipeline's random-initialisation task runs (a plain function; `spec.py` declares it
and `components/kfp/generated/bert.py`, written from that, wraps it for KFP)."""

from components.bert.arguments import BertInitArguments


def run_init_task(bert_config, vocab, model, args: BertInitArguments):
    """Google's initialisation of the architecture in `bert_config` with the vocab `vocab`."""
    from components.bert.init import init_random_model

    init_random_model(args.replace(bert_config_file=bert_config.path, vocab_file=vocab.path,
                                   output_dir=model.path))
