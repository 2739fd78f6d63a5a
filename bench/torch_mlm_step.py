"""The same MLM training step in transformers + torch alone, for machines without TensorFlow.

    python bench/torch_mlm_step.py [--device cuda] [--steps 20] [--hidden 256 --layers 4 ...]

The GPU machines lent to this project have torch and transformers but no TensorFlow, so there
this measures, on `BertForMaskedLM` + torch AdamW (clip 1.0) with the shapes of
bench/train_step.py, what the trainer's speed switches do, each as a ratio in one run:
gather-then-project vs project-all (Google's gather_indexes), bfloat16 autocast vs float32,
and torch.compile (the counterpart of XLA) vs eager. Median of --steps after --warmup.
"""

import argparse

import numpy as np
import torch
import torch.nn.functional as F
from step_timing import median_step_seconds
from transformers import BertConfig, BertForMaskedLM


def synthetic_batch(args, device):
    rng = np.random.default_rng(0)
    B, T, P = args.batch_size, args.seq_length, args.predictions
    positions = np.sort(np.stack([rng.choice(np.arange(1, T), P, replace=False)
                                  for _ in range(B)]), axis=1)
    ids = rng.integers(106, args.vocab_size, (B, T))
    labels = rng.integers(106, args.vocab_size, (B, P))
    full_labels = np.full((B, T), -100)
    np.put_along_axis(full_labels, positions, labels, axis=1)
    as_tensor = lambda a: torch.as_tensor(a, dtype=torch.long, device=device)  # noqa: E731
    return {"input_ids": as_tensor(ids), "attention_mask": torch.ones_like(as_tensor(ids)),
            "token_type_ids": torch.zeros_like(as_tensor(ids)),
            "positions": as_tensor(positions), "labels": as_tensor(labels),
            "full_labels": as_tensor(full_labels)}


def build(args, device):
    torch.manual_seed(0)
    config = BertConfig(vocab_size=args.vocab_size, hidden_size=args.hidden,
                        num_hidden_layers=args.layers, num_attention_heads=args.heads,
                        intermediate_size=4 * args.hidden, hidden_act="gelu_new",
                        max_position_embeddings=512, type_vocab_size=2)
    model = BertForMaskedLM(config).to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01, eps=1e-6)
    return model, optimizer


def loss_fn(model, batch, gather):
    inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids")}
    if not gather:
        return model(**inputs, labels=batch["full_labels"]).loss       # projects all T
    hidden = model.bert(**inputs).last_hidden_state                      # [B, T, H]
    index = batch["positions"][..., None].expand(-1, -1, hidden.shape[-1])
    logits = model.cls(torch.gather(hidden, 1, index))                   # [B, P, V]
    return F.cross_entropy(logits.flatten(0, 1).float(), batch["labels"].flatten())


def measure(args, device, gather=True, bf16=False, compile_=False):
    model, optimizer = build(args, device)
    batch = synthetic_batch(args, device)
    forward = torch.compile(loss_fn) if compile_ else loss_fn

    def step():
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=bf16):
            loss = forward(model, batch, gather)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        return float(loss.detach())  # waits for the step to finish

    return median_step_seconds(step, args.warmup, args.steps)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--batch_size", type=int, default=32)
    p.add_argument("--seq_length", type=int, default=128)
    p.add_argument("--predictions", type=int, default=20)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--vocab_size", type=int, default=21128)
    p.add_argument("--no_compile", action="store_true", help="skip the torch.compile variant")
    args = p.parse_args(argv)
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"{name}: BERT hidden {args.hidden}, {args.layers} layers, vocab {args.vocab_size}, "
          f"seq {args.seq_length}, batch {args.batch_size}; median of {args.steps} steps")
    base = measure(args, device)
    print(f"fp32, gather-then-project, eager: {1 / base:.1f} steps/s, "
          f"{args.batch_size / base:.0f} examples/s")
    rows = [("gather-then-project vs project-all", measure(args, device, gather=False), base),
            ("bf16 autocast vs fp32", base, measure(args, device, bf16=True))]
    if not args.no_compile:
        rows.append(("torch.compile vs eager (bf16)", measure(args, device, bf16=True),
                     measure(args, device, bf16=True, compile_=True)))
    for label, baseline, candidate in rows:
        print(f"{label}: {baseline / candidate:.2f}x ({1 / candidate:.1f} vs "
              f"{1 / baseline:.1f} steps/s)")


if __name__ == "__main__":
    main()
