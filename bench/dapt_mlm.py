"""A stand-in for domain-adaptive pretraining where no pretrained weights and no TensorFlow are:
a random BERT, then a time-boxed masked-LM run of it in transformers + torch.

    python bench/dapt_mlm.py init --vocab_file VOCAB --output_dir BASE [--shape base|tiny]
        [--from_encoder ENCODER]
    python bench/dapt_mlm.py train --model_dir BASE --input_dir DATA --output_dir ADAPTED
        --seconds 70 [--train_batch_size 128] [--learning_rate 2e-4]

`init` writes a randomly initialised `BertForMaskedLM` (BERT-base's shape, or a 2 x 64 one for
smoke tests) with its tokenizer, as the convert stage lays a model out. With --from_encoder it
takes a pretrained general-domain encoder's shape and weights instead (a transformers `BertModel`
directory with --vocab_file's vocabulary, e.g. m3e-small: `downstream_gpu.sh fetch-base` fetches
it); such a model has no masked-LM head, so the head starts random (its decoder tied to the word
embeddings, as in BERT) and the manifest says so. `train` continues the
masked-LM objective on the train split of a pretraining-data directory (Google's records, read
without TensorFlow) for --seconds: the records' tokens with their own masks undone, masked
afresh each step (RoBERTa's dynamic masking: 15 % of the real tokens, 80 % [MASK], 10 % random,
10 % kept), the vocabulary projection only at the masked positions, AdamW with a linear warmup
over the first --warmup_fraction of the time then a linear decay to 0 at --seconds, bf16
autocast on a GPU. The time box makes the step count depend on the machine: it is logged, with
the held-out masked-LM accuracy (the records' own masks) before and after, in dapt_log.json.
It is the bench's adaptation, not the pipeline's (which trains with TensorFlow, `train` stage).
"""

import argparse
import json
import os
import shutil
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from components.common.artifacts import atomic_output_dir, write_manifest  # noqa: E402
from components.records.reader import open_split  # noqa: E402

SHAPES = {"base": {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
                   "intermediate_size": 3072},
          "tiny": {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
                   "intermediate_size": 128}}
TOKENIZER_FILES = ("vocab.txt", "tokenizer.json", "tokenizer_config.json",
                   "special_tokens_map.json")
MASK_PROBABILITY = 0.15


def _check_encoder_tokens(encoder_dir, vocab_file):
    """Exits with one line when the encoder's own tokenizer (where it ships one) numbers its
    tokens otherwise than `vocab_file`: the same count in another order would pass silently."""
    import transformers

    from components.bert.vocab import load_vocab

    if not any(os.path.isfile(os.path.join(encoder_dir, name))
               for name in ("tokenizer.json", "vocab.txt")):
        return
    own = transformers.AutoTokenizer.from_pretrained(encoder_dir).get_vocab()
    load_vocab(vocab_file)  # its errors: missing, not UTF-8, no special tokens
    with open(vocab_file, encoding="utf-8") as f:
        # transformers' reading: only the newline goes ("\u2028" stays a token of its own)
        tokens = f.read().split("\n")
    if tokens and tokens[-1] == "":
        tokens.pop()
    differ = [(token, index) for index, token in enumerate(tokens) if own.get(token) != index]
    if differ:
        token, index = differ[0]
        raise SystemExit(f"error: {encoder_dir}'s tokenizer and {vocab_file} differ at "
                         f"{len(differ)} tokens (first: {token!r} is {index} in the vocab file, "
                         f"{own.get(token)} in the encoder's); pass the vocab.txt the encoder "
                         "was trained with")


