"""python -m components.convert: a Google-format BERT checkpoint → a transformers directory.

Accepts the flags of the users' old convert_bert_original_tf_checkpoint_to_pytorch.py.
"""

import json

from components.common.errors import exit_on_user_error
from components.common.logs import setup_logging
from components.convert.arguments import ConvertArguments
from components.convert.core import convert


def build_parser():
    return ConvertArguments.parser("python -m components.convert", __doc__.split("\n")[0])


@exit_on_user_error
def main(argv=None):
    setup_logging()
    parity = convert(ConvertArguments.from_namespace(build_parser().parse_args(argv)))
    print(json.dumps({k: parity[k] for k in ("max_abs_logit_diff", "top1_agreement_real_tokens")}))


if __name__ == "__main__":
    main()
