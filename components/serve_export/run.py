"""The export stage: a transformers BERT → what an online service loads, checked.

Output (`--output_dir`, written to a temporary sibling and renamed when complete; a serving
image reads this layout):
- `model.onnx`: the fp32 graph (`graph.py`: inputs `input_ids`, `attention_mask`,
  `token_type_ids`, int64 [batch, sequence]; outputs `last_hidden_state` and, for the mlm head,
  `logits`); `model.int8.onnx` with `--quantize int8`;
- the model's tokenizer files (`vocab.txt`, and `tokenizer.json`, `tokenizer_config.json`,
  `special_tokens_map.json` where it has them) and its `config.json`;
- `metrics.json`: the parity figures (`parity.py`) and their goals, the files' sizes, versions;
- `manifest.json`, last: the files with their sha256, the graphs' inputs and outputs, the
  model's shape and fingerprint, the parity data's fingerprint.
"""

import logging
import os
import shutil

from components.common import lineage
from components.common.artifacts import (
    atomic_output_dir,
    sha256_file,
    write_json_atomic,
    write_manifest,
)
from components.common.errors import UserError
from components.distill.output import TOKENIZER_FILES
from components.serve_export import graph, parity

log = logging.getLogger(__name__)

MANIFEST_KIND = "serving_export"
METRICS_FILE = "metrics.json"
CONFIG_FILE = "config.json"


def load_model(model_dir, head):
    """The `BertForMaskedLM` in `model_dir`, in eval mode; refused when it has no vocab.txt, or
    no trained MLM head for `head` "mlm"."""
    import transformers

    from components.distill.student import load_teacher

    model = load_teacher(model_dir)
    if not os.path.isfile(os.path.join(model_dir, "vocab.txt")):
        raise UserError("the model directory has no vocab.txt, which a service tokenizes with",
                        where=model_dir, fix="pass the distill or convert stage's output "
                        "directory (it holds vocab.txt)")
    if head == "mlm":
        _, info = transformers.BertForMaskedLM.from_pretrained(model_dir,
                                                               output_loading_info=True)
        untrained = [key for key in info["missing_keys"] if key.startswith("cls.")]
        if untrained:
            raise UserError(f"the model has no masked-LM head ({untrained[0]} is not in its "
                            "weights), so its logits would be random", where=model_dir,
                            fix="pass --head encoder, or a BertForMaskedLM directory")
    return model


def _signature(session):
    """{"inputs"|"outputs": [{name, type, shape}]} of a graph, as ONNX Runtime reads it."""
    return {kind: [{"name": value.name, "type": value.type, "shape": value.shape}
                   for value in values]
            for kind, values in (("inputs", session.get_inputs()),
                                 ("outputs", session.get_outputs()))}


def _versions():
    import onnx
    import onnxruntime
    import torch
    import transformers

    return {"torch": torch.__version__, "transformers": transformers.__version__,
            "onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__}


def run_serve_export(args):
    """Export, quantize and check `args.model_dir` (`ServeExportArguments`) into
    `args.output_dir`; return the metrics."""
    model = load_model(args.model_dir, args.head)
    if args.input_dir:
        data = parity.heldout_data(args.input_dir, args.model_dir, args.max_parity_examples,
                                   args.parity_batch_size)
    else:
        data = parity.synthetic_data(args.model_dir, model.config, args.max_parity_examples,
                                     args.parity_batch_size)
        log.info("no --input_dir: checking on %d synthetic sequences", data.count)

    with atomic_output_dir(args.output_dir) as tmp:
        paths = {"fp32": os.path.join(tmp, graph.FP32_FILE)}
        log.info("exporting %s (head %s, opset %d)", args.model_dir, args.head, args.opset)
        graph.export_onnx(model, paths["fp32"], args.head, args.opset)
        if args.quantize == "int8":
            paths["int8"] = os.path.join(tmp, graph.INT8_FILE)
            graph.quantize_int8(paths["fp32"], paths["int8"])
        sessions = {name: graph.open_session(path) for name, path in paths.items()}
        copied = [name for name in (*TOKENIZER_FILES, CONFIG_FILE)
                  if os.path.isfile(os.path.join(args.model_dir, name))]
        for name in copied:
            shutil.copyfile(os.path.join(args.model_dir, name), os.path.join(tmp, name))

        result = parity.check_graphs(model, args.head, sessions, data)
        parity.check_goals(result, args.max_abs_diff, args.min_int8_agreement)
        graphs = {name: {"file": os.path.basename(path), "bytes": os.path.getsize(path)}
                  for name, path in paths.items()}
        metrics = {"model_dir": os.path.abspath(args.model_dir), "head": args.head,
                   "opset": args.opset, "quantize": args.quantize,
                   "quantized_op_types": list(graph.QUANTIZED_OP_TYPES)
                   if args.quantize == "int8" else [],
                   "graphs": graphs, "parity": result, "versions": _versions()}
        write_json_atomic(os.path.join(tmp, METRICS_FILE), metrics)
        files = [os.path.basename(path) for path in paths.values()] + copied + [METRICS_FILE]
        config = model.config
        write_manifest(tmp, {
            "kind": MANIFEST_KIND, "head": args.head, "opset": args.opset,
            "quantize": args.quantize,
            "files": {name: sha256_file(os.path.join(tmp, name)) for name in files},
            "graph": _signature(sessions["fp32"]),
            "model": {**lineage.model_record(args.model_dir), "vocab_size": config.vocab_size,
                      "hidden_size": config.hidden_size,
                      "num_hidden_layers": config.num_hidden_layers,
                      "max_position_embeddings": config.max_position_embeddings},
            "parity_data": result["data"]})
    log.info("wrote %s", args.output_dir)
    _log_summary(metrics)
    return metrics


def _log_summary(metrics):
    parity_result = metrics["parity"]
    data = parity_result["data"]
    log.info("parity on %d %s records (%d masked positions); PyTorch masked-LM accuracy %.4f",
             data["examples"], data["source"], data["masked_positions"],
             parity_result["pytorch"]["masked_lm_accuracy"])
    for name in ("fp32", "int8"):
        if name in parity_result:
            figures = parity_result[name]
            diffs = ", ".join(f"max |Δ| {key[len('max_abs_diff_'):]} {value:.3g}"
                              for key, value in figures.items() if key.startswith("max_abs"))
            log.info("%s graph (%.1f MB): %s; top-1 agreement %.4f, accuracy drop %+.4f", name,
                     metrics["graphs"][name]["bytes"] / 1e6, diffs, figures["top1_agreement"],
                     figures["accuracy_drop"])
