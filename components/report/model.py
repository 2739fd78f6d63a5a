"""The model report: held-out before/after, training, fill-mask examples, parity, the distilled
student; and the Markdown summary and the run's headline metrics."""

import logging
import os

from components.bert.vocab import load_vocab
from components.common.artifacts import write_text_atomic
from components.records import layout
from components.report import distilled, downstream, fill_mask, html, serving
from components.report.labels import (
    artifact_name,
    difference,
    label,
    value,
    without_absolute_paths,
)
from components.report.training import read_train_log, training_section

log = logging.getLogger(__name__)

# Held-out metrics: (key, which direction is better).
EVAL_ROWS = (("masked_lm_loss", "lower"), ("masked_lm_accuracy", "higher"),
             ("perplexity", "lower"))
# Parity figures: (key, whether it is the check the converter enforces against `tolerance`).
PARITY_ROWS = (("max_abs_logit_diff", True), ("max_abs_logit_diff_real_tokens", False),
               ("mean_abs_logit_diff", False), ("top1_agreement_real_tokens", False))


def headline_metrics(data_metrics, train_metrics, train_log, base_eval, trained_eval, parity):
    """The numbers the KFP run page lists: instance counts, final loss, before/after, parity."""
    values = {key: data_metrics[key] for key in (
        "train_instances", "heldout_instances", "padding_fraction", "masked_token_fraction",
        "unk_fraction") if key in data_metrics}
    last = train_log[-1] if train_log else {}
    for key, name in (("loss", "final_train_loss"), ("masked_lm_accuracy", "final_train_accuracy")):
        if f"final_{key}" in train_metrics:
            values[name] = train_metrics[f"final_{key}"]
        elif key in last:
            values[name] = last[key]
    if "global_step" in train_metrics:
        values["train_steps"] = train_metrics["global_step"]
    for key, when, metrics in ((k, w, m) for k, _ in EVAL_ROWS
                               for w, m in (("before", base_eval), ("after", trained_eval))):
        if key in metrics:
            values[f"{key}_{when}"] = metrics[key]
    for key in ("max_abs_logit_diff", "top1_agreement_real_tokens"):
        if key in parity:
            values[f"parity_{key}"] = parity[key]
    return values


def heldout_sizes(base_eval, trained_eval, data_metrics):
    """On what held-out data the models were evaluated, in words ('' when nothing says)."""
    def size(metrics):
        if "num_examples" not in metrics:
            return None
        masked = (f" ({value('num_masked_tokens', metrics['num_masked_tokens'])} masked)"
                  if "num_masked_tokens" in metrics else "")
        return value("num_examples", metrics["num_examples"]) + masked

    base, trained = size(base_eval), size(trained_eval)
    if base and base == trained:
        return f"Both models on the same held-out data: {base}."
    if base or trained:
        return "Held-out data: " + "; ".join(f"{who} model {size_}" for who, size_ in
                                             (("base", base), ("trained", trained)) if size_) + "."
    if "heldout_instances" in data_metrics:
        return ("The held-out split holds "
                f"{value('heldout_instances', data_metrics['heldout_instances'])}.")
    return ""


def _eval_section(base_eval, trained_eval, data_metrics):
    rows = []
    for key, better in EVAL_ROWS:
        before, after = base_eval.get(key), trained_eval.get(key)
        change = "–"
        if before is not None and after is not None:
            improved = after < before if better == "lower" else after > before
            change = html.verdict(improved,
                                  f"{difference(key, after - before)} ({better} is better)")
        rows.append((label(key), "–" if before is None else value(key, before),
                     "–" if after is None else value(key, after), change))
    return (f"<p>{html.esc(heldout_sizes(base_eval, trained_eval, data_metrics))}</p>"
            + html.table(("held-out metric", "base model", "trained model", "change"), rows))


def _parity_cell(key, parity, checked):
    if key not in parity:
        return "–"
    if not (checked and "tolerance" in parity):
        return value(key, parity[key])
    passed = parity[key] <= parity["tolerance"]
    return html.verdict(passed, f"{value(key, parity[key])} {'≤' if passed else '>'} "
                                f"{value('tolerance', parity['tolerance'])}")


def _parity_section(parity, base_parity):
    both = {**base_parity, **parity}
    shape = [value("num_examples", both["num_examples"]) if "num_examples" in both else "",
             f"{value('seq_length', both['seq_length'])} each" if "seq_length" in both else "",
             str(both.get("dtype") or "")]
    shape = ", ".join(s for s in shape if s)
    limit = (" The conversion fails when the largest difference is above "
             f"{value('tolerance', both['tolerance'])}." if "tolerance" in both else "")
    rows = [(label(key), _parity_cell(key, base_parity, checked),
             _parity_cell(key, parity, checked))
            for key, checked in PARITY_ROWS if key in both]
    found = ("<p>TensorFlow (the Google-format checkpoint) against the converted transformers "
             f"model on the same inputs{f' ({shape})' if shape else ''}.{limit}</p>"
             + html.table(("", "base model", "trained model"), rows))
    about = [("inputs", without_absolute_paths(both["inputs"]))] if "inputs" in both else []
    about += [(f"activation in {where}", name)
              for where, name in (both.get("hidden_act") or {}).items()]
    about += list((both.get("versions") or {}).items())
    if about:
        found += html.details("Inputs and versions", html.table(("", "value"), about))
    return found


