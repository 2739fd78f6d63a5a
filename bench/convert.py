"""Converter benchmark: wall time and TF↔PyTorch parity for a BERT-base-sized random model.

    .venv/bin/python bench/convert.py [--num_hidden_layers 12] [--vocab_file VOCAB]

Baseline, measured in the same run: the bare I/O a conversion cannot avoid — read every tensor
of the TF checkpoint and `torch.save` them once. The figure is conversion time / baseline time
(the rest is building both models, safetensors + tokenizer output and the parity forward passes).
"""

import argparse
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from components.bert.arguments import BertInitArguments  # noqa: E402
from components.bert.init import init_random_model  # noqa: E402
from components.common.logs import setup_logging  # noqa: E402
from components.convert.arguments import ConvertArguments  # noqa: E402
from components.convert.core import convert  # noqa: E402

REFERENCE_VOCAB = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "reference",
                               "chinese_bert_vocab.txt")


def write_inputs(directory, args):
    """bert_config.json of BERT-base shape and a vocab of `vocab_size` entries."""
    vocab_file = args.vocab_file or (REFERENCE_VOCAB if os.path.isfile(REFERENCE_VOCAB) else None)
    if vocab_file is None:  # Google's layout with placeholder tokens
        vocab_file = os.path.join(directory, "vocab.txt")
        specials = ["[PAD]"] + [f"[unused{i}]" for i in range(1, 100)]
        specials += ["[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        tokens = specials + [f"tok{i}" for i in range(args.vocab_size - len(specials))]
        with open(vocab_file, "w", encoding="utf-8") as f:
            f.writelines(t + "\n" for t in tokens)
    with open(vocab_file, encoding="utf-8") as f:
        vocab_size = sum(1 for _ in f)
    config = {"vocab_size": vocab_size, "hidden_size": 768, "num_hidden_layers":
              args.num_hidden_layers, "num_attention_heads": 12, "intermediate_size": 3072,
              "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
              "attention_probs_dropout_prob": 0.1, "max_position_embeddings": 512,
              "type_vocab_size": 2, "initializer_range": 0.02}
    config_file = os.path.join(directory, "bert_config.json")
    with open(config_file, "w", encoding="utf-8") as f:
        json.dump(config, f)
    return config_file, vocab_file


def baseline_io_seconds(prefix, directory):
    import tensorflow as tf
    import torch

    started = time.perf_counter()
    reader = tf.train.load_checkpoint(prefix)
    tensors = {name: torch.from_numpy(reader.get_tensor(name))
               for name in reader.get_variable_to_shape_map()}
    torch.save(tensors, os.path.join(directory, "baseline.bin"))
    return time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--num_hidden_layers", type=int, default=12,
                        help="encoder layers (12 = BERT-base; fewer for a smoke run)")
    parser.add_argument("--vocab_size", type=int, default=21128,
                        help="vocab size when no --vocab_file / reference vocab is found")
    parser.add_argument("--vocab_file", default=None,
                        help="vocab.txt to use; default: ../shared/reference's Chinese vocab")
    parser.add_argument("--num_parity_examples", type=int, default=8,
                        help="instances of 128 tokens in the parity check")
    args = parser.parse_args()
    setup_logging(os.environ.get("EDU_MLM_LOG_LEVEL", "WARNING"))
    with tempfile.TemporaryDirectory(prefix="bench-convert-") as tmp:
        config_file, vocab_file = write_inputs(tmp, args)
        model_dir = os.path.join(tmp, "model")
        manifest = init_random_model(BertInitArguments(
                config_file, vocab_file, model_dir, random_seed=1))
        baseline = baseline_io_seconds(os.path.join(model_dir, "bert_model.ckpt"), tmp)
        started = time.perf_counter()
        parity = convert(ConvertArguments(
                tf_checkpoint_path=model_dir, output_dir=os.path.join(tmp, "hf"),
                         pytorch_dump_path=os.path.join(tmp, "legacy", "pytorch_model.bin"),
                         num_parity_examples=args.num_parity_examples))
        seconds = time.perf_counter() - started
    vocab_size = manifest["bert_config"]["vocab_size"]
    print(f"model: {args.num_hidden_layers} layers, hidden 768, vocab {vocab_size}, "
          f"{manifest['num_parameters'] / 1e6:.1f} M parameters")
    print(f"baseline (read TF checkpoint + torch.save): {baseline:.2f} s")
    print(f"convert (+ legacy .bin, parity on {parity['num_examples']}x{parity['seq_length']}): "
          f"{seconds:.2f} s  = {seconds / baseline:.1f}x baseline")
    print(f"parity: max |TF - PyTorch| logit = {parity['max_abs_logit_diff']:.2e} "
          f"(tolerance {parity['tolerance']:g}), top-1 agreement "
          f"{parity['top1_agreement_real_tokens']:.4f}")


if __name__ == "__main__":
    main()
