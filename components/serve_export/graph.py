"""The ONNX graphs of a BERT for serving, and ONNX Runtime sessions over them.

A graph computes what a service calls: `input_ids`, `attention_mask`, `token_type_ids` (int64
[batch, sequence], both axes dynamic) → `last_hidden_state` [batch, sequence, hidden] and, with
the MLM head, `logits` [batch, sequence, vocab]. It is exported by torch.onnx's exporter
(torch.export, `dynamo=True`: the maintained one; the TorchScript exporter is deprecated since
torch 2.9) from the model with transformers' eager attention, the plain MatMul-Softmax-MatMul
that ONNX Runtime's graph optimizer and quantizer recognise. The weights are stored inside the
file: one file to ship (BERT-base is 0.4 GB, far from protobuf's 2 GB limit).

The int8 graph is ONNX Runtime's dynamic quantization: the weight of every MatMul whose weight is
a constant (the query, key, value, attention-output, feed-forward and MLM-head projections) as
int8, per output channel, its input quantized to uint8 at each call; the attention's own
products (two activations), the embeddings, LayerNorm and softmax stay float32.
"""

import contextlib
import logging
import warnings

import torch
from torch import nn

from components.common.errors import UserError

INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
HIDDEN_OUTPUT = "last_hidden_state"
LOGITS_OUTPUT = "logits"
FP32_FILE = "model.onnx"
INT8_FILE = "model.int8.onnx"
QUANTIZED_OP_TYPES = ("MatMul",)
# The example input of the export: torch.export specialises a size of 0 or 1, so both above 1.
EXAMPLE_BATCH, EXAMPLE_SEQUENCE = 2, 16
# Loggers that report the exporter's routine steps (torchvision absent, opset conversion) as
# warnings, some with a traceback; a failed export still raises. Its Python warnings (the
# dynamic axes' names, deprecations inside torch) are silenced with them.
_EXPORT_LOGGERS = ("torch.onnx", "onnxscript", "onnx_ir")


def output_names(head):
    return (HIDDEN_OUTPUT, LOGITS_OUTPUT) if head == "mlm" else (HIDDEN_OUTPUT,)


class ServingGraph(nn.Module):
    """A `BertForMaskedLM` as the service calls it: the encoder's last hidden state and, for the
    "mlm" head, the vocabulary logits at every position."""

    def __init__(self, model, head):
        super().__init__()
        self.model, self.head = model, head

    def forward(self, input_ids, attention_mask, token_type_ids):
        hidden = self.model.bert(input_ids=input_ids, attention_mask=attention_mask,
                                 token_type_ids=token_type_ids).last_hidden_state
        if self.head == "encoder":
            return hidden
        return hidden, self.model.cls(hidden)


@contextlib.contextmanager
def _quiet_exporter():
    levels = {name: logging.getLogger(name).level for name in _EXPORT_LOGGERS}
    for name in _EXPORT_LOGGERS:
        logging.getLogger(name).setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


def export_onnx(model, path, head, opset):
    """Write `model` (a `BertForMaskedLM` in eval mode) as the serving graph of `head` to
    `path`, at ONNX opset `opset`."""
    attention = model.config._attn_implementation
    model.set_attn_implementation("eager")
    positions = model.config.max_position_embeddings
    sequence = min(EXAMPLE_SEQUENCE, positions)
    # Three distinct tensors: the exporter makes one graph input of a tensor passed twice.
    example = tuple(torch.full((EXAMPLE_BATCH, sequence), value, dtype=torch.long)
                    for value in (1, 1, 0))
    batch_axis = torch.export.Dim("batch")
    sequence_axis = torch.export.Dim("sequence", max=positions)
    axes = {name: {0: batch_axis, 1: sequence_axis} for name in INPUT_NAMES}
    try:
        # Outside inference mode: torch.export cannot trace a caller's inference tensors.
        with _quiet_exporter(), torch.inference_mode(False), torch.no_grad():
            program = torch.onnx.export(
                ServingGraph(model, head).eval(), example,
                input_names=list(INPUT_NAMES), output_names=list(output_names(head)),
                dynamic_shapes=axes, opset_version=opset, dynamo=True, external_data=False,
                verbose=False)
            written = program.model.opset_imports.get("")
            program.save(path, external_data=False)
    finally:
        model.set_attn_implementation(attention)
    if written != opset:
        raise UserError(f"torch.onnx's exporter could not write opset {opset} (its graph is "
                        f"opset {written})", where="--opset",
                        fix="pass an opset from 18 to the newest your serving runtime loads "
                        "(ONNX Runtime 1.32: 25)")


def encoder_twin(source, target):
    """`target`: the graph at `source` cut at `last_hidden_state`, the nodes only the MLM head
    reads left out: the same encoder, node for node, for timing it (a second export would
    take as long as the first)."""
    import onnx.utils

    onnx.utils.extract_model(source, target, list(INPUT_NAMES), [HIDDEN_OUTPUT])


def quantize_int8(source, target):
    """`target`: the dynamic int8 quantization of the graph at `source` (see the module's
    docstring)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # Its advice to pre-process the graph (shape inference, optimization) is for static
    # quantization's calibration; dynamic quantization needs no shapes.
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        quantize_dynamic(source, target, weight_type=QuantType.QInt8, per_channel=True,
                         op_types_to_quantize=list(QUANTIZED_OP_TYPES))
    finally:
        logging.disable(previous)


def open_session(path, threads=None, providers=("CPUExecutionProvider",)):
    """An ONNX Runtime session over the graph at `path`, every graph optimization on;
    `threads` (None: one per core) computes each operator."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    try:
        return onnxruntime.InferenceSession(path, options, providers=list(providers))
    except Exception as err:  # ONNX Runtime's own error types are not importable by name
        raise UserError(f"ONNX Runtime {onnxruntime.__version__} cannot load the graph: "
                        f"{str(err).splitlines()[0]}", where=path,
                        fix="pass an --opset this ONNX Runtime supports") from err


def run_session(session, arrays):
    """{output name: array} of `session` on int64 arrays named as `INPUT_NAMES`."""
    names = [output.name for output in session.get_outputs()]
    return dict(zip(names, session.run(names, {name: arrays[name] for name in INPUT_NAMES}),
                    strict=True))
