"""The export stage: a transformers BERT → what an online service loads, checked.

Output (`--output_dir`, written to a temporary sibling and renamed when complete; a serving
image reads this layout):
- `model.onnx`: the fp32 graph (`graph.py`: inputs `input_ids`, `attention_mask`,
  `token_type_ids`, int64 [batch, sequence]; outputs `last_hidden_state` and, for the mlm head,
  `logits`); `model.int8.onnx` with `--quantize int8`;
- the model's tokenizer files (`vocab.txt`, and `tokenizer.json`, `tokenizer_config.json`,
  `special_tokens_map.json` where it has them) and its `config.json`;
- `metrics.json`: the parity figures (`parity.py`) and their goals, the latency on this machine
  (`latency.py`; the encoder-only graphs timed are the exported ones, or for the mlm head their
  twins without the head, made aside and not kept), the files' sizes, versions, and which model
  was exported (`exported`: its role, and why when it is not the one the caller had in mind);
- `manifest.json`, last: the files with their sha256, the graphs' inputs and outputs, the
  model's shape and fingerprint, the parity data's fingerprint.
"""

import json
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
from components.serve_export import graph, latency, parity

log = logging.getLogger(__name__)

MANIFEST_KIND = "serving_export"
METRICS_FILE = "metrics.json"
CONFIG_FILE = "config.json"
# Where the mlm head's encoder-only twins are made for timing, inside the temporary output.
LATENCY_SCRATCH = ".latency-graphs"


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


def load_teacher_beside(model, args):
    """The teacher of `args.teacher_dir` for the latency baseline (None without one), refused
    when the model's manifest says it was distilled from other weights, or when a latency
    sequence is longer than a model's positions."""
    teacher = None
    if args.teacher_dir:
        from components.distill.student import load_teacher

        recorded = _manifest(args.model_dir).get("teacher_sha256")
        if recorded and recorded != lineage.weights_sha256(args.teacher_dir):
            raise UserError("the model was distilled from another teacher than --teacher_dir, so "
                            "the speed-ups would be over a model it never learned from",
                            where=args.teacher_dir, fix="pass the teacher it was distilled "
                            "from (the distill stage's --teacher_dir)")
        teacher = load_teacher(args.teacher_dir)
    if args.latency_runs:
        for what, config in (("--model_dir", model.config),
                             ("--teacher_dir", teacher and teacher.config)):
            if config and max(args.latency_seq_lengths) > config.max_position_embeddings:
                raise UserError(f"--latency_seq_lengths {max(args.latency_seq_lengths)} is longer "
                                f"than the {config.max_position_embeddings} positions of "
                                f"{what}", where="--latency_seq_lengths",
                                fix=f"pass lengths up to {config.max_position_embeddings}")
    return teacher


def _manifest(model_dir):
    path = os.path.join(model_dir, "manifest.json")
    if not os.path.isfile(path):
        return {}
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def time_graphs(model, teacher, paths, role, args, scratch):
    """metrics.json's latency (see `latency.measure`): the graphs in `paths` as they are for
    the encoder head; for the mlm head, their encoder-only twins (`graph.encoder_twin`) written
    into `scratch`, removed afterwards."""
    timed, note = paths, "the exported graphs"
    if args.head == "mlm":
        os.makedirs(scratch)
        timed = {name: os.path.join(scratch, os.path.basename(path))
                 for name, path in paths.items()}
        for name, path in paths.items():
            graph.encoder_twin(path, timed[name])
        note = "the exported graphs without the MLM head (cut at last_hidden_state)"
    timing = (["teacher"] if teacher is not None else []) + [role, *timed]
    log.info("timing the encoder of %s on %s", ", ".join(timing),
             latency.machine()["processor"])
    try:
        figures = latency.measure(model, timed, teacher, role, args)
    finally:
        if timed is not paths:
            shutil.rmtree(scratch, ignore_errors=True)
    figures["settings"]["graphs"] = note
    return figures


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


def run_serve_export(args, role=None, why=None):
    """Export, quantize, check and time `args.model_dir` (`ServeExportArguments`) into
    `args.output_dir`; return the metrics. `role`: what the model is ("student", "teacher";
    default: "student" beside a --teacher_dir, else "model"); `why`: a sentence metrics.json
    keeps on why this model was exported (the pipeline's, when it exports the teacher)."""
    role = role or ("student" if args.teacher_dir else "model")
    model = load_model(args.model_dir, args.head)
    teacher = load_teacher_beside(model, args)
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

        signature = _signature(sessions["fp32"])
        result = parity.check_graphs(model, args.head, sessions, data)
        parity.check_goals(result, args.max_abs_diff, args.min_int8_agreement)
        graphs = {name: {"file": os.path.basename(path), "bytes": os.path.getsize(path)}
                  for name, path in paths.items()}
        exported = {"role": role, **({"why": why} if why else {})}
        if args.teacher_dir:
            exported["teacher"] = lineage.model_record(args.teacher_dir)
        metrics = {"model_dir": os.path.abspath(args.model_dir), "exported": exported,
                   "head": args.head,
                   "opset": args.opset, "quantize": args.quantize,
                   "quantized_op_types": list(graph.QUANTIZED_OP_TYPES)
                   if args.quantize == "int8" else [],
                   "graphs": graphs, "parity": result, "versions": _versions()}
        if args.latency_runs:
            del sessions  # their threads would compete with the timed ones
            metrics["latency"] = time_graphs(model, teacher, paths, role, args,
                                             os.path.join(tmp, LATENCY_SCRATCH))
        write_json_atomic(os.path.join(tmp, METRICS_FILE), metrics)
        files = [os.path.basename(path) for path in paths.values()] + copied + [METRICS_FILE]
        config = model.config
        write_manifest(tmp, {
            "kind": MANIFEST_KIND, "head": args.head, "opset": args.opset,
            "quantize": args.quantize,
            "files": {name: sha256_file(os.path.join(tmp, name)) for name in files},
            "graph": signature,
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
    if "latency" in metrics:
        for cell in latency.headline_cells(metrics["latency"]):
            log.info("%s", latency.describe_cell(cell, metrics["latency"]))