def encoder_in_mlm_model(encoder_dir, vocab_file):
    """A `BertForMaskedLM` holding the pretrained `BertModel` of `encoder_dir` (embeddings and
    layers; a masked-LM model has no pooler, as the convert stage's models have none) under a
    random masked-LM head; exits with one line when the directory is not a BERT of
    `vocab_file`'s vocabulary."""
    import transformers

    from components.bert.vocab import count_vocab

    try:
        encoder = transformers.BertModel.from_pretrained(encoder_dir)
    except (OSError, ValueError) as err:
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise SystemExit(f"error: {encoder_dir} is not a transformers BERT directory "
                         f"({first_line}); pass a BertModel save_pretrained directory") from None
    vocab_size = count_vocab(vocab_file)
    if encoder.config.vocab_size != vocab_size:
        raise SystemExit(f"error: {encoder_dir} has {encoder.config.vocab_size} token "
                         f"embeddings but {vocab_file} holds {vocab_size} tokens; pass the "
                         "vocab.txt the encoder was trained with")
    _check_encoder_tokens(encoder_dir, vocab_file)
    model = transformers.BertForMaskedLM(encoder.config)
    weights = {k: v for k, v in encoder.state_dict().items() if not k.startswith("pooler.")}
    model.bert.load_state_dict(weights)
    return model


def init(args):
    import transformers

    from components.bert.vocab import count_vocab
    from components.convert.torch_model import tokenizer

    torch.manual_seed(args.seed)
    if args.from_encoder:
        model = encoder_in_mlm_model(args.from_encoder, args.vocab_file)
        what = f"the pretrained encoder of {args.from_encoder} under a random masked-LM head"
        manifest = {"kind": "bench_pretrained_encoder", "encoder_dir": args.from_encoder,
                    "masked_lm_head": "random", "seed": args.seed}
    else:
        config = transformers.BertConfig(vocab_size=count_vocab(args.vocab_file),
                                         max_position_embeddings=512, **SHAPES[args.shape])
        model = transformers.BertForMaskedLM(config)
        what = f"a random {args.shape}-shaped BERT"
        manifest = {"kind": "bench_random_bert", "shape": args.shape, "seed": args.seed}
    with atomic_output_dir(args.output_dir) as tmp:
        model.save_pretrained(tmp)
        tokenizer(args.vocab_file, 512).save_pretrained(tmp)
        shutil.copyfile(args.vocab_file, os.path.join(tmp, "vocab.txt"))
        write_manifest(tmp, manifest)
    print(f"wrote {what} to {args.output_dir}")


def unmasked_records(input_dir, split):
    """(the split's input_ids with the records' masks undone, the records as read)."""
    index = open_split(input_dir, split)
    records = index.batch(np.arange(len(index)))
    ids = records["input_ids"].copy()
    real = records["masked_lm_weights"] > 0
    rows = np.nonzero(real)[0]
    ids[rows, records["masked_lm_positions"][real]] = records["masked_lm_ids"][real]
    return ids, records


def mask_tokens(ids, attention, special, random_low, vocab_size, mask_id, generator):
    """(masked input ids, labels: the original id at masked positions, -100 elsewhere); the
    random replacements are ids in [random_low, vocab_size): no special token."""
    maskable = attention.bool() & ~torch.isin(ids, special)
    chosen = (torch.rand(ids.shape, generator=generator, device=ids.device) < MASK_PROBABILITY)
    chosen &= maskable
    labels = torch.where(chosen, ids, torch.full_like(ids, -100))
    roll = torch.rand(ids.shape, generator=generator, device=ids.device)
    random_ids = torch.randint(random_low, vocab_size, ids.shape, generator=generator,
                               device=ids.device)
    masked = torch.where(chosen & (roll < 0.8), torch.full_like(ids, mask_id), ids)
    masked = torch.where(chosen & (roll >= 0.8) & (roll < 0.9), random_ids, masked)
    return masked, labels


def masked_lm_loss(model, ids, attention, segments, labels):
    """(loss, correct, count) at the labelled positions; the vocabulary projection runs there
    only."""
    hidden = model.bert(input_ids=ids, attention_mask=attention,
                        token_type_ids=segments).last_hidden_state
    where = labels >= 0
    logits = model.cls(hidden[where]).float()
    targets = labels[where]
    return (F.cross_entropy(logits, targets), (logits.argmax(-1) == targets).sum(),
            targets.numel())


