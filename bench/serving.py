"""Serving latency: the encoder as a service calls it, the PyTorch teacher against the student in
PyTorch, as the fp32 ONNX graph and as the int8 ONNX graph (CPU), or in PyTorch on a GPU.

    .venv/bin/python bench/serving.py [--full | --batch_sizes B.. --seq_lengths L..]
        [--device cpu|cuda] [--dtype bf16|fp16|fp32] [--pytorch_only]
        [--teacher_dir T --student_dir S] [--input_dir PRETRAINING_DATA] [--output_file F]

Models: by default a BERT-base-shaped teacher (12 layers, hidden 768, 12 heads, feed-forward
3072, 512 positions) with random weights and the vocab of ../shared/reference/
chinese_bert_vocab.txt (21,128 tokens; data/sample/vocab.txt without it), and the distiller's
default student made from it (4 layers, copied from teacher layers 2, 5, 8, 11). The time of a
forward pass does not depend on the weights' values, so random weights time as trained ones do;
the int8 agreement measured on them is not a trained student's (pass --teacher_dir and
--student_dir, and --input_dir for held-out records, to measure real models).

On the CPU the serve_export stage itself does the work: it exports the student (`--head encoder
--quantize int8`), checks the graphs (its parity check gives the int8 graph's top-1 agreement
with PyTorch, the MLM head on its hidden states, at the masked positions of --input_dir's
held-out records or of synthetic sequences) and times the teacher and the student in PyTorch
and both graphs with its own timing (`components/serve_export/latency.py`: float32, one thread
and every usable core, each model one call in turn per cell after two warm-up calls, until each
has --min_runs calls and the cell has run --seconds_per_cell; p50, p95, p99, sequences/s and
the speed-ups over the PyTorch teacher in the same cell). Grid: batch 1, 8 x sequence 32, 128
(--full: 1, 8, 32 x 32, 128, 512; or --batch_sizes and --seq_lengths).

With --device cuda (or --pytorch_only on the CPU) the teacher and the student run in PyTorch
alone, on the device in --dtype (the weights cast, as a server loads them; the inputs copied to
the device in each call, which is timed), timed the same way with the threads as they are; on
the GPU the student's fp32 graph joins them on ONNX Runtime's CUDA provider when onnx,
onnxscript and an onnxruntime with that provider (onnxruntime-gpu) are installed, and the
output says why not otherwise (dynamic int8 runs on CPUs only).
"""

import argparse
import importlib
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402

from components.common.artifacts import write_json_atomic  # noqa: E402
from components.common.logs import setup_logging  # noqa: E402
from components.serve_export import latency  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REFERENCE_VOCAB = os.path.join(ROOT, "..", "shared", "reference", "chinese_bert_vocab.txt")
SAMPLE_VOCAB = os.path.join(ROOT, "data", "sample", "vocab.txt")
BERT_BASE = {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
             "intermediate_size": 3072, "max_position_embeddings": 512}
STUDENT_LAYERS = 4
QUICK_GRID = ((1, 8), (32, 128))
FULL_GRID = ((1, 8, 32), (32, 128, 512))
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}
ONNX_MODULES = ("onnx", "onnxscript", "onnxruntime")


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


def export_settings(args, directory, teacher_dir, student_dir, timed):
    """The serve_export stage's arguments for the student: its encoder graph and int8 graph,
    timed beside the teacher over the bench's grid (`timed` False: checked, not timed)."""
    from components.serve_export.arguments import ServeExportArguments

    return ServeExportArguments(
        model_dir=student_dir, output_dir=os.path.join(directory, "student_onnx"),
        input_dir=args.input_dir, teacher_dir=teacher_dir, head="encoder", quantize="int8",
        min_int8_agreement=0.0, latency_batch_sizes=args.batch_sizes,
        latency_seq_lengths=args.seq_lengths, latency_runs=args.min_runs if timed else 0,
        latency_seconds_per_cell=args.seconds_per_cell)


