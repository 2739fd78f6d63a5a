"""The distiller's optimizer step and the loop of steps with its logs and saves.

A step: reseed dropout from (seed, step, rank); set the scheduled learning rate; for each
micro-batch, the teacher's forward pass without gradients, the student's forward pass and the
loss (`DistillStep`, which DDP wraps), backward; clip the global gradient norm; AdamW. Every
process runs the same control flow, so the collectives (the step's masked-position count and
stop vote, the log interval's sums) meet.

On a GPU nothing in a step waits for the device: the counts that weight the micro-batches come
from the batches on the host (where the feed made them), the processes agree on them and on the
stop vote over a host (gloo) group, and the batches are copied from pinned memory without
blocking. The loop reads device values only at log intervals and saves.
"""

import contextlib
import time

import numpy as np
import torch
from torch import nn

from components.common.logs import progress
from components.distill.loss import distill_loss, forward_masked, kd_at_every_token
from components.distill.state import DistillationInterrupted

LOSS_PARTS = ("kd", "hard", "hidden", "attention")
# Reported with the run's summary (the KFP Metrics) from the last log interval.
THROUGHPUT_KEYS = ("examples_per_sec", "tokens_per_sec", "model_tflops", "mfu",
                   "input_wait_fraction")


def active_parts(weights):
    return [k for k in LOSS_PARTS if getattr(weights, k) > 0]


def per_masked_position(weights):
    """The loss parts that are means over the real masked positions; the others are means over
    the real tokens."""
    return ("hard",) if kd_at_every_token(weights) else ("kd", "hard")


def step_seed(seed, step, rank):
    """The dropout seed of one step on one process: a resumed run draws the same masks."""
    return int(np.random.SeedSequence([seed % 2**32, step, rank]).generate_state(1)[0])


def learning_rate(step, peak, num_train_steps, num_warmup_steps):
    """The trainer's schedule: linear warmup to `peak`, then linear decay to 0 at the end."""
    if step < num_warmup_steps:
        return peak * step / num_warmup_steps
    return peak * (1.0 - step / num_train_steps)


def param_groups(modules, weight_decay):
    """AdamW groups: no weight decay on biases and LayerNorm weights, as BERT."""
    decay, no_decay = [], []
    for module in modules:
        for name, param in module.named_parameters():
            if param.requires_grad:
                plain = name.endswith("bias") or "LayerNorm" in name
                (no_decay if plain else decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0}]


class DistillStep(nn.Module):
    """The student, its hidden-state projections and the loss as one module, so that DDP
    synchronises every trained parameter and torch.compile sees the whole student side.

    forward(batch, teacher_out, shares) -> (this micro-batch's weighted loss, stats [its loss
    parts..., masked positions agreeing with the teacher, correct, real masked positions]).
    `shares` [2]: the micro-batch's share of the step's real masked positions and of its real
    tokens. The hard loss and KD (unless at every token) are means over masked positions, the
    others over tokens (`per_masked_position`); weighting each by its share makes the step's
    loss the mean over the global batch, the same however the batch is split into processes and
    micro-batches.
    """

    def __init__(self, student, projection, weights, pairs):
        super().__init__()
        self.student, self.projection = student, projection
        self.weights, self.pairs = weights, pairs
        self.parts = active_parts(weights)
        self.per_masked_position = per_masked_position(weights)

    def forward(self, batch, teacher_out, shares):
        out = forward_masked(self.student, batch, hidden=self.weights.hidden > 0,
                             attention=self.weights.attention > 0,
                             every_position=kd_at_every_token(self.weights))
        _, parts = distill_loss(out, teacher_out, batch, self.weights, self.pairs,
                                self.projection)
        weighted = [parts[k] * shares[0 if k in self.per_masked_position else 1]
                    for k in self.parts]
        total = sum(getattr(self.weights, k) * v for k, v in zip(self.parts, weighted,
                                                                 strict=True))
        with torch.no_grad():
            real = batch["masked_lm_weights"] > 0                       # [B, P]
            predicted = out.logits.argmax(-1)                          # [B, P]
            agreeing = ((predicted == teacher_out.logits.argmax(-1)) & real).sum()
            correct = ((predicted == batch["masked_lm_ids"]) & real).sum()
            stats = torch.stack([v.detach().float() for v in weighted]
                                + [agreeing.float(), correct.float(), real.sum().float()])
        return total, stats


