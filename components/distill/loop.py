"""`distill()`: knowledge distillation of a BertForMaskedLM teacher into a smaller student,
resumable and preemptible, on one or several processes.

One function per phase: check every input before anything is written (`load_inputs`), start
the processes (`launch`), build the models, optimizer and input in each (`run_process`),
restore the newest state, run the steps with periodic saves (`run_steps`), then write the
student, evaluate it against the teacher and write `manifest.json` last (`finish`).
"""

import dataclasses
import functools
import logging
import os
from typing import NamedTuple

import torch
from torch import nn

from components.common.disk import check_writable_location, write_errors_as_user_errors
from components.common.errors import UserError
from components.common.run_state import (
    StopRequest,
    check_run_settings,
    keep_logs,
    start_run,
)
from components.distill import launch, output
from components.distill.arguments import CompareArguments
from components.distill.compare import compare_models, flat_metrics
from components.distill.feed import BatchFeed
from components.distill.loss import (
    HiddenProjection,
    LossWeights,
    forward_masked,
    kd_at_every_token,
)
from components.distill.monitor import (
    LOG_FILE,
    DistillMonitor,
    device_peak_tflops,
    distill_flops_per_example,
)
from components.distill.records import check_data_matches_teacher, open_split
from components.distill.state import STATE_DIR, TrainingState
from components.distill.steps import (
    DistillStep,
    active_parts,
    compile_step,
    make_train_step,
    param_groups,
    run_steps,
)
from components.distill.student import (
    StudentShape,
    hidden_layer_pairs,
    init_student,
    load_teacher,
    student_config,
    teacher_layer_map,
)

log = logging.getLogger(__name__)

class Inputs(NamedTuple):
    teacher: nn.Module
    config: object  # the student's transformers.BertConfig
    layer_map: list
    index: object   # records.RecordIndex of the train split
    state_dir: str


def loss_weights(args):
    return LossWeights(temperature=args.temperature, kd=args.kd_weight, hard=args.hard_weight,
                       hidden=args.hidden_weight, attention=args.attention_weight,
                       kd_positions=args.kd_positions)


def read_train_records(args):
    """The train split's index, checked against the teacher's vocab and positions (and the
    held-out split's presence when evaluating)."""
    index = open_split(args.input_dir, "train")
    check_data_matches_teacher(index, args.teacher_dir)
    if args.do_eval:
        open_split(args.input_dir, "heldout")  # refused now, not after hours of training
    return index


def shared_train_records(args, process, group):
    """`read_train_records` on rank 0 only, its index sent to the other processes over
    `group`: indexing the corpus reads every byte of it (CRCs), once, not once per process.
    A `UserError` of rank 0 is raised on every process."""
    found = [None]
    if process.rank == 0:
        try:
            found = [read_train_records(args)]
        except UserError as err:
            found = [(err.what, err.where, err.fix)]
    torch.distributed.broadcast_object_list(found, src=0, group=group)
    if isinstance(found[0], tuple):
        raise UserError(*found[0])
    return found[0]


def load_inputs(args, index=None, process=None, group=None):
    """The teacher, the student's config and layer map and the train records, every one
    checked (a `UserError` each) before anything is written.

    `index`: the train records as another process read and checked them (`spawn`'s parent);
    else, with torchrun's `process` and a host `group`, rank 0 reads them for all."""
    attention = args.attention_weight > 0  # sdpa returns no attention probabilities
    teacher = load_teacher(args.teacher_dir, attn_implementation="eager" if attention else "sdpa")
    config = student_config(teacher.config, StudentShape(
        args.student_num_hidden_layers, args.student_hidden_size,
        args.student_num_attention_heads, args.student_intermediate_size))
    if args.student_dropout is not None:
        config.hidden_dropout_prob = config.attention_probs_dropout_prob = args.student_dropout
    layer_map = teacher_layer_map(teacher.config.num_hidden_layers, config.num_hidden_layers,
                                  args.teacher_layers)
    if index is None:
        index = (shared_train_records(args, process, group) if group is not None
                 else read_train_records(args))
    if index.seq_length > teacher.config.max_position_embeddings:
        raise UserError(f"the records are {index.seq_length} tokens long but the teacher "
                        f"takes at most {teacher.config.max_position_embeddings}",
                        where=args.input_dir, fix="prepare the data with a shorter "
                        "--max_seq_length")
    state_dir = args.checkpoint_dir or os.path.join(args.output_dir, STATE_DIR)
    check_writable_location(args.output_dir, "--output_dir")
    check_writable_location(state_dir, "--checkpoint_dir")
    if args.pytorch_dump_path:
        check_writable_location(args.pytorch_dump_path, "--pytorch_dump_path", expect="file")
    return Inputs(teacher, config, layer_map, index, state_dir)