def missing_onnx_cuda():
    """Why the student's graph cannot run on ONNX Runtime's CUDA provider here; None when it
    can."""
    absent = []
    for name in ONNX_MODULES:
        try:
            importlib.import_module(name)
        except ImportError as err:
            absent.append(f"{name} ({err})")
    if absent:
        return f"cannot import {', '.join(absent)}"
    import onnxruntime

    if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        return (f"onnxruntime {onnxruntime.__version__} has no CUDAExecutionProvider (the CPU "
                "build; onnxruntime-gpu has it)")
    return None


def pytorch_grid(teacher_dir, student_dir, directory, args):
    """(cells, the export's metrics or None, why there is no ONNX row) of the models in PyTorch
    on --device in --dtype, and on a GPU the fp32 graph where ONNX Runtime can run it there."""
    from components.distill.student import load_teacher

    device, dtype = torch.device(args.device), DTYPES[args.dtype]
    teacher = load_teacher(teacher_dir).to(device, dtype)
    student = load_teacher(student_dir).to(device, dtype)
    no_onnx = missing_onnx_cuda() if args.device == "cuda" else "--pytorch_only on the CPU"
    exported = None
    if no_onnx is None:
        from components.serve_export.graph import FP32_FILE, open_session
        from components.serve_export.run import run_serve_export

        settings = export_settings(args, directory, teacher_dir, student_dir, timed=False)
        exported = run_serve_export(settings)
        session = open_session(os.path.join(settings.output_dir, FP32_FILE),
                               providers=("CUDAExecutionProvider",))
    def make_calls(_threads):
        calls = {latency.TEACHER: latency.pytorch_encoder(teacher),
                 latency.PYTORCH: latency.pytorch_encoder(student)}
        if no_onnx is None:
            calls["onnx_fp32_cuda"] = latency.onnx_encoder(session)
        return calls

    cells = latency.time_grid(make_calls, latency.TEACHER, args.batch_sizes, args.seq_lengths,
                              [None],
                              min(teacher.config.vocab_size, student.config.vocab_size),
                              args.min_runs, args.max_runs, args.seconds_per_cell, print_cell)
    return cells, exported, no_onnx


def print_cell(cell):
    threads = ("the device's threads as they are" if cell["threads"] is None
               else f"{cell['threads']} thread(s)")
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
        if (cell["batch"], cell["sequence"]) == (latency.GOAL_BATCH, latency.GOAL_SEQUENCE) \
                and "onnx_int8" in cell["models"]:
            speedup = cell["models"]["onnx_int8"]["p50_speedup"]
            met = "met" if speedup >= latency.GOAL_SPEEDUP else "MISSED"
            lines.append(f"goal at batch {latency.GOAL_BATCH} x {latency.GOAL_SEQUENCE}, "
                         f"{cell['threads']} thread(s): int8 student p50 {speedup:.2f}x the "
                         f"PyTorch teacher's (goal >= {latency.GOAL_SPEEDUP:g}x): {met}")
    if agreement:
        met = "met" if agreement["top1_agreement"] >= latency.GOAL_TOP1_AGREEMENT else "MISSED"
        lines.append(f"int8 top-1 agreement with the PyTorch student "
                     f"{agreement['top1_agreement']:.4f} on {agreement['masked_positions']} "
                     f"masked positions of {agreement['source']} data (goal >= "
                     f"{latency.GOAL_TOP1_AGREEMENT}): {met}")
    return lines


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--full", action="store_true", help="the whole grid: batch 1, 8, 32 x "
                        "sequence 32, 128, 512 (default: batch 1, 8 x 32, 128, for 2 cores)")
    parser.add_argument("--batch_sizes", type=int, nargs="+", metavar="BATCH",
                        help="the grid's batch sizes instead of --full's or the default's")
    parser.add_argument("--seq_lengths", type=int, nargs="+", metavar="LENGTH",
                        help="the grid's sequence lengths instead of --full's or the default's")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"),
                        help="cuda: the teacher and the student in PyTorch on the GPU in "
                        "--dtype, and the student's fp32 graph on ONNX Runtime's CUDA provider "
                        "where onnxruntime-gpu is installed")
    parser.add_argument("--pytorch_only", action="store_true",
                        help="on the CPU: the teacher and the student in PyTorch in --dtype "
                        "only, as --device cuda times them (no export, no ONNX)")
    parser.add_argument("--dtype", default="bf16", choices=tuple(DTYPES),
                        help="with --device cuda or --pytorch_only: the PyTorch models' weights "
                        "and compute")
    parser.add_argument("--teacher_dir", help="a BertForMaskedLM directory to time as the "
                        "teacher instead of the random BERT-base")
    parser.add_argument("--student_dir", help="a BertForMaskedLM directory (with vocab.txt) to "
                        "time as the student instead of the random teacher's 4-layer one")
    parser.add_argument("--input_dir", help="pretraining data: the int8 agreement on its "
                        "held-out records (default: on synthetic sequences)")
    parser.add_argument("--vocab_file", help="the random models' vocab (default: the reference "
                        "Chinese BERT vocab when present, else data/sample/vocab.txt)")
    parser.add_argument("--min_runs", type=int, default=10, help="calls of each model per cell, "
                        "at least (a cell stops at 20 times this)")
    parser.add_argument("--seconds_per_cell", type=float, default=3.0,
                        help="time each cell at least this long")
    parser.add_argument("--output_file", help="also write the figures as JSON here")
    args = parser.parse_args(argv)
    if bool(args.teacher_dir) != bool(args.student_dir):
        parser.error("--teacher_dir and --student_dir go together")
    if args.min_runs < 1:
        parser.error("--min_runs must be at least 1")
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error(f"--device cuda: this torch {torch.__version__} sees no CUDA device")
    args.max_runs = latency.MAX_RUNS_PER_MIN_RUN * args.min_runs
    batches, sequences = FULL_GRID if args.full else QUICK_GRID
    args.batch_sizes = args.batch_sizes or list(batches)
    args.seq_lengths = args.seq_lengths or list(sequences)
    return args


