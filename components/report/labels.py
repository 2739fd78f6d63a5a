"""What the reports call the numbers they show: manifest and Metrics keys (for machines) → a label
and a unit (for people), and how each value is written."""

import os
import re


def count(unit):
    def write(value):
        number = int(value)
        return f"{number:,} {unit[:-1] if number == 1 and unit.endswith('s') else unit}".rstrip()
    return write


def percent(value):
    return f"{100 * value:.3g} %"


def points(value):
    """A difference of two shares, in percentage points."""
    return f"{100 * value:+.3g} percentage points"


def seconds(value):
    return f"{value:.3g} s" if value < 100 else f"{value:,.0f} s"


def decimal(unit=""):
    def write(value):
        number = f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"
        return f"{number} {unit}".rstrip()
    return write


def scientific(value):
    return f"{value:.3g}"


def times(value):
    return f"{value:.3g}×"


def yes_no(value):
    return "yes" if value else "no"


def text(value):
    return "none" if value in (None, "") else str(value)


# key → (label, how the value is written: a function of the value that adds the unit).
LABELS = {
    # the corpus (extract's manifest)
    "rows_read": ("rows read from the source", count("rows")),
    "rows_kept": ("rows kept (passages)", count("passages")),
    "characters": ("characters kept", count("characters")),
    "num_shards": ("corpus files", count("files")),
    "first_bad_row": ("first undecodable row", text),
    "limit": ("row limit", text),
    "format": ("format", text),
    "dedup": ("drop duplicate passages", yes_no),
    "errors": ("on undecodable text", text),
    "max_bad_fraction": ("most undecodable rows allowed", percent),
    "max_chars": ("longest passage kept", count("characters")),
    "min_chars": ("shortest passage kept", count("characters")),
    "normalize_punctuation": ("normalize punctuation", yes_no),
    # the pretraining data (its manifest, the merge step's Metrics)
    "train_instances": ("training instances", count("instances")),
    "heldout_instances": ("held-out instances", count("instances")),
    "mean_real_tokens_per_instance": ("mean length of an instance", decimal("tokens")),
    "padding_fraction": ("padding (this data)", percent),
    "alternative_padding_fraction": ("padding with the other pack setting", percent),
    "masked_token_fraction": ("masked tokens", percent),
    "unk_fraction": ("[UNK] tokens", percent),
    "vocab_size": ("vocabulary", count("tokens")),
    "vocab_sha256": ("vocabulary SHA-256", text),
    "max_seq_length": ("instance length", count("tokens")),
    "max_predictions_per_seq": ("masked positions per instance, at most", count("positions")),
    "masked_lm_prob": ("masking probability", percent),
    "short_seq_prob": ("short-instance probability", percent),
    "dupe_factor": ("passes over the corpus (dupe factor)", count("")),
    "random_seed": ("random seed", text),
    "do_whole_word_mask": ("whole-word masking", yes_no),
    "do_lower_case": ("lower-case", yes_no),
    "heldout_fraction": ("passages held out", percent),
    "segmenter": ("word segmenter", text),
    "pack": ("passages packed into full rows", yes_no),
    "user_dict": ("segmenter's user dictionary", text),
    "wall_seconds": ("wall time", seconds),
    "num_workers": ("worker processes", count("")),
    "passages": ("passages", count("passages")),
    "instances": ("instances", count("instances")),
    "real_tokens": ("real tokens (not padding)", count("tokens")),
    "masked_tokens": ("masked tokens", count("tokens")),
    "replaced_by_mask": ("masked: replaced by [MASK]", count("tokens")),
    "replaced_by_random": ("masked: replaced by a random token", count("tokens")),
    "kept_original": ("masked: kept as they were", count("tokens")),
    "text_tokens": ("tokens of text", count("tokens")),
    "unk_tokens": ("[UNK] tokens", count("tokens")),
    "passages_without_tokens": ("passages with no token", count("passages")),
    "alternative_instances": ("instances with the other pack setting", count("instances")),
    "alternative_real_tokens": ("their real tokens", count("tokens")),
    "shard_index": ("part", count("")),
    "input_shards": ("corpus files, all parts", count("files")),
    "shards_in_part": ("corpus files in this part", count("files")),
    "merged_parts": ("parts merged", count("parts")),
    # training (the trainer's summary and train_log.jsonl)
    "global_step": ("steps trained", count("steps")),
    "num_train_steps": ("steps asked for", count("steps")),
    "train_batch_size": ("batch (all replicas)", count("examples")),
    "replicas": ("replicas", count("")),
    "precision": ("precision", text),
    "jit_compile": ("XLA compilation", yes_no),
    "final_loss": ("final training loss", decimal("nats per masked token")),
    "final_masked_lm_accuracy": ("final training accuracy", percent),
    "train_seconds": ("training wall time (this run, saves included)", seconds),
    "compile_seconds": ("first step (tracing and compilation)", seconds),
    "examples_per_sec": ("throughput in examples", decimal("examples/s")),
    "tokens_per_sec": ("throughput in tokens", decimal("tokens/s")),
    "model_tflops": ("model compute", decimal("TFLOP/s")),
    "mfu": ("model FLOPs utilization (MFU)", percent),
    "input_wait_fraction": ("step time spent waiting for input", percent),
    "step": ("step", count("")),
    "loss": ("training loss", decimal("nats")),
    "learning_rate": ("learning rate", scientific),
    "grad_norm": ("gradient norm", decimal()),
    # held-out evaluation
    "masked_lm_loss": ("held-out loss (cross-entropy)", decimal("nats per masked token")),
    "masked_lm_accuracy": ("masked-LM accuracy", percent),
    "perplexity": ("perplexity (exp of the loss)", decimal()),
    "num_examples": ("examples", count("examples")),
    "num_masked_tokens": ("masked positions", count("positions")),
    # conversion parity
    "tolerance": ("largest difference allowed", scientific),
    "max_abs_logit_diff": ("largest |TF − PyTorch| logit difference", scientific),
    "max_abs_logit_diff_real_tokens": ("largest difference on real tokens", scientific),
    "mean_abs_logit_diff": ("mean |TF − PyTorch| logit difference", scientific),
    "top1_agreement_real_tokens": ("same top-1 prediction (real tokens)", percent),
    "seq_length": ("instance length", count("tokens")),
    "dtype": ("precision compared", text),
    "inputs": ("inputs", text),
    # the run's headline metrics (`model.headline_metrics`)
    "final_train_loss": ("final training loss", decimal("nats per masked token")),
    "final_train_accuracy": ("final training accuracy", percent),
    "train_steps": ("steps trained", count("steps")),
    "masked_lm_loss_before": ("held-out loss, base model", decimal("nats per masked token")),
    "masked_lm_loss_after": ("held-out loss, trained model", decimal("nats per masked token")),
    "masked_lm_accuracy_before": ("held-out accuracy, base model", percent),
    "masked_lm_accuracy_after": ("held-out accuracy, trained model", percent),
    "perplexity_before": ("held-out perplexity, base model", decimal()),
    "perplexity_after": ("held-out perplexity, trained model", decimal()),
    "parity_max_abs_logit_diff": ("largest |TF − PyTorch| logit difference", scientific),
    "parity_top1_agreement_real_tokens": ("same top-1 prediction, TF and PyTorch", percent),
    "fill_mask_top5_before": ("fill-mask answer in the top 5, base model", percent),
    "fill_mask_top5_after": ("fill-mask answer in the top 5, trained model", percent),
    # distillation (the distiller's summary in the student's manifest, distill_log.jsonl)
    "processes": ("processes", count("")),
    "torch_compile": ("torch.compile", yes_no),
    "distill_loss": ("distillation loss (the weighted sum of its parts)", decimal()),
    "final_distill_loss": ("final distillation loss (the weighted sum of its parts)", decimal()),
    "loss_kd": ("soft-target loss (KL to the teacher at temperature T, × T²)",
                decimal("nats")),
    "loss_hard": ("hard loss (cross-entropy on the true tokens)", decimal("nats")),
    "loss_hidden": ("hidden-state loss (mean squared error)", decimal()),
    "loss_attention": ("attention loss (KL between attention distributions)", decimal("nats")),
    "final_loss_kd": ("final soft-target loss", decimal("nats")),
    "final_loss_hard": ("final hard loss", decimal("nats")),
    "final_loss_hidden": ("final hidden-state loss", decimal()),
    "final_loss_attention": ("final attention loss", decimal("nats")),
    "teacher_agreement": ("same top-1 as the teacher (training batches)", percent),
    "final_teacher_agreement": ("final top-1 agreement with the teacher (training batches)",
                                percent),
    # student against teacher (`compare_models` in components/distill/compare.py)
    "num_parameters": ("parameters", count("")),
    "num_hidden_layers": ("layers", count("")),
    "hidden_size": ("hidden size", count("")),
    "num_attention_heads": ("attention heads", count("")),
    "intermediate_size": ("feed-forward size", count("")),
    "examples": ("held-out examples", count("examples")),
    "masked_positions": ("held-out masked positions", count("positions")),
    "heldout_masked_positions": ("held-out masked positions", count("positions")),
    "sequences_per_second": ("throughput", decimal("sequences/s")),
    "latency_ms_p50": ("latency at batch 1 (median)", decimal("ms")),
    "throughput": ("speed-up in throughput", times),
    "latency": ("speed-up at batch 1", times),
    "student_top1_agreement": ("student's top-1 agreement with the teacher (held-out)", percent),
    "student_accuracy_share": ("student's accuracy as a share of the teacher's", percent),
    "parameter_ratio": ("student's parameters as a share of the teacher's", percent),
    "batch_size": ("batch", count("sequences")),
    "repeats": ("timed passes", count("")),
    "cpu_threads": ("CPU threads", count("")),
    # the run's headline metrics when a student is given (`distilled.student_headline`)
    "distill_steps": ("steps distilled", count("steps")),
    "student_speedup": ("student's speed-up in throughput (CPU)", times),
    "student_latency_speedup": ("student's speed-up at batch 1 (CPU)", times),
    "fill_mask_top5_student": ("fill-mask answer in the top 5, student", percent),
    # the downstream task's headline metrics (`downstream.downstream_section`)
    "downstream_majority_baseline_accuracy": ("downstream task: accuracy of always the most "
                                              "frequent label", percent),
    "downstream_base_accuracy": ("downstream task: base model's accuracy", percent),
    "downstream_adapted_accuracy": ("downstream task: adapted model's accuracy", percent),
    "downstream_student_accuracy": ("downstream task: student's accuracy", percent),
    "downstream_adapted_minus_base_accuracy": ("downstream task: adapted minus base accuracy "
                                               "(DAPT gain)", points),
    "downstream_adapted_minus_base_accuracy_ci95_low": ("downstream task: DAPT gain, 95 % "
                                                        "interval from", points),
    "downstream_adapted_minus_base_accuracy_ci95_high": ("downstream task: DAPT gain, 95 % "
                                                         "interval to", points),
    "downstream_student_share_accuracy": ("downstream task: student's accuracy as a share of "
                                          "the adapted model's", percent),
    "downstream_student_share_accuracy_ci95_low": ("downstream task: student's share, 95 % "
                                                   "interval from", percent),
    "downstream_student_share_accuracy_ci95_high": ("downstream task: student's share, 95 % "
                                                    "interval to", percent),
}


