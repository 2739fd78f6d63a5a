"""Serving latency: the encoder as a service calls it, the PyTorch teacher against the student in
PyTorch, as the fp32 ONNX graph and as the int8 ONNX graph.

    .venv/bin/python bench/serving.py [--full] [--device cpu|cuda] [--output_file F]
        [--teacher_dir T --student_dir S] [--input_dir PRETRAINING_DATA]

Models: by default a BERT-base-shaped teacher (12 layers, hidden 768, 12 heads, feed-forward
3072, 512 positions) with random weights and the vocab of ../shared/reference/
chinese_bert_vocab.txt (21,128 tokens; data/sample/vocab.txt without it), and the distiller's
default student made from it (4 layers, copied from teacher layers 2, 5, 8, 11). The time of a
forward pass does not depend on the weights' values, so random weights time as trained ones do;
the int8 agreement measured on them is not a trained student's (pass --teacher_dir and
--student_dir, and --input_dir for held-out records, to measure real models).
The student's graphs are made by the serve_export stage itself (`--head encoder --quantize
int8`), whose parity check gives the int8 graph's top-1 agreement with PyTorch (the MLM head on
its hidden states, at the masked positions of --input_dir's held-out records or of synthetic
sequences).

Measured: the encoder's forward pass (input_ids, attention_mask, token_type_ids →
last_hidden_state; no MLM head), float32, at batch x sequence of 1, 8 x 32, 128 (--full: 1, 8,
32 x 32, 128, 512), with one thread and with every core (torch.set_num_threads; ONNX Runtime's
intra_op_num_threads). In each cell the four models run one call each in turn, after two warm-up
calls each, until every one has --min_runs calls and the cell has run --seconds_per_cell (or
--max_runs calls): a busy machine slows them alike. Per model: p50, p95, p99 latency of a call
(with a few dozen calls the p99 is close to the slowest), sequences/s (batch x calls / time),
and the speed-ups over the PyTorch teacher in the same cell (its p50 over the model's; the
throughput ratio). With --device cuda: the teacher and student in PyTorch in bf16 and fp16 and
the student's fp32 graph on ONNX Runtime's CUDA provider when the installed onnxruntime has it
(the CPU build does not; dynamic int8 runs on CPUs only), against the teacher in bf16.
"""

import argparse
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from components.common.artifacts import write_json_atomic  # noqa: E402
from components.common.logs import setup_logging  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REFERENCE_VOCAB = os.path.join(ROOT, "..", "shared", "reference", "chinese_bert_vocab.txt")
SAMPLE_VOCAB = os.path.join(ROOT, "data", "sample", "vocab.txt")
BERT_BASE = {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
             "intermediate_size": 3072, "max_position_embeddings": 512}
STUDENT_LAYERS = 4
QUICK_GRID = ((1, 8), (32, 128))
FULL_GRID = ((1, 8, 32), (32, 128, 512))
GOAL_CELL, GOAL_SPEEDUP, GOAL_AGREEMENT = (1, 128), 4.0, 0.98
BASELINE = "teacher_pytorch"


def random_models(vocab_file, directory):
    """A random BERT-base teacher and the distiller's student of it, both saved (with
    `vocab_file`) under `directory`: (teacher_dir, student_dir)."""
    import transformers

    from components.bert.vocab import count_vocab
    from components.distill.student import (
        StudentShape,
        init_student,
        student_config,
        teacher_layer_map,
    )

    torch.manual_seed(0)
    config = transformers.BertConfig(vocab_size=count_vocab(vocab_file), **BERT_BASE)
    teacher = transformers.BertForMaskedLM(config).eval()
    shape = student_config(teacher.config, StudentShape(STUDENT_LAYERS))
    student = init_student(teacher, shape, teacher_layer_map(BERT_BASE["num_hidden_layers"],
                                                             STUDENT_LAYERS), seed=1)
    saved = []
    for name, model in (("teacher", teacher), ("student", student)):
        model_dir = os.path.join(directory, name)
        model.save_pretrained(model_dir)
        shutil.copyfile(vocab_file, os.path.join(model_dir, "vocab.txt"))
        saved.append(model_dir)
    return tuple(saved)


def export_student(student_dir, input_dir, directory):
    """The serve_export stage on the student (encoder graph, int8): (output dir, its metrics)."""
    from components.serve_export.arguments import ServeExportArguments
    from components.serve_export.run import run_serve_export

    out = os.path.join(directory, "student_onnx")
    metrics = run_serve_export(ServeExportArguments(
        model_dir=student_dir, output_dir=out, input_dir=input_dir, head="encoder",
        quantize="int8", min_int8_agreement=0.0))
    return out, metrics


