"""One model fine-tuned once: the run_glue recipe on one seed, then its predictions.

The model comes from a BERT `save_pretrained` directory (a `BertForMaskedLM` as the convert and
distill stages write it) as `AutoModelForSequenceClassification`: the encoder is the model's, the
MLM head is dropped, and the pooler (a BertForMaskedLM has none) and the classifier start from
random weights drawn after `torch.manual_seed(seed)`. Dropout and the data order follow the same
seed, so a seed gives the same result twice on one machine. AdamW (no decay on biases and
LayerNorm), linear warmup then linear decay to 0, gradient clipping; fp32 on the CPU, bf16
autocast on a GPU that has it.
"""

import contextlib
import dataclasses
import json
import logging
import math
import os
import time

import torch
import transformers

from components.common.errors import UserError
from components.common.logs import progress

log = logging.getLogger(__name__)

NO_DECAY = ("bias", "LayerNorm.weight")


@dataclasses.dataclass
class Encoded:
    """Token ids of examples (lists of ints per example) and their label ids."""
    input_ids: list
    token_type_ids: list
    label_ids: list

    def batch(self, indices, pad_id, device):
        """Padded tensors of the examples at `indices` (padded to the longest of them)."""
        length = max(len(self.input_ids[i]) for i in indices)
        ids = torch.full((len(indices), length), pad_id, dtype=torch.long)
        segments = torch.zeros((len(indices), length), dtype=torch.long)
        mask = torch.zeros((len(indices), length), dtype=torch.long)
        for row, i in enumerate(indices):
            n = len(self.input_ids[i])
            ids[row, :n] = torch.tensor(self.input_ids[i])
            segments[row, :n] = torch.tensor(self.token_type_ids[i])
            mask[row, :n] = 1
        labels = torch.tensor([self.label_ids[i] for i in indices], dtype=torch.long)
        return {name: value.to(device) for name, value in (
            ("input_ids", ids), ("token_type_ids", segments), ("attention_mask", mask),
            ("labels", labels))}


def check_model_dir(model_dir, max_seq_length):
    """Refuse, before any fine-tuning, a directory that is not a transformers BERT with its
    tokenizer, or whose positions are fewer than `max_seq_length`; return the tokenizer."""
    path = os.path.join(model_dir, "config.json")
    fix = "pass a transformers BERT directory (the convert or distill stage's output)"
    if not os.path.isdir(model_dir):
        raise UserError("model directory does not exist", where=model_dir, fix=fix)
    try:
        with open(path, encoding="utf-8") as f:
            config = json.load(f)
    except FileNotFoundError:
        raise UserError("the directory has no config.json, so it is not a transformers model",
                        where=model_dir, fix=fix) from None
    except ValueError as err:
        raise UserError(f"config.json is not valid JSON ({err})", where=path, fix=fix) from None
    if not isinstance(config, dict) or config.get("model_type") != "bert":
        found = config.get("model_type") if isinstance(config, dict) else None
        raise UserError(f"expected a BERT model, found model_type {found!r}", where=path,
                        fix=fix)
    positions = config.get("max_position_embeddings", 512)
    if max_seq_length > positions:
        raise UserError(f"--max_seq_length={max_seq_length} is longer than the model's "
                        f"{positions} positions", where=model_dir,
                        fix=f"pass --max_seq_length {positions} or less")
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(model_dir)
    except (OSError, ValueError, TypeError) as err:
        raise UserError(f"cannot load the tokenizer: {str(err).splitlines()[0]}",
                        where=model_dir, fix="save the tokenizer (vocab.txt) with the model"
                        ) from err
    if len(tokenizer) > config.get("vocab_size", 0):
        raise UserError(f"the tokenizer has {len(tokenizer)} tokens and config.json's "
                        f"vocab_size is {config.get('vocab_size')}", where=model_dir,
                        fix="pass the model with the vocab.txt it was trained with")
    return tokenizer


def encode(tokenizer, examples, label_ids, max_seq_length):
    """`Encoded` of `examples` (`data.Examples`): [CLS] text [SEP] (pair [SEP]), truncated."""
    tokens = tokenizer(examples.texts, examples.pairs, truncation=True,
                       max_length=max_seq_length)
    return Encoded(tokens["input_ids"], tokens["token_type_ids"],
                   [label_ids[label] for label in examples.labels])


