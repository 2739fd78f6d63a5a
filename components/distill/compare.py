"""Student against teacher: how close on the held-out records, how much smaller and faster.

Both models read the same held-out records of the pretraining data. Per model: masked-LM
accuracy, loss (mean cross-entropy at the real masked positions) and perplexity (exp of the
loss), parameters, and inference speed of the whole fill-mask forward pass (logits at every
position): sequences/s at `speed_batch_size` x `speed_seq_length` and the median latency of one
sequence, on CPU and, when there is one, on the GPU (float32 on both). Between them: the
student's top-1 agreement with the teacher, its accuracy as a share of the teacher's, and the
speed-ups.
"""

import logging
import math
import os
import time

import numpy as np
import torch

from components.common.artifacts import write_json_atomic
from components.common.disk import check_writable_location
from components.common.errors import UserError
from components.common.logs import progress
from components.distill import records
from components.distill.loss import forward_masked, masked_lm_metrics, top1_agreement
from components.distill.student import count_parameters, load_teacher

log = logging.getLogger(__name__)

SPEED_SEED = 0


def _as_tensors(arrays, device):
    return {name: torch.from_numpy(value).to(device) for name, value in arrays.items()}


@torch.inference_mode()
def score_heldout(teacher, student, index, batch_size, max_examples, device):
    """Masked-LM sums of both models and their top-1 agreement over the first `max_examples`
    (None: all) records of `index`."""
    total = len(index) if max_examples is None else min(max_examples, len(index))
    sums = {name: {"loss_sum": 0.0, "correct": 0, "count": 0} for name in ("teacher", "student")}
    agree = 0
    with progress(total=total, desc="held-out comparison", unit="ex") as bar:
        for start in range(0, total, batch_size):
            batch = _as_tensors(index.batch(np.arange(start, min(start + batch_size, total))),
                                device)
            logits = {"teacher": forward_masked(teacher, batch).logits,
                      "student": forward_masked(student, batch).logits}
            for name, model_logits in logits.items():
                for key, value in masked_lm_metrics(model_logits, batch).items():
                    sums[name][key] += value
            agree += top1_agreement(logits["student"], logits["teacher"], batch)[0]
            bar.update(len(batch["input_ids"]))
    return total, sums, agree


def _quality(sums):
    count = max(sums["count"], 1)
    loss = sums["loss_sum"] / count
    return {"masked_lm_accuracy": sums["correct"] / count, "masked_lm_loss": loss,
            "perplexity": math.exp(min(loss, 700.0))}


@torch.inference_mode()
def inference_speed(model, batch_size, seq_length, repeats, device):
    """{sequences_per_second at batch_size x seq_length, latency_ms_p50 at batch 1} of the full
    fill-mask forward pass on `device`, after one untimed warm-up pass each."""
    generator = torch.Generator().manual_seed(SPEED_SEED)
    ids = torch.randint(0, model.config.vocab_size, (batch_size, seq_length),
                        generator=generator).to(device)
    mask, segments = torch.ones_like(ids), torch.zeros_like(ids)

    def timed(rows):
        model(input_ids=ids[:rows], attention_mask=mask[:rows], token_type_ids=segments[:rows])
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    timed(batch_size)
    started = time.perf_counter()
    for _ in range(repeats):
        timed(batch_size)
    throughput = batch_size * repeats / (time.perf_counter() - started)
    timed(1)
    latencies = []
    for _ in range(repeats):
        started = time.perf_counter()
        timed(1)
        latencies.append(time.perf_counter() - started)
    return {"sequences_per_second": throughput,
            "latency_ms_p50": 1000.0 * float(np.median(latencies))}


def _check_speed_length(args, models):
    for name, model in models.items():
        positions = model.config.max_position_embeddings
        if args.speed_seq_length > positions:
            raise UserError(f"--speed_seq_length={args.speed_seq_length} is longer than the "
                            f"{name}'s {positions} positions", where="--speed_seq_length",
                            fix=f"pass at most {positions}")