# the serving export's headline metrics (`serving.serving_section`): the served graph is the
# int8 one when there is one, timed at batch 1 x 128 against the teacher in PyTorch
LABELS.update({
    "serving_fp32_max_abs_diff": ("serving: largest |ONNX fp32 − PyTorch| output difference",
                                  scientific),
    "serving_int8_top1_agreement": ("serving: int8 graph's top-1 agreement with PyTorch",
                                    percent),
    "serving_int8_accuracy_drop": ("serving: int8 graph's masked-LM accuracy drop", points),
    "serving_p50_ms_1_thread": ("serving: latency at batch 1 × 128, one thread (median)",
                                decimal("ms")),
    "serving_p50_ms_all_threads": ("serving: latency at batch 1 × 128, every core (median)",
                                   decimal("ms")),
    "serving_p50_speedup_1_thread": ("serving: speed-up over the PyTorch teacher at batch 1 × "
                                     "128, one thread", times),
    "serving_p50_speedup_all_threads": ("serving: speed-up over the PyTorch teacher at batch "
                                        "1 × 128, every core", times),
})


def _flat_comparison_labels():
    """Labels of the distill stage's flat Metrics (`compare.flat_metrics`): per model and
    per device, from the labels of the nested keys."""
    devices = {"cpu": "CPU", "cuda": "GPU"}
    found = {}
    for model in ("teacher", "student"):
        for key, name in (("masked_lm_accuracy", "held-out accuracy"),
                          ("masked_lm_loss", "held-out loss"),
                          ("perplexity", "held-out perplexity"), ("num_parameters", "parameters")):
            found[f"{model}_{key}"] = (f"{name}, {model}", LABELS[key][1])
        for device, name in devices.items():
            for key in ("sequences_per_second", "latency_ms_p50"):
                found[f"{model}_{device}_{key}"] = (f"{LABELS[key][0]} on the {name}, {model}",
                                                    LABELS[key][1])
    for device, name in devices.items():
        for key in ("throughput", "latency"):
            found[f"{device}_{key}_speedup"] = (f"student's {LABELS[key][0]} on the {name}",
                                                times)
    return found