def load_classifier(model_dir, labels, seed):
    """`AutoModelForSequenceClassification` of `model_dir` for `labels`, its new weights drawn
    from `seed`."""
    torch.manual_seed(seed)
    verbosity = transformers.logging.get_verbosity()
    bar = transformers.logging.is_progress_bar_enabled()
    # Its load report and bar, once per seed: we log what starts fresh instead.
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    try:
        model, info = transformers.AutoModelForSequenceClassification.from_pretrained(
            model_dir, num_labels=len(labels), id2label=dict(enumerate(labels)),
            label2id={label: i for i, label in enumerate(labels)}, output_loading_info=True)
    except (OSError, ValueError) as err:
        raise UserError(f"cannot load the model: {str(err).splitlines()[0]}", where=model_dir,
                        fix="pass a directory with config.json and model.safetensors") from err
    finally:
        transformers.logging.set_verbosity(verbosity)
        if bar:
            transformers.logging.enable_progress_bar()
    fresh = sorted(info["missing_keys"])
    if any(not key.startswith(("classifier.", "bert.pooler.")) for key in fresh):
        raise UserError(f"the checkpoint lacks encoder weights ({', '.join(fresh[:3])} …)",
                        where=model_dir, fix="pass a complete BERT model directory")
    log.info("new weights from seed %d: %s", seed, ", ".join(fresh))
    return model


def _optimizer(model, args, num_steps):
    groups = [{"params": [p for n, p in model.named_parameters() if not n.endswith(NO_DECAY)],
               "weight_decay": args.weight_decay},
              {"params": [p for n, p in model.named_parameters() if n.endswith(NO_DECAY)],
               "weight_decay": 0.0}]
    optimizer = torch.optim.AdamW(groups, lr=args.learning_rate)
    schedule = transformers.get_linear_schedule_with_warmup(
        optimizer, math.ceil(args.warmup_ratio * num_steps), num_steps)
    return optimizer, schedule


def num_train_steps(num_examples, args):
    """Optimizer steps of one fine-tuning run: epochs x batches per epoch, rounded up."""
    return math.ceil(args.num_train_epochs * math.ceil(num_examples / args.train_batch_size))


def fine_tune(model_dir, labels, train, pad_id, seed, args, device, precision, desc):
    """Fine-tune on `train` (`Encoded`); return (model in eval mode, {train_loss of the last
    epoch, train_seconds, num_train_steps})."""
    model = load_classifier(model_dir, labels, seed).to(device)
    steps = num_train_steps(len(train.label_ids), args)
    optimizer, schedule = _optimizer(model, args, steps)
    order = torch.Generator().manual_seed(seed)
    autocast = (torch.autocast(device.type, dtype=torch.bfloat16) if precision == "bf16"
                else contextlib.nullcontext())
    model.train()
    started, step, epoch, losses = time.perf_counter(), 0, 0, []
    with progress(total=steps, desc=desc, unit="step") as bar:
        while step < steps:
            epoch += 1
            losses = []
            permutation = torch.randperm(len(train.label_ids), generator=order).tolist()
            for start in range(0, len(permutation), args.train_batch_size):
                if step == steps:
                    break
                batch = train.batch(permutation[start:start + args.train_batch_size], pad_id,
                                    device)
                with autocast:
                    loss = model(**batch).loss
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), args.max_grad_norm)
                optimizer.step()
                schedule.step()
                optimizer.zero_grad(set_to_none=True)
                losses.append(loss.item())
                step += 1
                bar.update(1)
                bar.set_postfix(loss=f"{losses[-1]:.3f}", epoch=epoch)
            log.info("%s: epoch %d, mean training loss %.4f", desc, epoch,
                     sum(losses) / len(losses))
    model.eval()
    return model, {"train_loss": sum(losses) / len(losses),
                   "train_seconds": time.perf_counter() - started, "num_train_steps": steps}


@torch.inference_mode()
def predict(model, encoded, pad_id, batch_size, device, precision):
    """The predicted label id of each example of `encoded`."""
    autocast = (torch.autocast(device.type, dtype=torch.bfloat16) if precision == "bf16"
                else contextlib.nullcontext())
    predicted = []
    for start in range(0, len(encoded.label_ids), batch_size):
        indices = list(range(start, min(start + batch_size, len(encoded.label_ids))))
        batch = encoded.batch(indices, pad_id, device)
        batch.pop("labels")
        with autocast:
            logits = model(**batch).logits
        predicted += logits.argmax(-1).tolist()
    return predicted
