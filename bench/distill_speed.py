"""Part 1 of bench/distill.py, the speed of a distillation step: ours against TextBrewer.

Steps/s of one distillation step with the same teacher, student, losses (KD at the stage's default
temperature at the masked positions + hidden-state MSE with linear projections over the embeddings
and every student layer), AdamW, global-norm clip, batch and sequence length. Ours
(`components.distill.steps`, the stage's own step) vs TextBrewer 0.2.1's `GeneralDistiller`
(kd_loss_type "ce", `hidden_mse` matches with "linear" projections), one step of each in turn in one
process, so that a busy machine slows both alike. TextBrewer two ways: as its users run it on a
`BertForMaskedLM` (vocabulary logits at every position; the adaptor's `logits_mask` restricts the KD
to the masked ones), and with an adaptor that runs the MLM head at the masked positions only, as
ours does. With `--device cuda`, also ours in bf16 with and without torch.compile: steps/s and MFU.
"""

import copy
import statistics
import tempfile
import time

import numpy as np
import torch
from step_timing import median_step_seconds

from components.distill.arguments import DistillArguments

# (layers, hidden, heads, intermediate) of the teacher and the student.
SIZES = {"small": ((4, 256, 4, 1024), (2, 128, 2, 512)),
         "base": ((12, 768, 12, 3072), (4, 768, 12, 3072))}
TEMPERATURE = DistillArguments.temperature


def synthetic_batch(args, seed=0):
    """One batch named as the pretraining records (`records.FEATURES`): no padding, all
    `predictions` masked positions real."""
    rng = np.random.default_rng(seed)
    B, T, P = args.batch_size, args.seq_length, args.predictions
    positions = np.sort(np.stack([rng.choice(np.arange(1, T), P, replace=False)
                                  for _ in range(B)]), axis=1)
    arrays = {"input_ids": rng.integers(106, args.vocab_size, (B, T)),
              "input_mask": np.ones((B, T), np.int64), "segment_ids": np.zeros((B, T), np.int64),
              "masked_lm_positions": positions,
              "masked_lm_ids": rng.integers(106, args.vocab_size, (B, P)),
              "masked_lm_weights": np.ones((B, P), np.float32)}
    return {k: torch.from_numpy(v) for k, v in arrays.items()}


def speed_models(args, device):
    """A random teacher and our initialisation of the student for it, with the layer map."""
    from transformers import BertConfig, BertForMaskedLM

    from components.distill.student import (
        StudentShape,
        init_student,
        student_config,
        teacher_layer_map,
    )

    (layers, hidden, heads, intermediate), shape = SIZES[args.teacher_size]
    torch.manual_seed(0)
    teacher = BertForMaskedLM(BertConfig(
            vocab_size=args.vocab_size, hidden_size=hidden, num_hidden_layers=layers,
            num_attention_heads=heads, intermediate_size=intermediate,
            max_position_embeddings=512))
    teacher.eval().requires_grad_(False)
    config = student_config(teacher.config, StudentShape(*shape))
    layer_map = teacher_layer_map(layers, config.num_hidden_layers)
    student = init_student(teacher, config, layer_map, 1)
    return teacher.to(device), student.to(device), layer_map