def pytorch_encoder(model, dtype=None):
    """A call of `model`'s encoder on numpy inputs (the service's arrays), in `dtype`."""
    device = next(model.parameters()).device

    @torch.inference_mode()
    def call(arrays):
        tensors = {name: torch.from_numpy(value).to(device) for name, value in arrays.items()}
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            model.bert(**tensors)
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    return call


def onnx_encoder(session):
    def call(arrays):
        session.run(None, arrays)

    return call


def service_inputs(rng, vocab_size, batch, sequence):
    return {"input_ids": rng.integers(106, vocab_size, (batch, sequence)),
            "attention_mask": np.ones((batch, sequence), np.int64),
            "token_type_ids": np.zeros((batch, sequence), np.int64)}


def time_cell(calls, arrays, args):
    """{model: [seconds of each call]}, the models called in turn (see the docstring)."""
    for call in calls.values():
        for _ in range(2):
            call(arrays)
    seconds = {name: [] for name in calls}
    started = time.perf_counter()
    while True:
        for name, call in calls.items():
            begun = time.perf_counter()
            call(arrays)
            seconds[name].append(time.perf_counter() - begun)
        runs = len(seconds[BASELINE])
        if runs >= args.max_runs or (runs >= args.min_runs and
                                     time.perf_counter() - started >= args.seconds_per_cell):
            return seconds


def summarize(seconds, batch):
    milliseconds = 1000 * np.asarray(seconds)
    p50, p95, p99 = np.percentile(milliseconds, [50, 95, 99])
    return {"p50_ms": float(p50), "p95_ms": float(p95), "p99_ms": float(p99),
            "sequences_per_second": batch * len(seconds) / float(np.sum(seconds)),
            "runs": len(seconds)}


def cpu_models(teacher, student, onnx_dir, threads):
    from components.serve_export.graph import FP32_FILE, INT8_FILE, open_session

    return {BASELINE: pytorch_encoder(teacher), "student_pytorch": pytorch_encoder(student),
            "student_onnx_fp32": onnx_encoder(open_session(os.path.join(onnx_dir, FP32_FILE),
                                                           threads)),
            "student_onnx_int8": onnx_encoder(open_session(os.path.join(onnx_dir, INT8_FILE),
                                                           threads))}


def cuda_models(teacher, student, onnx_dir):
    import onnxruntime

    from components.serve_export.graph import FP32_FILE, open_session

    device = torch.device("cuda")
    teacher, student = teacher.to(device), student.to(device)
    calls = {BASELINE: pytorch_encoder(teacher, torch.bfloat16),
             "teacher_pytorch_fp16": pytorch_encoder(teacher, torch.float16),
             "student_pytorch": pytorch_encoder(student, torch.bfloat16),
             "student_pytorch_fp16": pytorch_encoder(student, torch.float16)}
    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        session = open_session(os.path.join(onnx_dir, FP32_FILE),
                               providers=("CUDAExecutionProvider",))
        calls["student_onnx_fp32_cuda"] = onnx_encoder(session)
    return calls


def run_grid(teacher, student, onnx_dir, args):
    """[{batch, sequence, threads, models: {name: summary and speed-ups}}] over the grid."""
    batches, sequences = FULL_GRID if args.full else QUICK_GRID
    cores = os.cpu_count()
    thread_settings = [None] if args.device == "cuda" else sorted({1, cores})
    rng = np.random.default_rng(0)
    cells = []
    for threads in thread_settings:
        if threads:
            torch.set_num_threads(threads)
        calls = (cuda_models(teacher, student, onnx_dir) if args.device == "cuda"
                 else cpu_models(teacher, student, onnx_dir, threads))
        for batch in batches:
            for sequence in sequences:
                arrays = service_inputs(rng, teacher.config.vocab_size, batch, sequence)
                seconds = time_cell(calls, arrays, args)
                models = {name: summarize(values, batch) for name, values in seconds.items()}
                base = models[BASELINE]
                for summary in models.values():
                    summary["p50_speedup"] = base["p50_ms"] / summary["p50_ms"]
                    summary["throughput_speedup"] = (summary["sequences_per_second"]
                                                     / base["sequences_per_second"])
                cells.append({"batch": batch, "sequence": sequence, "threads": threads,
                              "models": models})
                print_cell(cells[-1])
    return cells