def distill(args):
    """Distil `args.teacher_dir` into a student in `args.output_dir` (`DistillArguments`),
    resuming from the newest state in `args.checkpoint_dir` (default OUTPUT_DIR/distill_state);
    return the run's summary (with the held-out comparison when `args.do_eval`).

    `train_batch_size` is per process (global batch = it x processes). `stop_at_step` ends
    this run early after saving. SIGTERM saves and raises `DistillationInterrupted`.
    """
    process = launch.torchrun_process()
    if process is not None:
        with launch.process_group(process):
            return run_process(args, process)
    inputs = load_inputs(args)
    world = launch.processes_to_start(args.num_processes)
    if world == 1:
        return run_process(args, launch.single_process(), inputs)
    # The started processes load the models themselves and take the records as read here.
    return launch.spawn(functools.partial(run_process, index=inputs.index), args, world)


def resolve_precision(precision, device):
    """auto: bf16 on a GPU that has it, fp32 otherwise (on CPU, bf16 only when asked)."""
    if precision != "auto":
        return precision
    return "bf16" if device.type == "cuda" and torch.cuda.is_bf16_supported() else "fp32"


def uses_cuda_graphs(args, device, world, compiled):
    """--cuda_graphs resolved: only compiled steps on a GPU replay as graphs. By default one
    process without gradient accumulation, the case measured on an H200 (bench/distill_gpu.py):
    a graph's outputs are overwritten by its next replay, so micro-batches' gradients would
    have to be copied out before they are summed, and DDP's collectives stay outside graphs."""
    possible = compiled and device.type == "cuda"
    if args.cuda_graphs is None:
        return possible and world == 1 and args.gradient_accumulation_steps == 1
    if args.cuda_graphs and not possible:
        log.info("--cuda_graphs True has no effect without torch.compile on a GPU")
    return args.cuda_graphs and possible