@torch.inference_mode()
def heldout_accuracy(model, records, device, autocast, batch_size=64):
    """Masked-LM accuracy on the held-out records' own masks."""
    model.eval()
    correct = total = 0
    for start in range(0, len(records["input_ids"]), batch_size):
        part = {k: torch.as_tensor(v[start:start + batch_size], device=device)
                for k, v in records.items()}
        labels = torch.full_like(part["input_ids"], -100)
        real = part["masked_lm_weights"] > 0
        rows = real.nonzero()[:, 0]
        labels[rows, part["masked_lm_positions"][real]] = part["masked_lm_ids"][real]
        with autocast():
            _, right, count = masked_lm_loss(model, part["input_ids"], part["input_mask"],
                                             part["segment_ids"], labels)
        correct, total = correct + int(right), total + count
    model.train()
    return correct / max(total, 1)


def learning_rate(peak, elapsed_fraction, warmup_fraction):
    if elapsed_fraction < warmup_fraction:
        return peak * elapsed_fraction / warmup_fraction
    return peak * max(0.0, (1 - elapsed_fraction) / (1 - warmup_fraction))


def train(args):
    import transformers

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(args.seed)
    model = transformers.BertForMaskedLM.from_pretrained(args.model_dir).to(device).train()
    vocab = transformers.AutoTokenizer.from_pretrained(args.model_dir)
    special_ids = sorted(set(vocab.all_special_ids) | {0})
    special, random_low = torch.tensor(special_ids, device=device), special_ids[-1] + 1
    ids, records = unmasked_records(args.input_dir, "train")
    _, heldout = unmasked_records(args.input_dir, "heldout")
    bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()

    def autocast():
        return torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16)

    # The whole split on the device: ~100 MB for Google-sized data, no copy per step.
    train_ids = torch.as_tensor(ids, device=device)
    attention_all = torch.as_tensor(records["input_mask"], device=device)
    segments_all = torch.as_tensor(records["segment_ids"], device=device)
    no_decay = ("bias", "LayerNorm.weight")
    optimizer = torch.optim.AdamW(
        [{"params": [p for n, p in model.named_parameters() if not n.endswith(no_decay)],
          "weight_decay": 0.01},
         {"params": [p for n, p in model.named_parameters() if n.endswith(no_decay)],
          "weight_decay": 0.0}], lr=args.learning_rate)
    generator = torch.Generator(device=device).manual_seed(args.seed)
    order = torch.Generator().manual_seed(args.seed)
    before = heldout_accuracy(model, heldout, device, autocast)
    log = {"steps": 0, "examples": 0, "seconds": args.seconds, "device": device.type,
           "precision": "bf16" if bf16 else "fp32", "train_records": len(train_ids),
           "heldout_accuracy_before": before, "intervals": []}
    print(f"{len(train_ids)} train records on {device}; held-out masked-LM accuracy before "
          f"{before:.4f}; training for {args.seconds:g} s", flush=True)
    permutation, cursor = torch.randperm(len(train_ids), generator=order), 0
    started = time.perf_counter()
    window = {"loss": 0.0, "correct": 0, "count": 0, "steps": 0}
    while (fraction := (time.perf_counter() - started) / args.seconds) < 1:
        if cursor + args.train_batch_size > len(permutation):
            permutation, cursor = torch.randperm(len(train_ids), generator=order), 0
        rows = permutation[cursor:cursor + args.train_batch_size].to(device)
        cursor += args.train_batch_size
        batch_ids, attention = train_ids[rows], attention_all[rows]
        masked, labels = mask_tokens(batch_ids, attention, special, random_low, len(vocab),
                                     vocab.mask_token_id, generator)
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(args.learning_rate, fraction, args.warmup_fraction)
        with autocast():
            loss, correct, count = masked_lm_loss(model, masked, attention,
                                                  segments_all[rows], labels)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        log["steps"] += 1
        log["examples"] += len(rows)
        window["loss"] += loss.detach()
        window["correct"] += correct
        window["count"] += count
        window["steps"] += 1
        if log["steps"] % args.log_every == 0:
            entry = {"step": log["steps"], "seconds": time.perf_counter() - started,
                     "loss": float(window["loss"]) / window["steps"],
                     "accuracy": float(window["correct"]) / max(window["count"], 1)}
            log["intervals"].append(entry)
            print(f"step {entry['step']}, {entry['seconds']:.0f} s: loss {entry['loss']:.3f}, "
                  f"masked-LM accuracy {entry['accuracy']:.3f}", flush=True)
            window = {"loss": 0.0, "correct": 0, "count": 0, "steps": 0}
    log["train_seconds"] = time.perf_counter() - started
    log["heldout_accuracy_after"] = heldout_accuracy(model, heldout, device, autocast)
    print(f"{log['steps']} steps ({log['examples']} sequences) in {log['train_seconds']:.0f} s; "
          f"held-out masked-LM accuracy {before:.4f} -> {log['heldout_accuracy_after']:.4f}",
          flush=True)
    with atomic_output_dir(args.output_dir) as tmp:
        model.save_pretrained(tmp)
        for name in TOKENIZER_FILES:
            if os.path.isfile(os.path.join(args.model_dir, name)):
                shutil.copyfile(os.path.join(args.model_dir, name), os.path.join(tmp, name))
        with open(os.path.join(tmp, "dapt_log.json"), "w", encoding="utf-8") as f:
            json.dump(log, f, indent=1)
        write_manifest(tmp, {"kind": "bench_dapt_mlm", "base_model_dir": args.model_dir,
                             "input_dir": args.input_dir, "steps": log["steps"]})
    return log


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    defaults = argparse.ArgumentDefaultsHelpFormatter
    start = commands.add_parser("init", help="write a randomly initialised BERT, or a "
                                "pretrained encoder under a new masked-LM head",
                                formatter_class=defaults)
    start.add_argument("--vocab_file", required=True, help="the vocab.txt of the model")
    start.add_argument("--output_dir", required=True, help="the model directory written")
    start.add_argument("--shape", default="base", choices=sorted(SHAPES),
                       help="base: 12 x 768 (BERT-base); tiny: 2 x 64, for smoke tests")
    start.add_argument("--from_encoder", help="a pretrained BertModel directory with "
                       "--vocab_file's vocabulary: its shape and weights instead of --shape's "
                       "random ones (the masked-LM head starts random)")
    start.add_argument("--seed", type=int, default=0, help="seed of the random weights")
    run = commands.add_parser("train", help="continue masked-LM training for a time",
                              formatter_class=defaults)
    run.add_argument("--model_dir", required=True, help="the BertForMaskedLM to train on")
    run.add_argument("--input_dir", required=True, help="a pretraining-data directory "
                     "(train-*.tfrecord, heldout-*.tfrecord) made with the model's vocab")
    run.add_argument("--output_dir", required=True, help="the trained model's directory")
    run.add_argument("--seconds", type=float, required=True, help="train for this long "
                     "(the learning rate reaches 0 there)")
    run.add_argument("--train_batch_size", type=int, default=128, help="sequences per step")
    run.add_argument("--learning_rate", type=float, default=2e-4, help="peak AdamW learning "
                     "rate (2e-4: a short run from random weights at batch 128)")
    run.add_argument("--warmup_fraction", type=float, default=0.1, help="share of --seconds "
                     "with a linear warmup")
    run.add_argument("--log_every", type=int, default=100, help="print the loss every this "
                     "many steps")
    run.add_argument("--seed", type=int, default=0, help="seed of the order and the masks")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.command == "init":
        init(args)
    else:
        train(args)


if __name__ == "__main__":
    main()
