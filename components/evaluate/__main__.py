"""Held-out masked-LM accuracy, loss and perplexity of a Google-format BERT, as JSON.

    python -m components.evaluate --input_dir DATA_DIR --init_checkpoint MODEL_DIR_OR_PREFIX \
        [--bert_config_file bert_config.json] [--eval_batch_size 64] [--output_file eval.json]
"""

import json
import sys

from components.common.cli import ArgumentParser
from components.common.errors import exit_on_user_error
from components.common.logs import setup_logging


def build_parser():
    parser = ArgumentParser(prog="python -m components.evaluate",
                            description=__doc__.split("\n")[0])
    parser.add_argument("--input_dir", required=True,
                        help="pretraining-data directory (its heldout-*.tfrecord), or a "
                        "directory or glob of TFRecords in Google's schema")
    parser.add_argument("--init_checkpoint", required=True,
                        help="model directory or checkpoint prefix (.../bert_model.ckpt)")
    parser.add_argument("--bert_config_file", default=None,
                        help="bert_config.json; default: the one beside the checkpoint")
    parser.add_argument("--eval_batch_size", type=int, default=64,
                        help="examples per evaluation batch (the last one may be smaller)")
    parser.add_argument("--max_eval_steps", type=int, default=None,
                        help="evaluate at most this many batches (default: all)")
    parser.add_argument("--output_file", default=None,
                        help="write the metrics here as JSON (they are also printed)")
    return parser


@exit_on_user_error
def main(argv=None):
    setup_logging()
    args = build_parser().parse_args(argv)
    from components.evaluate.heldout import evaluate

    metrics = evaluate(args.input_dir, args.init_checkpoint,
                       bert_config_file=args.bert_config_file,
                       eval_batch_size=args.eval_batch_size, max_eval_steps=args.max_eval_steps,
                       output_file=args.output_file)
    json.dump(metrics, sys.stdout, indent=2, sort_keys=True)
    print()


if __name__ == "__main__":
    main()