def run_process(args, process, inputs=None, index=None):
    """Train in this process (rank `process.rank` of `process.world`); rank 0 saves, logs and
    writes the output. Returns the summary (rank 0) or {}. `inputs`: loaded by the caller
    (one process); `index`: the train records read by the process that started this one."""
    host_group = launch.host_group(process)
    inputs = inputs or load_inputs(args, index, process, host_group)
    chief, device, world = process.rank == 0, process.device, process.world
    precision = resolve_precision(args.precision, device)
    compiled = device.type == "cuda" if args.torch_compile is None else args.torch_compile
    graphs = uses_cuda_graphs(args, device, world=process.world, compiled=compiled)
    global_batch = args.train_batch_size * world
    weights = loss_weights(args)
    # kd_positions is a setting of its own: states saved before it existed (KD at the masked
    # positions) have loss_weights without it, and resume.
    loss_settings = dataclasses.asdict(weights)
    student_settings = {k: v for k, v in inputs.config.to_diff_dict().items()
                        if k != "transformers_version"}
    settings = {"student_config": student_settings, "teacher_layers": inputs.layer_map,
                "global_batch_size": global_batch, "num_train_steps": args.num_train_steps,
                "num_warmup_steps": args.num_warmup_steps, "learning_rate": args.learning_rate,
                "weight_decay": args.weight_decay, "random_seed": args.random_seed,
                "loss_weights": loss_settings,
                "kd_positions": loss_settings.pop("kd_positions")}
    check_run_settings(inputs.state_dir, settings)
    log.info("distilling on %d process(es) (%s), global batch %d, precision %s, torch.compile "
             "%s%s", world, device, global_batch, precision, "on" if compiled else "off",
             " with CUDA graphs" if graphs else "")

    student = init_student(inputs.teacher, inputs.config, inputs.layer_map, args.random_seed)
    if weights.attention > 0:
        student.set_attn_implementation("eager")
    pairs = hidden_layer_pairs(inputs.layer_map)
    torch.manual_seed(args.random_seed)
    projection = HiddenProjection(inputs.config.hidden_size, inputs.teacher.config.hidden_size,
                                  len(pairs))
    teacher, student, projection = (m.to(device) for m in (inputs.teacher, student, projection))
    if precision == "bf16":
        # It runs without gradients: cast once, not again under autocast at every forward pass
        # (the loss upcasts its logits and hidden states to float32).
        teacher = teacher.to(torch.bfloat16)
    state = TrainingState(inputs.state_dir, args.keep_checkpoint_max)
    restored = state.restore_newest()
    if restored:
        student.load_state_dict(restored["student"])
        projection.load_state_dict(restored["projection"])
    optimizer = torch.optim.AdamW(param_groups((student, projection), args.weight_decay),
                                  lr=args.learning_rate, fused=device.type == "cuda")
    if restored:
        optimizer.load_state_dict(restored["optimizer"])
        log.info("resuming from step %d", restored["step"])
    first_step = restored["step"] if restored else 0
    if chief:  # only now, with every input checked, does the output directory change
        start_run(args.output_dir, inputs.state_dir, LOG_FILE, settings)

    step_module = DistillStep(student, projection, weights, pairs)
    ddp = None
    if world > 1:
        ddp = step_module = nn.parallel.DistributedDataParallel(
            step_module, device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=weights.hidden == 0 or weights.kd + weights.hard == 0)

    def teacher_forward(batch):
        return forward_masked(teacher, batch, hidden=weights.hidden > 0,
                              attention=weights.attention > 0,
                              every_position=kd_at_every_token(weights))

    if compiled:
        step_module, teacher_forward = compile_step(step_module, teacher_forward, teacher,
                                                    student, weights, device, graphs)
    student.train()
    train_step = make_train_step(
        step_module, ddp, teacher_forward, optimizer,
        list(student.parameters()) + list(projection.parameters()), args, process,
        torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16"),
        host_group, graphs)

    def save(step):
        state.save(step, {"step": step, "student": student.state_dict(),
                          "projection": projection.state_dict(),
                          "optimizer": optimizer.state_dict(),
                          "examples_seen": step * global_batch})
        keep_logs(args.output_dir, inputs.state_dir, LOG_FILE)

    last_step = min(args.num_train_steps, args.stop_at_step or args.num_train_steps)
    feed = BatchFeed(inputs.index, args.random_seed, global_batch, process.rank, world,
                     args.gradient_accumulation_steps, first_step, last_step,
                     pin_memory=device.type == "cuda")
    monitor = make_monitor(args, inputs, teacher, student, precision, process, global_batch,
                           first_step) if chief else None
    try:
        with StopRequest() as stop, write_errors_as_user_errors(args.output_dir):
            last = run_steps(train_step, feed, monitor, save if chief else None, first_step,
                             last_step, args, stop, active_parts(weights), process)
    finally:
        feed.close()
        if monitor:
            monitor.close()
    summary = {"global_step": max(first_step, last_step), "num_train_steps": args.num_train_steps,
               "train_batch_size": global_batch, "processes": world, "precision": precision,
               "torch_compile": compiled, **last}
    if not chief:
        return {}
    if summary["global_step"] < args.num_train_steps:
        return summary
    return finish(args, inputs, student, summary)


def make_monitor(args, inputs, teacher, student, precision, process, global_batch, first_step):
    head_positions = inputs.index.seq_length if kd_at_every_token(loss_weights(args)) \
        else inputs.index.max_predictions
    flops = distill_flops_per_example(teacher.config, student.config, inputs.index.seq_length,
                                      head_positions)
    peak = args.peak_tflops
    if peak is None and process.device.type == "cuda":
        name = torch.cuda.get_device_name(process.device)
        peak = device_peak_tflops(name, precision)
        if peak is None:
            log.info("no peak TFLOP/s known for %r; pass --peak_tflops to see MFU", name)
    return DistillMonitor(args.output_dir, global_batch, global_batch * inputs.index.seq_length,
                          flops, peak * process.world if peak else None, first_step)


def finish(args, inputs, student, summary):
    """Write the student (and the legacy dump), compare it with the teacher on the held-out
    split into metrics.json, and write manifest.json last."""
    with write_errors_as_user_errors(args.output_dir):
        output.write_student(args.output_dir, student, args.teacher_dir)
        if args.pytorch_dump_path:
            summary.update(output.write_legacy_dump(args.pytorch_dump_path, student))
        if args.do_eval:
            metrics = compare_models(CompareArguments(
                teacher_dir=args.teacher_dir, student_dir=args.output_dir,
                input_dir=args.input_dir,
                output_file=os.path.join(args.output_dir, output.METRICS_FILE),
                eval_batch_size=args.eval_batch_size,
                max_eval_examples=args.max_eval_examples))
            summary.update(flat_metrics(metrics))
        output.write_student_manifest(args.output_dir, args.teacher_dir, inputs.config,
                                      inputs.layer_map, summary)
    log.info("wrote the student to %s", args.output_dir)
    return summary
