"""Training steps/s of a small BERT: our trainer's step in its variants vs transformers + torch.

    .venv/bin/python bench/train_step.py [--steps 20] [--warmup 3] [--variants all]

Same shapes for all (default hidden 256, 4 layers, 4 heads, intermediate 1024, vocab 21128,
sequence 128, 20 masked positions, batch 32), one process, one synthetic batch, median time of
`--steps` steps after `--warmup`. Each figure is printed as a ratio against its baseline:
  ours fp32 (gathered MLM head, no XLA)  vs transformers BertForMaskedLM + torch AdamW
  gather-then-project                    vs project all positions, then gather
  XLA (jit_compile)                      vs no XLA
  mixed_bfloat16                         vs fp32
and the largest weight difference between one device and two logical devices (MirroredStrategy)
after the same steps on the same global batch.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

CPU = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(CPU, [tf.config.LogicalDeviceConfiguration()] * 2)

from step_timing import median_step_seconds  # noqa: E402

from components.bert.config import BertConfig  # noqa: E402
from components.bert.model import BertForPreTraining  # noqa: E402
from components.train.feed import batch_placer  # noqa: E402
from components.train.loop import COMPUTE_DTYPES  # noqa: E402
from components.train.optimizer import AdamWeightDecay  # noqa: E402
from components.train.step import make_train_step, trainable_by_name  # noqa: E402


class ProjectAll:
    """Our model, but with the vocabulary projection on every position (HF's way), then gathered."""

    def __init__(self, model):
        self.model = model
        self.variables_by_name = model.variables_by_name

    def __call__(self, input_ids, input_mask, segment_ids, masked_lm_positions, **kwargs):
        x = self.model.sequence_output(input_ids, input_mask, segment_ids, **kwargs)
        logits = self.model.mlm_logits(x)                                       # [B, T, V]
        return tf.gather(logits, masked_lm_positions, batch_dims=1)             # [B, P, V]


def synthetic_batch(args, seed=0):
    rng = np.random.default_rng(seed)
    B, T, P = args.batch_size, args.seq_length, args.predictions
    positions = np.sort(np.stack([rng.choice(np.arange(1, T), P, replace=False)
                                  for _ in range(B)]), axis=1)
    return {
        "input_ids": rng.integers(106, args.vocab_size, (B, T)).astype(np.int32),
        "input_mask": np.ones((B, T), np.int32),
        "segment_ids": np.zeros((B, T), np.int32),
        "masked_lm_positions": positions.astype(np.int32),
        "masked_lm_ids": rng.integers(106, args.vocab_size, (B, P)).astype(np.int32),
        "masked_lm_weights": np.ones((B, P), np.float32),
    }


def bert_config(args, dropout=0.1):
    return BertConfig(vocab_size=args.vocab_size, hidden_size=args.hidden, num_hidden_layers=args
                      .layers, num_attention_heads=args.heads, intermediate_size=4 * args.hidden,
                      hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout,
                      max_position_embeddings=512, type_vocab_size=2)


def ours(args, precision="fp32", jit_compile=False, project_all=False):
    strategy = tf.distribute.get_strategy()
    model = BertForPreTraining(bert_config(args), compute_dtype=COMPUTE_DTYPES[precision])
    optimizer = AdamWeightDecay(trainable_by_name(model))
    step = tf.Variable(0, dtype=tf.int64)
    train_step = make_train_step(strategy, ProjectAll(model) if project_all else model,
                                 optimizer, step, 1e-4, 10000, 10, random_seed=1,
                                 jit_compile=jit_compile)
    batch = {k: tf.constant(v) for k, v in synthetic_batch(args).items()}
    return median_step_seconds(lambda: float(train_step(batch)["weighted_nll"]), args.warmup,
                               args.steps)


def transformers_torch(args):
    import torch
    from transformers import BertConfig as HFConfig
    from transformers import BertForMaskedLM

    torch.manual_seed(0)
    config = HFConfig(vocab_size=args.vocab_size, hidden_size=args.hidden,
                      num_hidden_layers=args.layers, num_attention_heads=args.heads,
                      intermediate_size=4 * args.hidden, hidden_act="gelu_new",
                      max_position_embeddings=512, type_vocab_size=2)
    model = BertForMaskedLM(config).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01, eps=1e-6)
    b = synthetic_batch(args)
    labels = np.full(b["input_ids"].shape, -100, np.int64)
    np.put_along_axis(labels, b["masked_lm_positions"].astype(np.int64),
                      b["masked_lm_ids"].astype(np.int64), axis=1)
    inputs = {"input_ids": torch.from_numpy(b["input_ids"].astype(np.int64)),
              "attention_mask": torch.from_numpy(b["input_mask"].astype(np.int64)),
              "token_type_ids": torch.from_numpy(b["segment_ids"].astype(np.int64)),
              "labels": torch.from_numpy(labels)}

    def run_step():
        optimizer.zero_grad(set_to_none=True)
        loss = model(**inputs).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        return float(loss.detach())

    return median_step_seconds(run_step, args.warmup, args.steps)


