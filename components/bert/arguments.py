"""The random-initialisation CLI's parameters, declared once (see `components.common.arguments`)."""

from dataclasses import dataclass

from components.common.arguments import REQUIRED, Arguments, arg


@dataclass
class BertInitArguments(Arguments):
    bert_config_file: str = arg(REQUIRED, "Google-style bert_config.json describing the model")
    vocab_file: str = arg(REQUIRED, "vocab.txt with exactly vocab_size lines; copied into the "
                          "output")
    output_dir: str = arg(REQUIRED, "model directory to write (bert_config.json, vocab.txt, "
                          "bert_model.ckpt.*, manifest.json); a rerun replaces it whole")
    random_seed: int = arg(12345, "seed of the initialisation; the same seed gives the same "
                           "weights")