def our_step(teacher, student, layer_map, batch, args, device, precision="fp32", compiled=False):
    """run_step() of our distillation step, built as `loop.run_process` builds it."""
    from components.distill.launch import Process
    from components.distill.loop import loss_weights
    from components.distill.loss import HiddenProjection, forward_masked
    from components.distill.steps import DistillStep, make_train_step, param_groups
    from components.distill.student import hidden_layer_pairs

    settings = DistillArguments(teacher_dir="-", input_dir="-", output_dir="-",
                                num_train_steps=10**6, num_warmup_steps=10, learning_rate=1e-4,
                                temperature=TEMPERATURE, kd_weight=1.0, hard_weight=0.0,
                                hidden_weight=1.0, train_batch_size=args.batch_size)
    weights = loss_weights(settings)
    pairs = hidden_layer_pairs(layer_map)
    projection = HiddenProjection(student.config.hidden_size, teacher.config.hidden_size,
                                  len(pairs)).to(device)
    optimizer = torch.optim.AdamW(param_groups((student, projection), settings.weight_decay),
                                  lr=settings.learning_rate, fused=device.type == "cuda")
    step_module = DistillStep(student, projection, weights, pairs)

    def teacher_forward(batch):
        return forward_masked(teacher, batch, hidden=True)

    if compiled:
        step_module, teacher_forward = torch.compile(step_module), torch.compile(teacher_forward)
    student.train()
    train_step = make_train_step(
        step_module, None, teacher_forward, optimizer,
        list(student.parameters()) + list(projection.parameters()), settings,
        Process(0, 1, device),
        torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16"))
    steps = iter(range(10**6))

    def run_step():
        train_step(next(steps), [batch], False)
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    return run_step


class EncoderWithHead(torch.nn.Module):
    """A BertForMaskedLM whose forward stops before the MLM head (so that the adaptor can run
    the head at the masked positions only); its parameters, which TextBrewer clips, include
    the head's."""

    def __init__(self, mlm):
        super().__init__()
        self.mlm = mlm

    def forward(self, **inputs):
        return self.mlm.bert(**inputs)


def full_logits_adaptor(positions):
    """TextBrewer's usual adaptor of a BertForMaskedLM: logits [B, T, V] at every position, the
    masked ones selected by `logits_mask`."""
    def adaptor(batch, outputs):
        logits_mask = torch.zeros(outputs.logits.shape[:2], dtype=torch.bool,
                                  device=positions.device)
        logits_mask.scatter_(1, positions, True)                             # [B, T]
        return {"logits": outputs.logits, "logits_mask": logits_mask,
                "hidden": outputs.hidden_states, "inputs_mask": batch["attention_mask"]}
    return adaptor


def gathered_logits_adaptor(positions, model):
    """An adaptor of an `EncoderWithHead`: the MLM head on the masked positions only."""
    def adaptor(batch, outputs):
        sequence = outputs.last_hidden_state                                 # [B, T, H]
        index = positions.unsqueeze(-1).expand(-1, -1, sequence.shape[-1])   # [B, P, H]
        logits = model.mlm.cls(torch.gather(sequence, 1, index))            # [B, P, V]
        return {"logits": logits, "hidden": outputs.hidden_states,
                "inputs_mask": batch["attention_mask"]}
    return adaptor


class TakingTurns:
    """TextBrewer's dataloader: an endless iterable of the one batch that runs one of our steps
    before handing TextBrewer its next batch, and records both sides' step times. TextBrewer's
    step is timed from its batch_postprocessor (`started`) to its next request for a batch."""

    def __init__(self, batch, run_our_step, device):
        self.batch, self.run_our_step, self.device = batch, run_our_step, device
        self.ours, self.theirs, self.started_at = [], [], None

    def started(self, batch):
        self.started_at = time.perf_counter()
        return batch

    def __iter__(self):
        while True:
            if self.started_at is not None:
                if self.device.type == "cuda":
                    torch.cuda.synchronize(self.device)
                self.theirs.append(time.perf_counter() - self.started_at)
            started = time.perf_counter()
            self.run_our_step()
            self.ours.append(time.perf_counter() - started)
            yield self.batch


def textbrewer_in_turns(teacher, student, layer_map, batch, run_our_step, args, device,
                        gathered):
    """(our step times, TextBrewer's) after warmup, TextBrewer's GeneralDistiller on `student`
    with the losses of ours, one step of each in turn."""
    from textbrewer import DistillationConfig, GeneralDistiller, TrainingConfig
    from transformers import get_linear_schedule_with_warmup

    from components.distill.steps import param_groups
    from components.distill.student import hidden_layer_pairs

    s_hidden, t_hidden = student.config.hidden_size, teacher.config.hidden_size
    matches = [{"layer_T": t, "layer_S": s, "feature": "hidden", "loss": "hidden_mse",
                "weight": 1.0, "proj": ["linear", s_hidden, t_hidden] if s_hidden != t_hidden
                else None} for s, t in hidden_layer_pairs(layer_map)]
    distill_config = DistillationConfig(temperature=TEMPERATURE, kd_loss_type="ce",
                                        kd_loss_weight=1.0, hard_label_weight=0.0,
                                        intermediate_matches=matches)
    positions = batch["masked_lm_positions"].to(device)
    if gathered:
        model_T, model_S = EncoderWithHead(teacher), EncoderWithHead(student)
        adaptor_T = gathered_logits_adaptor(positions, model_T)
        adaptor_S = gathered_logits_adaptor(positions, model_S)
    else:
        model_T, model_S = teacher, student
        adaptor_T = adaptor_S = full_logits_adaptor(positions)
    inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["input_mask"],
              "token_type_ids": batch["segment_ids"]}
    turns = TakingTurns(inputs, run_our_step, device)
    total = args.warmup + args.speed_steps + 1  # the last step's end is not seen: untimed
    with tempfile.TemporaryDirectory(prefix="bench-textbrewer-") as output_dir:
        train_config = TrainingConfig(device=device, output_dir=output_dir, ckpt_steps=total)
        distiller = GeneralDistiller(train_config, distill_config, model_T, model_S, adaptor_T,
                                     adaptor_S)
        optimizer = torch.optim.AdamW(param_groups((student,), 0.01), lr=1e-4)
        with distiller:
            distiller.train(optimizer, turns, num_steps=total, max_grad_norm=1.0,
                            scheduler_class=get_linear_schedule_with_warmup,
                            scheduler_args={"num_warmup_steps": 10,
                                            "num_training_steps": 10**6},
                            batch_postprocessor=turns.started, output_hidden_states=True)
    return turns.ours[args.warmup:total - 1], turns.theirs[args.warmup:]


