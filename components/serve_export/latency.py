"""Latency as a service sees it: the encoder's forward pass (input_ids, attention_mask,
token_type_ids → last_hidden_state; no MLM head), timed on this machine.

A grid of cells (batch x sequence x threads); in each cell every model is called in turn, one
call each, after `WARMUP_CALLS` calls each, until each has `min_runs` calls and the cell has
run `seconds` (or `max_runs` calls): a busy machine slows them alike. Per model and cell: p50,
p95, p99 of a call's milliseconds (with a few dozen calls the p99 is close to the slowest),
sequences/s (batch x calls / time), and the speed-ups over the baseline model in the same cell
(its p50 over the model's; the ratio of the throughputs). "All threads" is what this process
may use: its CPU affinity, capped by its cgroup's CPU quota (a pod's CPU limit), not the node's
core count. The serve_export stage and bench/serving.py both time with this module; the report
reads its figures with it (torch is imported where a model is timed, not by the module).
"""

import math
import os
import platform
import time

import numpy as np

WARMUP_CALLS = 2
# The first ids of a BERT vocab are [PAD], [unused*], [UNK], [CLS], [SEP], [MASK]: not text.
FIRST_TEXT_ID = 106
_CGROUP_V2_MAX = "/sys/fs/cgroup/cpu.max"
_CGROUP_V1_QUOTA = ("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "/sys/fs/cgroup/cpu/cpu.cfs_period_us")


def _cgroup_cpu_limit():
    """The CPUs the cgroup's quota allows (a fraction), or None without a quota."""
    try:
        quota, period = _read(_CGROUP_V2_MAX).split()
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota, period = (int(_read(path)) for path in _CGROUP_V1_QUOTA)
        return None if quota <= 0 else quota / period
    except (OSError, ValueError):
        return None


def _read(path):
    with open(path, encoding="ascii") as f:
        return f.read()


def usable_cores():
    """The cores this process may run on: its affinity, capped by whole CPUs of its quota."""
    cores = len(os.sched_getaffinity(0))
    limit = _cgroup_cpu_limit()
    return cores if limit is None else max(1, min(cores, math.floor(limit)))


def thread_settings():
    """One thread, and every usable core (the same when there is one)."""
    return sorted({1, usable_cores()})


def _processor():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine():
    """What the figures were measured on."""
    import torch

    return {"processor": _processor(), "cpu_count": os.cpu_count(), "usable_cores": usable_cores(),
            "torch": torch.__version__}


def pytorch_encoder(model):
    """A call of `model`'s encoder (a `BertForMaskedLM`, on its device in its dtype) on numpy
    inputs, as a PyTorch server makes it; on a GPU it waits for the result."""
    import torch

    device = next(model.parameters()).device

    @torch.inference_mode()
    def call(arrays):
        tensors = {name: torch.from_numpy(value).to(device) for name, value in arrays.items()}
        model.bert(**tensors)
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    return call


def onnx_encoder(session):
    """A call of an ONNX Runtime session over an encoder graph on numpy inputs."""
    def call(arrays):
        session.run(None, arrays)

    return call


def service_inputs(rng, vocab_size, batch, sequence):
    """A batch as a service gets it: random text ids, every position real, one segment."""
    return {"input_ids": rng.integers(FIRST_TEXT_ID, vocab_size, (batch, sequence)),
            "attention_mask": np.ones((batch, sequence), np.int64),
            "token_type_ids": np.zeros((batch, sequence), np.int64)}


def time_cell(calls, arrays, min_runs, max_runs, seconds):
    """{model: [seconds of each call]} of `calls` ({model: call}) on `arrays`, called in turn
    (see the module's docstring)."""
    for call in calls.values():
        for _ in range(WARMUP_CALLS):
            call(arrays)
    timed = {name: [] for name in calls}
    started = time.perf_counter()
    while True:
        for name, call in calls.items():
            begun = time.perf_counter()
            call(arrays)
            timed[name].append(time.perf_counter() - begun)
        runs = len(next(iter(timed.values())))
        if runs >= max_runs or (runs >= min_runs and
                                time.perf_counter() - started >= seconds):
            return timed


def summarize(seconds, batch):
    """p50/p95/p99 milliseconds, sequences/s and the number of calls of one model in a cell."""
    milliseconds = 1000 * np.asarray(seconds)
    p50, p95, p99 = np.percentile(milliseconds, [50, 95, 99])
    return {"p50_ms": float(p50), "p95_ms": float(p95), "p99_ms": float(p99),
            "sequences_per_second": batch * len(seconds) / float(np.sum(seconds)),
            "runs": len(seconds)}


def against(models, baseline):
    """Add each model's speed-ups over `baseline` (a key of `models`) in the same cell."""
    base = models[baseline]
    for summary in models.values():
        summary["p50_speedup"] = base["p50_ms"] / summary["p50_ms"]
        summary["throughput_speedup"] = (summary["sequences_per_second"]
                                         / base["sequences_per_second"])
    return models


def time_grid(make_calls, baseline, batches, sequences, threads, vocab_size, min_runs,
              max_runs, seconds, on_cell=None):
    """[{batch, sequence, threads, models: {model: summary and speed-ups}}] over the grid.

    make_calls(threads): {model: call} with `threads` threads each (PyTorch's are set here; an
    ONNX Runtime session is opened with its own); `threads` [None]: leave them as they are (a
    GPU). `on_cell(cell)` is called as each cell is done (bench prints it)."""
    import torch

    rng = np.random.default_rng(0)
    previous = torch.get_num_threads()
    cells = []
    try:
        for count in threads:
            if count:
                torch.set_num_threads(count)
            calls = make_calls(count)
            for batch in batches:
                for sequence in sequences:
                    arrays = service_inputs(rng, vocab_size, batch, sequence)
                    timed = time_cell(calls, arrays, min_runs, max_runs, seconds)
                    models = against({name: summarize(values, batch)
                                      for name, values in timed.items()}, baseline)
                    cells.append({"batch": batch, "sequence": sequence, "threads": count,
                                  "models": models})
                    if on_cell:
                        on_cell(cells[-1])
    finally:
        torch.set_num_threads(previous)
    return cells


# The stage's models: their keys in metrics.json's latency, in the order a table shows them
# (the JSON file keeps its keys sorted).
TEACHER, PYTORCH = "teacher_pytorch", "pytorch"
MODEL_ORDER = (TEACHER, PYTORCH, "onnx_fp32", "onnx_int8")
# A cell stops at this many times --latency_runs calls of each model, however fast they are.
MAX_RUNS_PER_MIN_RUN = 20


def _shape(config):
    return {"num_hidden_layers": config.num_hidden_layers, "hidden_size": config.hidden_size}


def measure(model, graph_paths, teacher, role, args):
    """The serve_export stage's latency figures (metrics.json's `latency`): the encoder of
    `teacher` (a `BertForMaskedLM`, or None) and of `model` in PyTorch and of the encoder-only
    graphs `graph_paths` ({"fp32"|"int8": path}) on this machine over the grid of `args`
    (`ServeExportArguments`), against the teacher (without one: `model` in PyTorch); `role`
    names `model` ("student", "teacher", "model")."""
    from components.serve_export.graph import open_session

    models = {PYTORCH: {"label": f"{role}, PyTorch", **_shape(model.config)}}
    models.update({f"onnx_{name}": {"label": f"{role}, {name} ONNX", **_shape(model.config)}
                   for name in graph_paths})
    vocab_size = model.config.vocab_size
    if teacher is not None:
        models = {TEACHER: {"label": "teacher, PyTorch", **_shape(teacher.config)}, **models}
        vocab_size = min(vocab_size, teacher.config.vocab_size)

    def make_calls(threads):
        calls = {TEACHER: pytorch_encoder(teacher)} if teacher is not None else {}
        calls[PYTORCH] = pytorch_encoder(model)
        for name, path in graph_paths.items():
            calls[f"onnx_{name}"] = onnx_encoder(open_session(path, threads))
        return calls

    threads = thread_settings()
    baseline = TEACHER if teacher is not None else PYTORCH
    cells = time_grid(make_calls, baseline, args.latency_batch_sizes, args.latency_seq_lengths,
                      threads, vocab_size, args.latency_runs,
                      MAX_RUNS_PER_MIN_RUN * args.latency_runs, args.latency_seconds_per_cell)
    return {"machine": machine(), "baseline": baseline, "models": models, "cells": cells,
            "settings": {"batch_sizes": list(args.latency_batch_sizes),
                         "seq_lengths": list(args.latency_seq_lengths), "threads": threads,
                         "min_runs": args.latency_runs,
                         "max_runs": MAX_RUNS_PER_MIN_RUN * args.latency_runs,
                         "seconds_per_cell": args.latency_seconds_per_cell,
                         "warmup_calls": WARMUP_CALLS, "dtype": "float32",
                         "what": "the encoder's forward pass (last_hidden_state, no MLM head), "
                                 "every position real, one segment"}}


# The goal for the CPU: the int8 student at least 4x the PyTorch teacher's p50 at
# batch 1 x 128 tokens (one sentence or two, one request), its top-1 agreement with PyTorch at
# least 0.98 (the stage's own limit is --min_int8_agreement).
GOAL_BATCH, GOAL_SEQUENCE, GOAL_SPEEDUP, GOAL_TOP1_AGREEMENT = 1, 128, 4.0, 0.98


def headline_cells(figures):
    """The cells of the goal's batch x sequence (without it in the grid: the smallest batch at
    the longest sequence), one per thread setting."""
    settings = figures["settings"]
    batch = GOAL_BATCH if GOAL_BATCH in settings["batch_sizes"] else min(settings["batch_sizes"])
    sequence = (GOAL_SEQUENCE if GOAL_SEQUENCE in settings["seq_lengths"]
                else max(settings["seq_lengths"]))
    return [cell for cell in figures["cells"]
            if (cell["batch"], cell["sequence"]) == (batch, sequence)]


def model_names(figures):
    """The keys of the timed models, in `MODEL_ORDER` (any other after them)."""
    return sorted(figures["models"], key=lambda name: (
        MODEL_ORDER.index(name) if name in MODEL_ORDER else len(MODEL_ORDER), name))


def served_graph(figures):
    """The key of the fastest graph a service would load: int8 when there is one."""
    return next(key for key in ("onnx_int8", "onnx_fp32", PYTORCH) if key in figures["models"])


def describe_cell(cell, figures):
    """One line: a cell's p50 of each model and its speed-up over the baseline."""
    parts = [f"{figures['models'][name]['label']} {cell['models'][name]['p50_ms']:.1f} ms"
             + ("" if name == figures["baseline"]
                else f" ({cell['models'][name]['p50_speedup']:.2f}x)")
             for name in model_names(figures)]
    return (f"batch {cell['batch']} x {cell['sequence']}, {cell['threads']} thread(s): p50 "
            + ", ".join(parts))