def replica_difference(args, steps=3):
    """Max |weight difference| after `steps` steps: 1 device vs 2 logical devices, no dropout."""
    batch = synthetic_batch(args, seed=1)
    results = []
    for devices in (1, 2):
        strategy = (tf.distribute.get_strategy() if devices == 1 else
                    tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))
        with strategy.scope():
            model = BertForPreTraining(bert_config(args, dropout=0.0), seed=7)
            optimizer = AdamWeightDecay(trainable_by_name(model))
            step = tf.Variable(0, dtype=tf.int64)
        train_step = make_train_step(strategy, model, optimizer, step, 1e-3, 100, 0,
                                     random_seed=1)
        placed = batch_placer(strategy)({k: tf.constant(v) for k, v in batch.items()})
        for _ in range(steps):
            train_step(placed)
        results.append({n: v.numpy() for n, v in model.variables_by_name.items()})
    return max(float(np.abs(results[0][n] - results[1][n]).max()) for n in results[0])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=20, help="timed steps per variant (median)")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps first (tracing)")
    p.add_argument("--batch_size", type=int, default=32)
    p.add_argument("--seq_length", type=int, default=128)
    p.add_argument("--predictions", type=int, default=20)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--vocab_size", type=int, default=21128)
    p.add_argument("--threads", type=int, default=0,
                   help="intra-op threads for both TF and torch (0: their defaults)")
    p.add_argument("--variants", default="all",
                   help="comma list of: torch, project_all, xla, bf16, replicas (or all)")
    args = p.parse_args(argv)
    variants = {"torch", "project_all", "xla", "bf16", "replicas"} if args.variants == "all" \
        else set(args.variants.split(","))
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    print(f"BERT hidden {args.hidden}, {args.layers} layers, {args.heads} heads, vocab "
          f"{args.vocab_size}, seq {args.seq_length}, batch {args.batch_size}; median of "
          f"{args.steps} steps after {args.warmup}")
    base = ours(args)
    print(f"ours fp32, gathered head, no XLA: {1 / base:.2f} steps/s")
    rows = []
    if "torch" in variants:
        rows.append(("ours vs transformers+torch AdamW", transformers_torch(args), base))
    if "project_all" in variants:
        rows.append(("gather-then-project vs project-all", ours(args, project_all=True), base))
    if "xla" in variants:
        rows.append(("XLA on vs off", base, ours(args, jit_compile=True)))
    if "bf16" in variants:
        rows.append(("mixed_bfloat16 vs fp32", base, ours(args, precision="mixed_bfloat16")))
    for label, baseline_s, candidate_s in rows:
        print(f"{label}: {baseline_s / candidate_s:.2f}x "
              f"({1 / candidate_s:.2f} vs {1 / baseline_s:.2f} steps/s)")
    if "replicas" in variants:
        print(f"1 device vs 2 logical devices, max |weight difference| after 3 steps: "
              f"{replica_difference(args):.2e}")


if __name__ == "__main__":
    main()