def print_cell(cell):
    threads = "GPU" if cell["threads"] is None else f"{cell['threads']} thread(s)"
    print(f"\nbatch {cell['batch']} x {cell['sequence']}, {threads}")
    print(f"  {'model':<24} {'p50 ms':>9} {'p95 ms':>9} {'p99 ms':>9} {'seq/s':>9} "
          f"{'p50 x':>7} {'seq/s x':>8} {'runs':>5}")
    for name, s in cell["models"].items():
        print(f"  {name:<24} {s['p50_ms']:>9.2f} {s['p95_ms']:>9.2f} {s['p99_ms']:>9.2f} "
              f"{s['sequences_per_second']:>9.1f} {s['p50_speedup']:>7.2f} "
              f"{s['throughput_speedup']:>8.2f} {s['runs']:>5}", flush=True)


def goal_lines(cells, agreement):
    lines = []
    for cell in cells:
        if (cell["batch"], cell["sequence"]) == GOAL_CELL and \
                "student_onnx_int8" in cell["models"]:
            speedup = cell["models"]["student_onnx_int8"]["p50_speedup"]
            lines.append(f"goal at batch 1 x 128, {cell['threads']} thread(s): int8 student "
                         f"p50 {speedup:.2f}x the PyTorch teacher's (goal >= {GOAL_SPEEDUP:g}x): "
                         f"{'met' if speedup >= GOAL_SPEEDUP else 'MISSED'}")
    met = "met" if agreement["top1_agreement"] >= GOAL_AGREEMENT else "MISSED"
    lines.append(f"int8 top-1 agreement with the PyTorch student {agreement['top1_agreement']:.4f}"
                 f" on {agreement['masked_positions']} masked positions of {agreement['source']}"
                 f" data (goal >= {GOAL_AGREEMENT}): {met}")
    return lines


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--full", action="store_true", help="the whole grid: batch 1, 8, 32 x "
                        "sequence 32, 128, 512 (default: batch 1, 8 x 32, 128, for 2 cores)")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"),
                        help="cuda: PyTorch in bf16/fp16 and ONNX Runtime's CUDA provider")
    parser.add_argument("--teacher_dir", help="a BertForMaskedLM directory to time as the "
                        "teacher instead of the random BERT-base")
    parser.add_argument("--student_dir", help="a BertForMaskedLM directory (with vocab.txt) to "
                        "time as the student instead of the random teacher's 4-layer one")
    parser.add_argument("--input_dir", help="pretraining data: the int8 agreement on its "
                        "held-out records (default: on synthetic sequences)")
    parser.add_argument("--vocab_file", help="the random models' vocab (default: the reference "
                        "Chinese BERT vocab when present, else data/sample/vocab.txt)")
    parser.add_argument("--min_runs", type=int, default=10, help="calls of each model per cell")
    parser.add_argument("--max_runs", type=int, default=200, help="at most this many calls")
    parser.add_argument("--seconds_per_cell", type=float, default=3.0,
                        help="time each cell at least this long")
    parser.add_argument("--output_file", help="also write the figures as JSON here")
    args = parser.parse_args(argv)
    if bool(args.teacher_dir) != bool(args.student_dir):
        parser.error("--teacher_dir and --student_dir go together")
    return args


def main(argv=None):
    args = parse_args(argv)
    setup_logging()
    from components.distill.student import load_teacher

    vocab = args.vocab_file or (REFERENCE_VOCAB if os.path.isfile(REFERENCE_VOCAB)
                                else SAMPLE_VOCAB)
    with tempfile.TemporaryDirectory(prefix="bench-serving-") as directory:
        if args.teacher_dir:
            teacher_dir, student_dir = args.teacher_dir, args.student_dir
        else:
            teacher_dir, student_dir = random_models(vocab, directory)
        onnx_dir, exported = export_student(student_dir, args.input_dir, directory)
        teacher, student = load_teacher(teacher_dir), load_teacher(student_dir)
        cells = run_grid(teacher, student, onnx_dir, args)
    checked = exported["parity"]
    agreement = {"top1_agreement": checked["int8"]["top1_agreement"],
                 "masked_positions": checked["data"]["masked_positions"],
                 "source": checked["data"]["source"]}
    print()
    for line in goal_lines(cells, agreement):
        print(line)
    result = {"device": args.device, "cpu_count": os.cpu_count(), "torch": torch.__version__,
              "teacher": {"dir": args.teacher_dir or "random BERT-base",
                          "num_hidden_layers": teacher.config.num_hidden_layers},
              "student": {"dir": args.student_dir or "4 layers of the random teacher",
                          "num_hidden_layers": student.config.num_hidden_layers},
              "vocab_size": teacher.config.vocab_size, "int8_agreement": agreement,
              "parity": checked, "cells": cells}
    if args.output_file:
        write_json_atomic(args.output_file, result)
        print(f"wrote {args.output_file}")
    return result


if __name__ == "__main__":
    main()
