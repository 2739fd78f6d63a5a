"""Write a randomly initialised BERT in Google's format (for the demo, tests and from-scratch runs).

    python -m components.bert.init --bert_config_file bert_config.json --vocab_file vocab.txt \
        --output_dir DIR [--random_seed 12345]
"""

import logging

from components.common.cli import ArgumentParser
from components.common.errors import exit_on_user_error
from components.common.logs import setup_logging

log = logging.getLogger(__name__)


def init_random_model(bert_config_file, vocab_file, output_dir, random_seed=12345):
    """Google's initialisation (truncated normal with initializer_range, zero biases, unit
    LayerNorm gamma) → a model directory (kind "bert_model"); returns its manifest."""
    from components.bert.config import BertConfig
    from components.bert.vocab import check_vocab_matches_config

    config = BertConfig.from_json_file(bert_config_file)
    check_vocab_matches_config(vocab_file, config, bert_config_file)
    # TensorFlow loads only once the inputs are known to be good: bad input fails fast.
    from components.bert.checkpoint import write_model_dir
    from components.bert.model import BertForPreTraining

    log.info("initialising a %d-layer, hidden-%d BERT with seed %d",
             config.num_hidden_layers, config.hidden_size, random_seed)
    model = BertForPreTraining(config, seed=random_seed)
    return write_model_dir(model, output_dir, vocab_file,
                           manifest_extra={"initialization": "random", "random_seed": random_seed})


def build_parser():
    parser = ArgumentParser(prog="python -m components.bert.init",
                            description=__doc__.split("\n")[0])
    parser.add_argument("--bert_config_file", required=True,
                        help="Google-style bert_config.json describing the model")
    parser.add_argument("--vocab_file", required=True,
                        help="vocab.txt with exactly vocab_size lines; copied into the output")
    parser.add_argument("--output_dir", required=True,
                        help="model directory to write (bert_config.json, vocab.txt, "
                        "bert_model.ckpt.*, manifest.json)")
    parser.add_argument("--random_seed", type=int, default=12345,
                        help="seed of the initialisation; the same seed gives the same weights")
    return parser


@exit_on_user_error
def main(argv=None):
    setup_logging()
    args = build_parser().parse_args(argv)
    init_random_model(args.bert_config_file, args.vocab_file, args.output_dir, args.random_seed)


if __name__ == "__main__":
    main()