def write_model_report(pretraining_data_dir, data_metrics, trained_model_dir, train_metrics,
                       base_eval, trained_eval, base_hf_model_dir, hf_model_dir, parity,
                       html_file, markdown_file, base_parity, fill_mask_examples,
                       student_dir=None, distill_metrics=None, downstream_dir=None,
                       serve_export_dir=None):
    """Write the model report (HTML) and the Markdown summary; return the headline metrics.

    `student_dir`: the distill stage's output (its student distilled from `hf_model_dir`), shown
    in a "Distilled student" section; `distill_metrics`: its comparison with the teacher
    (`compare_models`' result; None reads the directory's metrics.json). No section without a
    `student_dir`. `downstream_dir`: the downstream step's output (its base, adapted model and
    student must be this report's), shown in a "Downstream task" section. `serve_export_dir`:
    the serve_export stage's output (of this report's student, or of `hf_model_dir` when there
    is none), shown in a "Serving" section."""
    layout.read_data_manifest(pretraining_data_dir)
    if student_dir is not None:  # refused now, before the fill-mask predictions
        student = distilled.read_student(student_dir, distill_metrics)
        if student is not None:
            distilled.check_teacher(student, hf_model_dir)
    if downstream_dir is not None:  # refused now too
        tuned = downstream.read_downstream(downstream_dir)
        roles = downstream.check_models(tuned, base_hf_model_dir, hf_model_dir, student_dir)
    if serve_export_dir is not None:  # and this
        export = serving.read_export(serve_export_dir)
        serving.check_model(export, hf_model_dir, student_dir)
    train_log = read_train_log(trained_model_dir)
    vocab = load_vocab(os.path.join(trained_model_dir, "vocab.txt")).tokens
    examples = fill_mask.heldout_examples(pretraining_data_dir, vocab, fill_mask_examples)
    log.info("fill-mask on %d held-out sentences", len(examples))
    base_predictions = fill_mask.predict(base_hf_model_dir, examples)
    trained_predictions = fill_mask.predict(hf_model_dir, examples)

    values = headline_metrics(data_metrics, train_metrics, train_log, base_eval, trained_eval,
                              parity)
    for which, predictions in (("before", base_predictions), ("after", trained_predictions)):
        values[f"fill_mask_top5_{which}"] = fill_mask.hits(examples, predictions)
    sections = [
        ("Held-out evaluation: base vs trained", _eval_section(base_eval, trained_eval,
                                                               data_metrics)),
        ("Training", training_section(train_metrics, train_log, base_eval, trained_eval,
                                      trained_model_dir)),
        ("Fill-mask examples", fill_mask.side_by_side(
            examples, {"base model": base_predictions, "trained model": trained_predictions})),
        ("Conversion parity (TF vs PyTorch)", _parity_section(parity, base_parity or {})),
    ]
    if student_dir is not None:
        section, student_values = distilled.student_section(student, hf_model_dir, examples,
                                                            trained_predictions)
        sections.append(("Distilled student", section))
        values.update(student_values)
    if downstream_dir is not None:
        section, downstream_values = downstream.downstream_section(tuned, roles)
        sections.append(("Downstream task", section))
        values.update(downstream_values)
    if serve_export_dir is not None:
        section, serving_values = serving.serving_section(export)
        sections.append(("Serving", section))
        values.update(serving_values)
    write_text_atomic(html_file, html.page(
        "edu-mlm model report", f"trained model {artifact_name(trained_model_dir)}, held-out "
        f"data {artifact_name(pretraining_data_dir)}", sections))
    write_text_atomic(markdown_file, markdown_summary(values, hf_model_dir, student_dir))
    log.info("wrote %s and %s", html_file, markdown_file)
    return values


def markdown_summary(values, hf_model_dir, student_dir=None):
    """The run's headline metrics for people, each with the Metrics key it is logged under."""
    lines = ["# edu-mlm run summary", "", "| metric | value | Metrics key |", "|---|---|---|"]
    for key, number in values.items():
        name = label(key).replace("|", r"\|")  # a bare | would end the Markdown cell
        lines.append(f"| {name} | {value(key, number)} | `{key}` |")
    lines += ["", f"transformers model: `{artifact_name(hf_model_dir)}`"]
    if student_dir is not None:
        lines.append(f"distilled student: `{artifact_name(student_dir)}`"
                     if "distill_steps" in values else "distilled student: none (skipped)")
    lines += ["", "Load it with `transformers.pipeline(\"fill-mask\", model=DIR)`.", ""]
    return "\n".join(lines)
