"""The converter's parameters, declared once (see `components.common.arguments`).

Flag names are those of the users' old convert_bert_original_tf_checkpoint_to_pytorch.py.
"""

from dataclasses import dataclass

from components.common.arguments import REQUIRED, Arguments, arg


@dataclass
class ConvertArguments(Arguments):
    tf_checkpoint_path: str = arg(REQUIRED, "checkpoint prefix (.../bert_model.ckpt) or a model "
                                  "directory")
    bert_config_file: str | None = arg(None, "bert_config.json of the model; default: the one "
                                       "beside the checkpoint")
    vocab_file: str | None = arg(None, "vocab.txt of the model; default: the one beside the "
                                 "checkpoint, else beside --bert_config_file")
    output_dir: str | None = arg(None, "transformers directory to write (save_pretrained + "
                                 "parity.json); a rerun replaces it whole; default: the "
                                 "directory of --pytorch_dump_path")
    pytorch_dump_path: str | None = arg(None, "also write the legacy pytorch_model.bin "
                                        "(BertForPreTraining state dict) to this file; a rerun "
                                        "replaces it")
    parity_data: str | None = arg(None, "pretraining-data directory (or TFRecord files) whose "
                                  "first instances feed the parity check; default: seeded random "
                                  "ids")
    num_parity_examples: int = arg(8, "instances in the parity check", low=1)
    parity_seq_length: int = arg(128, "length of the random parity instances (without "
                                 "--parity_data)", low=2)
    parity_tolerance: float = arg(1e-4, "largest allowed |TF - PyTorch| logit difference "
                                  "(float32)", low=0, low_open=True)
    do_lower_case: bool = arg(True, "tokenizer lower-cases input, as Google's Chinese BERT")
