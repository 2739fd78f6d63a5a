"""python -m components.convert: a Google-format BERT checkpoint → a transformers directory.

Accepts the flags of the users' old convert_bert_original_tf_checkpoint_to_pytorch.py.
"""

import json

from components.common.cli import ArgumentParser, str2bool
from components.common.errors import exit_on_user_error
from components.common.logs import setup_logging
from components.convert.core import PARITY_TOLERANCE, convert


def build_parser():
    parser = ArgumentParser(prog="python -m components.convert", description=__doc__.split("\n")[0])
    parser.add_argument("--tf_checkpoint_path", required=True,
                        help="checkpoint prefix (.../bert_model.ckpt) or a model directory")
    parser.add_argument("--bert_config_file", default=None,
                        help="bert_config.json of the model; default: the one beside the "
                        "checkpoint")
    parser.add_argument("--vocab_file", default=None,
                        help="vocab.txt of the model; default: the one beside the checkpoint, "
                        "else beside --bert_config_file")
    parser.add_argument("--output_dir", default=None,
                        help="transformers directory to write (save_pretrained + parity.json); "
                        "default: the directory of --pytorch_dump_path")
    parser.add_argument("--pytorch_dump_path", default=None,
                        help="also write the legacy pytorch_model.bin (BertForPreTraining state "
                        "dict) to this file")
    parser.add_argument("--parity_data", default=None,
                        help="pretraining-data directory (or TFRecord files) whose first "
                        "instances feed the parity check; default: seeded random ids")
    parser.add_argument("--num_parity_examples", type=int, default=8,
                        help="instances in the parity check")
    parser.add_argument("--parity_seq_length", type=int, default=128,
                        help="length of the random parity instances (without --parity_data)")
    parser.add_argument("--parity_tolerance", type=float, default=PARITY_TOLERANCE,
                        help="largest allowed |TF - PyTorch| logit difference (float32)")
    parser.add_argument("--do_lower_case", type=str2bool, default=True,
                        help="tokenizer lower-cases input, as Google's Chinese BERT")
    return parser


@exit_on_user_error
def main(argv=None):
    setup_logging()
    args = build_parser().parse_args(argv)
    parity = convert(**vars(args))
    print(json.dumps({k: parity[k] for k in ("max_abs_logit_diff", "top1_agreement_real_tokens")}))


if __name__ == "__main__":
    main()