def make_train_step(step_module, ddp, teacher_forward, optimizer, trained, args, process,
                    autocast, host_group=None, cuda_graphs=False):
    """train_step(step, micro_batches, stop_requested) -> (sums to log, a device tensor
    [loss, parts..., agreeing, correct, positions, grad norm]; whether to stop after it, as
    agreed by every process). `host_group`: the processes' group for CPU tensors
    (`launch.host_group`), None for one process. `cuda_graphs`: the compiled functions replay
    as CUDA graphs; each step tells them a new iteration begins (the previous one's outputs
    are consumed by then)."""
    device, world = process.device, process.world

    def train_step(step, micro_batches, stop_requested):
        if cuda_graphs:
            torch.compiler.cudagraph_mark_step_begin()
        torch.manual_seed(step_seed(args.random_seed, step, process.rank))
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, args.learning_rate, args.num_train_steps,
                                        args.num_warmup_steps)
        shares, stopping = micro_batch_shares(micro_batches, stop_requested, world, host_group)
        if device.type == "cuda":
            shares = shares.pin_memory()
        shares = shares.to(device, non_blocking=True)
        sums = None
        for j, batch in enumerate(micro_batches):
            batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
            syncing = ddp is None or j == len(micro_batches) - 1
            with autocast, (contextlib.nullcontext() if syncing else ddp.no_sync()):
                with torch.no_grad():
                    teacher_out = teacher_forward(batch)
                total, stats = step_module(batch, teacher_out, shares[j])
                total.backward()
            part = torch.cat([total.detach().float().view(1), stats])
            sums = part if sums is None else sums + part
        grad_norm = nn.utils.clip_grad_norm_(trained, args.max_grad_norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return torch.cat([sums, grad_norm.detach().float().view(1)]), stopping

    return train_step


def micro_batch_shares(micro_batches, stop_requested, world, host_group=None):
    """(shares, stopping): each micro-batch's share of the step's real masked positions and
    real tokens over every process, x `world` ([micro-batches, 2] float32 on the host: DDP
    averages the processes' gradients, x world makes it their sum), and whether any process
    was asked to stop. Counted from the host's batches; with several processes, one all-reduce
    of three numbers over `host_group`, which waits for no device."""
    counts = torch.tensor([[int((b["masked_lm_weights"] > 0).sum()),
                            int(b["input_mask"].sum())] for b in micro_batches],
                          dtype=torch.float32)
    votes = torch.cat([counts.sum(0), torch.tensor([float(stop_requested)])])
    if world > 1:
        torch.distributed.all_reduce(votes, group=host_group)
    return counts / votes[:2].clamp(min=1) * world, bool(votes[2] > 0)


def install_output_hooks(models, device, hidden, attention):
    """One eager forward pass of each model with the outputs the steps ask for, before
    torch.compile: transformers registers its output-capturing hooks (output_hidden_states,
    output_attentions) on a model's first such call, `loss.forward_masked` its hook keeping
    the embeddings before dropout, and registering them inside a compiled function breaks its
    graph (the student's step and the teacher's forward pass into 5 graphs
    instead of 2). In eval mode, so no dropout draws from the random state."""
    if not (hidden or attention):
        return
    tokens = torch.zeros((1, 2), dtype=torch.long, device=device)
    batch = {"input_ids": tokens, "input_mask": torch.ones_like(tokens),
             "segment_ids": tokens, "masked_lm_positions": tokens[:, :1]}
    with torch.no_grad():
        for model in models:
            training = model.training
            model.eval()
            forward_masked(model, batch, hidden=hidden, attention=attention)
            model.train(training)


def compile_step(step_module, teacher_forward, teacher, student, weights, device,
                 cuda_graphs=False):
    """`step_module` and `teacher_forward` under torch.compile, each one graph: the models'
    output hooks installed first (`install_output_hooks`). `cuda_graphs`: replayed as CUDA
    graphs, which on an H200 took a BERT-base -> 4-layer step at batch 128 from 20.8 to
    18.5 ms: the CPU launching each kernel was the step's bottleneck."""
    install_output_hooks((teacher, student), device, hidden=weights.hidden > 0,
                         attention=weights.attention > 0)
    mode = "reduce-overhead" if cuda_graphs else None
    return torch.compile(step_module, mode=mode), torch.compile(teacher_forward, mode=mode)


def _synchronize(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _means(values, steps, parts, world):
    """An interval's log values from its step values summed over its steps and the processes
    (the losses there are x world, see `make_train_step`)."""
    means = {"loss": values[0] / (steps * world)}
    means.update({f"loss_{k}": values[1 + i] / (steps * world) for i, k in enumerate(parts)})
    agreeing, correct, positions, grad_norm = values[1 + len(parts):]
    means.update({"teacher_agreement": agreeing / max(positions, 1),
                  "masked_lm_accuracy": correct / max(positions, 1),
                  "grad_norm": grad_norm / (steps * world)})
    return means


def run_steps(train_step, feed, monitor, save, first_step, last_step, args, stop, parts,
              process):
    """The loop from `first_step` to `last_step`: step, log every --log_every_n_steps, save
    every --save_checkpoints_steps, on SIGTERM and at the end; return the last log entry's
    summary. `monitor` and `save` are None on the processes other than rank 0.

    The process's first step (torch.compile's compilation) is timed alone; the throughput
    clock leaves it and the saves out."""
    device, world = process.device, process.world
    bar = progress(total=args.num_train_steps, desc="distilling", unit="step") if monitor \
        else None
    if bar:
        bar.update(first_step)
    current, last_entry, first_step_seconds = first_step, {}, None
    totals, steps, untimed = None, 0, 0
    started = time.perf_counter()
    while current < last_step:
        sums, stopping = train_step(current, feed.next(), stop.requested)
        totals = sums if totals is None else totals + sums
        steps, current = steps + 1, current + 1
        if bar:
            bar.update(1)
        if first_step_seconds is None:
            _synchronize(device)
            first_step_seconds = time.perf_counter() - started
            untimed, started, feed.input_seconds = 1, time.perf_counter(), 0.0
        if current % args.log_every_n_steps == 0 or current == last_step:
            if world > 1:
                torch.distributed.all_reduce(totals)
            means = _means(totals.tolist(), steps, parts, world)
            means["learning_rate"] = learning_rate(current - 1, args.learning_rate,
                                                   args.num_train_steps, args.num_warmup_steps)
            if monitor:
                entry = monitor.record(current, means, steps - untimed,
                                       time.perf_counter() - started, feed.input_seconds,
                                       first_step_seconds if untimed else None)
                bar.set_postfix(loss=f"{entry['loss']:.3f}",
                                agree=f"{entry['teacher_agreement']:.3f}")
                last_entry = {"final_loss": entry["loss"],
                              "final_teacher_agreement": entry["teacher_agreement"],
                              **{f"final_{k}": entry[k] for k in entry if k.startswith("loss_")},
                              **{k: entry[k] for k in THROUGHPUT_KEYS if k in entry}}
            totals, steps, untimed = None, 0, 0
            started, feed.input_seconds = time.perf_counter(), 0.0
        if current % args.save_checkpoints_steps == 0 or current == last_step or stopping:
            _synchronize(device)
            saving = time.perf_counter()
            if save:
                save(current)
            if world > 1:
                torch.distributed.barrier()
            started += time.perf_counter() - saving
        if stopping:
            if bar:
                bar.close()
            raise DistillationInterrupted(f"stopped at step {current} on SIGTERM; the state is "
                                          "saved, rerun the same command to resume")
    if bar:
        bar.close()
    return {**last_entry, "compile_seconds": first_step_seconds}
