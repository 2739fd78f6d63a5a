"""What a BERT-base-sized training run writes: the model artifact vs the resumable state.

    .venv/bin/python bench/checkpoint_size.py [--num_hidden_layers 12] [--keep_checkpoint_max 3]

Trains a random BERT-base-shaped model for `keep_checkpoint_max` steps (batch 2, a save every
step) with `--checkpoint_dir` apart from `--output_dir`, as the pipeline does with its volume.
Baseline, measured in the same run: the model artifact as it was while the state lived inside it
(output + state). Prints the sizes, the ratio, and the volume size to ask for.
"""

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from convert import write_inputs  # noqa: E402

from components.bert.arguments import BertInitArguments  # noqa: E402
from components.bert.init import init_random_model  # noqa: E402
from components.common.logs import setup_logging  # noqa: E402
from components.pretraining_data.arguments import PretrainingDataArguments  # noqa: E402
from components.pretraining_data.create import create_pretraining_data  # noqa: E402
from components.train.arguments import TrainArguments  # noqa: E402
from components.train.loop import train  # noqa: E402

SAMPLE_CORPUS = os.path.join(os.path.dirname(__file__), "..", "data", "sample", "corpus.txt")


def tree_bytes(directory):
    return sum(os.path.getsize(os.path.join(root, name))
               for root, _, names in os.walk(directory) for name in names)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--num_hidden_layers", type=int, default=12, help="BERT-base: 12")
    parser.add_argument("--vocab_size", type=int, default=21128,
                        help="placeholder vocab size when shared/reference has no vocab")
    parser.add_argument("--vocab_file", default=None, help="default: the reference vocab")
    parser.add_argument("--keep_checkpoint_max", type=int, default=3,
                        help="training states kept (the trainer's default)")
    args = parser.parse_args()
    setup_logging()
    with tempfile.TemporaryDirectory() as tmp:
        config_file, vocab_file = write_inputs(tmp, args)
        base, data = os.path.join(tmp, "base"), os.path.join(tmp, "data")
        init_random_model(BertInitArguments(config_file, vocab_file, base, random_seed=1))
        create_pretraining_data(PretrainingDataArguments(
                SAMPLE_CORPUS, output_dir=data, vocab_file=vocab_file,
                                dupe_factor=1, num_workers=1))
        output, state = os.path.join(tmp, "model"), os.path.join(tmp, "pvc", "run")
        started = time.perf_counter()
        steps = args.keep_checkpoint_max
        train(TrainArguments(data, output, init_checkpoint=base, train_batch_size=2,
                             num_train_steps=steps, num_warmup_steps=0, save_checkpoints_steps=1,
                             log_every_n_steps=1, checkpoint_dir=state,
                             keep_checkpoint_max=args.keep_checkpoint_max))
        seconds = time.perf_counter() - started
        model_bytes, state_bytes = tree_bytes(output), tree_bytes(state)
        one_state = state_bytes / args.keep_checkpoint_max
    mb = 1e6
    print(f"layers {args.num_hidden_layers}, {steps} steps in {seconds:.1f} s")
    print(f"model artifact (config, vocab, weights, logs):   {model_bytes / mb:9.1f} MB")
    print(f"training state on the volume ({args.keep_checkpoint_max} kept):   "
          f"{state_bytes / mb:9.1f} MB  ({one_state / mb:.1f} MB each)")
    print(f"baseline: model artifact with the state inside: {(model_bytes + state_bytes) / mb:9.1f}"
          f" MB")
    print(f"ratio baseline / now (what each task reading the model downloads): "
          f"{(model_bytes + state_bytes) / model_bytes:.2f}x")
    print(f"volume to ask for per concurrent run: {state_bytes / mb / 1000:.1f} GB "
          f"+ one state in flight = {(state_bytes + one_state) / mb / 1000:.1f} GB")


if __name__ == "__main__":
    main()