def main(argv=None):
    args = parse_args(argv)
    setup_logging()
    vocab = args.vocab_file or (REFERENCE_VOCAB if os.path.isfile(REFERENCE_VOCAB)
                                else SAMPLE_VOCAB)
    no_onnx = None
    with tempfile.TemporaryDirectory(prefix="bench-serving-") as directory:
        if args.teacher_dir:
            teacher_dir, student_dir = args.teacher_dir, args.student_dir
        else:
            teacher_dir, student_dir = random_models(vocab, directory)
        if args.device == "cuda" or args.pytorch_only:
            cells, exported, no_onnx = pytorch_grid(teacher_dir, student_dir, directory, args)
            models = {latency.TEACHER: f"teacher, PyTorch {args.dtype}",
                      latency.PYTORCH: f"student, PyTorch {args.dtype}"}
        else:
            from components.serve_export.run import run_serve_export

            exported = run_serve_export(export_settings(args, directory, teacher_dir,
                                                        student_dir, timed=True))
            cells = exported["latency"]["cells"]
            for cell in cells:
                print_cell(cell)
            models = {key: model["label"] for key, model in exported["latency"]["models"].items()}
    if no_onnx:
        print(f"\nno ONNX rows: {no_onnx}")
    agreement = None
    if exported:
        checked = exported["parity"]
        agreement = {"top1_agreement": checked["int8"]["top1_agreement"],
                     "masked_positions": checked["data"]["masked_positions"],
                     "source": checked["data"]["source"]}
    print()
    for line in goal_lines(cells, agreement):
        print(line)
    result = {"device": args.device, "cpu_count": os.cpu_count(), "torch": torch.__version__,
              "machine": latency.machine(), "teacher": args.teacher_dir or "random BERT-base",
              "student": args.student_dir or "4 layers of the random teacher", "models": models,
              "int8_agreement": agreement, "parity": exported and exported["parity"],
              "cells": cells}
    if args.device == "cuda" or args.pytorch_only:
        result.update(dtype=args.dtype, onnx=no_onnx or "timed on ONNX Runtime's CUDA provider")
    if args.device == "cuda":
        result.update(gpu=torch.cuda.get_device_name(),
                      tf32_matmul=torch.backends.cuda.matmul.allow_tf32)
    if args.output_file:
        write_json_atomic(args.output_file, result)
        print(f"wrote {args.output_file}")
    return result


if __name__ == "__main__":
    main()
