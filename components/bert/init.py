"""Write a randomly initialised BERT in Google's format (for the demo, tests and from-scratch runs).

    python -m components.bert.init --bert_config_file bert_config.json --vocab_file vocab.txt \
        --output_dir DIR [--random_seed 12345]
"""

import logging

from components.bert.arguments import BertInitArguments
from components.common.errors import exit_on_user_error
from components.common.logs import setup_logging

log = logging.getLogger(__name__)


def init_random_model(args):
    """Google's initialisation (truncated normal with initializer_range, zero biases, unit
    LayerNorm gamma) of `args.bert_config_file` → a model directory (kind "bert_model"); returns
    its manifest."""
    from components.bert.config import BertConfig
    from components.bert.vocab import check_vocab_matches_config

    config = BertConfig.from_json_file(args.bert_config_file)
    check_vocab_matches_config(args.vocab_file, config.vocab_size, args.bert_config_file)
    # TensorFlow loads only once the inputs are known to be good: bad input fails fast.
    from components.bert.checkpoint import write_model_dir
    from components.bert.model import BertForPreTraining

    log.info("initialising a %d-layer, hidden-%d BERT with seed %d",
             config.num_hidden_layers, config.hidden_size, args.random_seed)
    model = BertForPreTraining(config, seed=args.random_seed)
    return write_model_dir(model, args.output_dir, args.vocab_file,
                           manifest_extra={"initialization": "random",
                                           "random_seed": args.random_seed})


def build_parser():
    return BertInitArguments.parser("python -m components.bert.init", __doc__.split("\n")[0])


@exit_on_user_error
def main(argv=None):
    setup_logging()
    init_random_model(BertInitArguments.from_namespace(build_parser().parse_args(argv)))


if __name__ == "__main__":
    main()