def run_speed(args, device):
    teacher, student, layer_map = speed_models(args, device)
    batch = {k: v.to(device) for k, v in synthetic_batch(args).items()}
    run_our_step = our_step(teacher, copy.deepcopy(student), layer_map, batch, args, device)
    t, s = teacher.config, student.config
    print(f"\n== 1. speed: teacher {t.num_hidden_layers}x{t.hidden_size} -> student "
          f"{s.num_hidden_layers}x{s.hidden_size}, vocab {t.vocab_size}, batch "
          f"{args.batch_size} x {args.seq_length}, {args.predictions} masked positions; "
          f"{device}, {torch.get_num_threads()} threads; median of {args.speed_steps} steps "
          f"after {args.warmup}, ours and TextBrewer's in turn")
    rows = []
    for gathered, label in ((False, "TextBrewer, logits at every position"),
                            (True, "TextBrewer, adaptor gathering masked positions")):
        ours, theirs = textbrewer_in_turns(teacher, copy.deepcopy(student), layer_map, batch,
                                           run_our_step, args, device, gathered)
        rows.append((label, statistics.median(ours), statistics.median(theirs)))
    for label, ours_s, theirs_s in rows:
        print(f"  {label:<48} {1 / theirs_s:6.2f} steps/s   ours {1 / ours_s:6.2f} steps/s   "
              f"ours/theirs {theirs_s / ours_s:5.2f}x")
    if device.type == "cuda":
        run_gpu_variants(args, device, teacher, student, layer_map, batch)
        return
    ratio = rows[0][2] / rows[0][1]  # the goal was set for the users' CPU runs
    print(f"  goal: ours >= 1.5x TextBrewer as its users run it: {ratio:.2f}x "
          f"({'met' if ratio >= 1.5 else 'NOT met'})")


def run_gpu_variants(args, device, teacher, student, layer_map, batch):
    """Ours in bf16 with and without torch.compile: steps/s and MFU."""
    from components.distill.monitor import device_peak_tflops, distill_flops_per_example

    flops = args.batch_size * distill_flops_per_example(teacher.config, student.config,
                                                        args.seq_length, args.predictions)
    peak = device_peak_tflops(torch.cuda.get_device_name(device), "bf16")
    for compiled in (False, True):
        seconds = median_step_seconds(
            our_step(teacher, copy.deepcopy(student), layer_map, batch, args, device, "bf16",
                     compiled), args.warmup, args.speed_steps)
        mfu = f"MFU {flops / seconds / 1e12 / peak:.1%}" if peak else "MFU: peak unknown"
        print(f"  ours bf16, torch.compile {'on ' if compiled else 'off'}: {1 / seconds:7.2f} "
              f"steps/s, {flops / seconds / 1e12:.1f} TFLOP/s, {mfu} "
              f"({torch.cuda.get_device_name(device)})")
