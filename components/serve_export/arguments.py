"""The serving export's parameters, declared once (see `components.common.arguments`).

`ServeExportArguments`: export a transformers BERT to ONNX for an online service, quantize it,
and check the graphs against PyTorch (`python -m components.serve_export`). No torch here, so
the pipeline can read the declaration without it.
"""

from dataclasses import dataclass

from components.common.arguments import REQUIRED, Arguments, arg

HEADS = ("mlm", "encoder")
QUANTIZATIONS = ("none", "int8")


@dataclass
class ServeExportArguments(Arguments):
    model_dir: str = arg(REQUIRED, "the model to serve: a transformers BertForMaskedLM "
                         "save_pretrained directory with its vocab.txt (the distill stage's "
                         "student, or the convert stage's output)", group="inputs")
    output_dir: str = arg(REQUIRED, "where model.onnx, model.int8.onnx (--quantize int8), the "
                          "tokenizer files, config.json, metrics.json and manifest.json go; a "
                          "rerun replaces it whole, once the export is complete", group="inputs")
    input_dir: str | None = arg(
        None, "pretraining-data directory: the parity check runs on its heldout-*.tfrecord (the "
        "run's held-out records); default: on 64 synthetic sequences (random tokens, 15 in 100 "
        "masked), which metrics.json says", group="inputs")

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