def compare_models(args):
    """Compare `args.student_dir` with `args.teacher_dir` (`CompareArguments`) on the held-out
    split of `args.input_dir`; return the metrics (and write them to `args.output_file`)."""
    if args.output_file:
        check_writable_location(args.output_file, "--output_file", expect="file")
    index = records.open_split(args.input_dir, "heldout")
    models = {}
    for name, directory in (("teacher", args.teacher_dir), ("student", args.student_dir)):
        models[name] = load_teacher(directory)
        records.check_data_matches_teacher(index, directory)
    if models["teacher"].config.vocab_size != models["student"].config.vocab_size:
        raise UserError("the two models have different vocabularies",
                        where=f"{args.teacher_dir} vs {args.student_dir}",
                        fix="compare models that share one vocab.txt")
    if args.speed_repeats:
        _check_speed_length(args, models)

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    for model in models.values():
        model.to(device)
    examples, sums, agree = score_heldout(models["teacher"], models["student"], index,
                                          args.eval_batch_size, args.max_eval_examples, device)
    result = {"examples": examples, "masked_positions": sums["teacher"]["count"],
              "input_dir": os.path.abspath(args.input_dir)}
    for name, model in models.items():
        result[name] = {"model_dir": os.path.abspath(getattr(args, f"{name}_dir")),
                        **_quality(sums[name]), "num_parameters": count_parameters(model),
                        "num_hidden_layers": model.config.num_hidden_layers,
                        "hidden_size": model.config.hidden_size}
    teacher_accuracy = result["teacher"]["masked_lm_accuracy"]
    result["student_top1_agreement"] = agree / max(result["masked_positions"], 1)
    result["student_accuracy_share"] = (result["student"]["masked_lm_accuracy"]
                                        / teacher_accuracy if teacher_accuracy else None)
    result["parameter_ratio"] = result["student"]["num_parameters"] / \
        result["teacher"]["num_parameters"]
    if args.speed_repeats:
        result.update(_speeds(args, models, device))
    if args.output_file:
        write_json_atomic(args.output_file, result)
        log.info("wrote %s", args.output_file)
    return result


def _speeds(args, models, device):
    """{"speed_settings": how, "speed": {device: {"throughput", "latency": student-over-teacher
    speed-ups, "measured": {model: inference_speed}}}}."""
    devices = [torch.device("cpu")] + ([device] if device.type == "cuda" else [])
    speedup = {}
    for target in devices:
        measured = {}
        for name, model in models.items():
            model.to(target)
            measured[name] = inference_speed(model, args.speed_batch_size, args.speed_seq_length,
                                             args.speed_repeats, target)
            log.info("%s on %s: %.1f sequences/s, %.2f ms at batch 1", name, target.type,
                     measured[name]["sequences_per_second"], measured[name]["latency_ms_p50"])
        speedup[target.type] = {
            "throughput": measured["student"]["sequences_per_second"]
            / measured["teacher"]["sequences_per_second"],
            "latency": measured["teacher"]["latency_ms_p50"]
            / measured["student"]["latency_ms_p50"],
            "measured": measured}
    return {"speed_settings": {"batch_size": args.speed_batch_size,
                               "seq_length": args.speed_seq_length, "repeats": args.speed_repeats,
                               "dtype": "float32", "cpu_threads": torch.get_num_threads()},
            "speed": speedup}


def flat_metrics(result):
    """{name: number} of `compare_models`' result, for a KFP Metrics artifact."""
    flat = {"student_top1_agreement": result["student_top1_agreement"],
            "parameter_ratio": result["parameter_ratio"],
            "heldout_masked_positions": result["masked_positions"]}
    if result["student_accuracy_share"] is not None:
        flat["student_accuracy_share"] = result["student_accuracy_share"]
    for name in ("teacher", "student"):
        for key in ("masked_lm_accuracy", "masked_lm_loss", "perplexity", "num_parameters"):
            flat[f"{name}_{key}"] = result[name][key]
    for target, speed in result.get("speed", {}).items():
        flat[f"{target}_throughput_speedup"] = speed["throughput"]
        flat[f"{target}_latency_speedup"] = speed["latency"]
        for name, measured in speed["measured"].items():
            flat[f"{name}_{target}_sequences_per_second"] = measured["sequences_per_second"]
            flat[f"{name}_{target}_latency_ms_p50"] = measured["latency_ms_p50"]
    return flat
