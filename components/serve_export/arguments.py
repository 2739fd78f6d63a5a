"""The serving export's parameters, declared once (see `components.common.arguments`).

`ExportArguments`: how to export a transformers BERT to ONNX for an online service, quantize
it, check the graphs against PyTorch and time them: what the pipeline step
(`tasks.run_serve_export_task`) takes. `ServeExportArguments`: those and the model, the data,
the teacher and the output directory, the CLI's (`python -m components.serve_export`). No torch
here, so the pipeline can read the declarations without it.
"""

import dataclasses
from dataclasses import dataclass

from components.common.arguments import REQUIRED, Arguments, Param, arg
from components.common.errors import UserError

HEADS = ("mlm", "encoder")
QUANTIZATIONS = ("none", "int8")
INPUTS = "inputs"


@dataclass(kw_only=True)
class ExportArguments(Arguments):
    head: str = arg("mlm", "what the graph returns: mlm: last_hidden_state and the vocabulary "
                    "logits at every position (fill-mask and embeddings); encoder: "
                    "last_hidden_state only (embeddings, or a head of the service's own)",
                    choices=HEADS, group="graph")
    quantize: str = arg("none", "int8: also write model.int8.onnx, ONNX Runtime's dynamic "
                        "quantization (int8 weights of every MatMul with a constant weight, "
                        "per output channel; activations quantized per call)",
                        choices=QUANTIZATIONS, group="graph")
    opset: int = arg(18, "ONNX opset of the graphs: 18, the exporter's own (no conversion; "
                     "ONNX Runtime 1.14 and later load it), up to the newest your serving "
                     "runtime loads", low=18, group="graph")

    max_abs_diff: float = arg(1e-4, "goal of the fp32 graph: the largest |difference| from "
                              "PyTorch in last_hidden_state and logits over the real tokens; a "
                              "graph above it fails the export", low=0, low_open=True,
                              group="parity")
    min_int8_agreement: float = arg(
        0.98, "goal of the int8 graph: the share of masked positions where its top-1 token is "
        "PyTorch's; a graph below it fails the export (0: accept any, the figure is still "
        "reported)", low=0, high=1, group="parity")
    max_parity_examples: int = arg(512, "check on at most this many held-out records", low=1,
                                   group="parity")
    parity_batch_size: int = arg(8, "records per forward pass of the check (the logits of a "
                                 "batch are batch x sequence x vocabulary floats)", low=1,
                                 group="parity")

    latency_batch_sizes: list[int] = arg(
        [1, 8], "batch sizes of the latency grid: the encoder (no MLM head) of the teacher and "
        "the model in PyTorch and of the fp32 and int8 graphs, timed on this machine with one "
        "thread and with every usable core, into metrics.json's latency", nargs="+",
        metavar="BATCH", group="latency")
    latency_seq_lengths: list[int] = arg(
        [32, 128], "sequence lengths of the latency grid (at most the models' positions)",
        nargs="+", metavar="LENGTH", group="latency")
    latency_runs: int = arg(10, "timed calls of each model in each cell of the grid, at least "
                            "(0: no latency measurement)", low=0, group="latency")
    latency_seconds_per_cell: float = arg(
        2.0, "time each cell at least this long (more calls, up to 20 times --latency_runs)",
        low=0, group="latency")

    def export_values(self):
        """{field: value} of this declaration's fields (to build a `ServeExportArguments`)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(ExportArguments)}

    def check(self):
        for name in ("latency_batch_sizes", "latency_seq_lengths"):
            values = getattr(self, name)
            if not values or min(values) < 1:
                raise UserError(f"--{name} needs one or more sizes of at least 1, got "
                                f"{' '.join(map(str, values)) or 'none'}", where=f"--{name}",
                                fix="pass positive integers, e.g. 1 8 (or --latency_runs 0 to "
                                "measure no latency)")


# What a pipeline run sets (its run parameters); the latency grid's sizes come as LATENCY_GRID
# there, comma-separated (a KFP parameter holds no list of integers).
PIPELINE_FIELDS = ("head", "quantize", "opset", "max_abs_diff", "min_int8_agreement",
                   "max_parity_examples", "parity_batch_size", "latency_runs",
                   "latency_seconds_per_cell")


def _grid_param(name):
    field = next(f for f in dataclasses.fields(ExportArguments) if f.name == name)
    return Param(name, str, ",".join(map(str, field.default_factory())),
                 field.metadata["help"] + "; comma-separated")


LATENCY_GRID = (_grid_param("latency_batch_sizes"), _grid_param("latency_seq_lengths"))


@dataclass(kw_only=True)
class ServeExportArguments(ExportArguments):
    model_dir: str = arg(REQUIRED, "the model to serve: a transformers BertForMaskedLM "
                         "save_pretrained directory with its vocab.txt (the distill stage's "
                         "student, or the convert stage's output)", group=INPUTS)
    output_dir: str = arg(REQUIRED, "where model.onnx, model.int8.onnx (--quantize int8), the "
                          "tokenizer files, config.json, metrics.json and manifest.json go; a "
                          "rerun replaces it whole, once the export is complete", group=INPUTS)
    input_dir: str | None = arg(
        None, "pretraining-data directory: the parity check runs on its heldout-*.tfrecord (the "
        "run's held-out records); default: on 64 synthetic sequences (random tokens, 15 in 100 "
        "masked), which metrics.json says", group=INPUTS)
    teacher_dir: str | None = arg(
        None, "the transformers teacher --model_dir was distilled from: timed in PyTorch beside "
        "it, the baseline of the latency speed-ups; default: the model itself in PyTorch",
        group=INPUTS)
