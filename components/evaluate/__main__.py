"""Held-out masked-LM accuracy, loss and perplexity of a Google-format BERT, as JSON.

    python -m components.evaluate --input_dir DATA_DIR --init_checkpoint MODEL_DIR_OR_PREFIX \
        [--bert_config_file bert_config.json] [--eval_batch_size 64] [--output_file eval.json]
"""

import json
import sys

from components.common.errors import exit_on_user_error
from components.common.logs import setup_logging
from components.evaluate.arguments import EvaluateArguments


def build_parser():
    return EvaluateArguments.parser("python -m components.evaluate", __doc__.split("\n")[0])


@exit_on_user_error
def main(argv=None):
    setup_logging()
    args = EvaluateArguments.from_namespace(build_parser().parse_args(argv))
    from components.evaluate.heldout import evaluate

    metrics = evaluate(args)
    json.dump(metrics, sys.stdout, indent=2, sort_keys=True)
    print()


if __name__ == "__main__":
    main()