LABELS.update(_flat_comparison_labels())

# Why a row dropped (extract's reasons) and what a pretraining-data phase is, for people.
DROP_REASONS = {"null": "NULL value", "empty": "empty", "markup_only": "markup only",
                "no_text": "no text left after cleaning", "too_short": "too short",
                "duplicate": "duplicate", "invalid_utf8": "not valid UTF-8",
                "too_long": "too long"}
SPLITS = {"train": "training", "heldout": "held-out"}
# histogram name → (what it counts, the unit of its bins)
HISTOGRAMS = {"passage_chars": ("passage length", "characters"),
              "passage_tokens": ("passage length", "tokens"),
              "instance_real_tokens": ("instance length", "real tokens")}


def label(key):
    """The label of `key`; a key without one is shown with spaces for underscores."""
    return LABELS[key][0] if key in LABELS else key.replace("_", " ")


def value(key, number):
    """`number` written with its unit, as `key` wants it."""
    if key in LABELS and number is not None and not isinstance(number, dict | list):
        try:
            return LABELS[key][1](number)
        except (TypeError, ValueError):
            pass
    if isinstance(number, float):
        return f"{number:.4g}"
    return text(number)


def difference(key, delta):
    """A change of `key`'s value: percentage points for a percentage, else the number."""
    if key in LABELS and LABELS[key][1] is percent:
        return f"{100 * delta:+.3g} percentage points"
    return f"{delta:+.4g}"


def row(key, mapping):
    """(label, value with unit) of `key` in `mapping`, or None when it is missing."""
    if key not in mapping:
        return None
    return label(key), value(key, mapping[key])


def rows(keys, mapping):
    return [r for r in (row(key, mapping) for key in keys) if r is not None]


def artifact_name(path):
    """A path as the reports name it: its last two parts (`extract/corpus`, the task and the
    output of a local run), never the machine's absolute path."""
    parts = [p for p in str(path).rstrip("/").split("/") if p]
    return "/".join(parts[-2:])


# An absolute path at the start, after a space, "(", "=", or inside a sqlite:/// URL.
ABSOLUTE_PATH = re.compile(r"(?:^|(?<=[\s(=])|(?<=sqlite:///))/[^\s,;()]+")


def without_absolute_paths(description):
    """`description` with every absolute path replaced by its artifact name."""
    return ABSOLUTE_PATH.sub(lambda m: artifact_name(m.group(0)), str(description))


def file_names(paths):
    return ", ".join(os.path.basename(str(p)) for p in paths) or "none"
