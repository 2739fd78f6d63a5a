"""The model report: training curves, held-out before/after, fill-mask examples, parity; and the
Markdown summary and the run's headline metrics."""

import json
import logging
import os

from components.bert.vocab import load_vocab
from components.common.artifacts import read_manifest, write_text_atomic
from components.report import fill_mask, html, plots

log = logging.getLogger(__name__)

EVAL_ROWS = (("masked_lm_loss", "held-out loss", "lower"),
             ("masked_lm_accuracy", "masked-LM accuracy", "higher"),
             ("perplexity", "perplexity", "lower"))


def read_train_log(model_dir):
    path = os.path.join(model_dir, "train_log.jsonl")
    if not os.path.isfile(path):
        return []
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


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
    for key, when, metrics in ((k, w, m) for k, _, _ in EVAL_ROWS
                               for w, m in (("before", base_eval), ("after", trained_eval))):
        if key in metrics:
            values[f"{key}_{when}"] = metrics[key]
    for key in ("max_abs_logit_diff", "top1_agreement_real_tokens"):
        if key in parity:
            values[f"parity_{key}"] = parity[key]
    return values


def _eval_table(base_eval, trained_eval):
    rows = []
    for key, label, better in EVAL_ROWS:
        before, after = base_eval.get(key), trained_eval.get(key)
        change = html.Markup("–")
        if before is not None and after is not None:
            improved = after < before if better == "lower" else after > before
            change = html.Markup(f'<span class="{"good" if improved else "bad"}">'
                                 f'{html.number(after - before)}</span>')
        rows.append((label, before, after, change))
    return html.table(("held-out metric", "base model", "trained model", "change"), rows, (1, 2))


def _training_section(train_log, base_eval, trained_eval):
    if not train_log:
        return "<p>No train_log.jsonl in the trained model directory.</p>"
    steps = [e["step"] for e in train_log]
    markers = {}
    if "masked_lm_loss" in base_eval:
        markers["base held-out"] = (0, base_eval["masked_lm_loss"])
    if "masked_lm_loss" in trained_eval:
        markers["trained held-out"] = (steps[-1], trained_eval["masked_lm_loss"])
    figures = [plots.curves(steps, {"train": [e["loss"] for e in train_log]},
                            "Masked-LM loss", "loss", markers)]
    if all("masked_lm_accuracy" in e for e in train_log):
        figures.append(plots.curves(steps, {"train": [e["masked_lm_accuracy"]
                                                      for e in train_log]},
                                    "Masked-LM accuracy (train batches)", "accuracy"))
    if all("learning_rate" in e for e in train_log):
        figures.append(plots.curves(steps, {"train": [e["learning_rate"] for e in train_log]},
                                    "Learning rate", "learning rate"))
    last = train_log[-1]
    rows = [(k, v) for k, v in sorted(last.items()) if isinstance(v, int | float)]
    return ('<div class="plots">' + "".join(html.png(f) for f in figures) + "</div>"
            + "<p>Last logged interval:</p>" + html.table(("", "value"), rows, (1,)))


def _fill_mask_section(examples, base_predictions, trained_predictions):
    if not examples:
        return "<p>No held-out sentence with a masked Chinese character was found.</p>"

    def cell(predictions, answer):
        return html.Markup("<br>".join(
            f'<span class="{"good" if token == answer else ""}">{html.esc(token)}</span> '
            f"{100 * probability:.1f}%" for token, probability in predictions))

    rows = []
    for (before, answer, after), base, trained in zip(examples, base_predictions,
                                                      trained_predictions, strict=True):
        sentence = html.Markup(f'{html.esc(before)}<span class="mask">[MASK]</span>'
                               f"{html.esc(after)}")
        rows.append((sentence, answer, cell(base, answer), cell(trained, answer)))
    return ("<p>Held-out sentences, one character masked; top-5 predictions with their "
            "probabilities (the answer in green).</p>"
            + html.table(("sentence", "answer", "base model top-5", "trained model top-5"), rows))


def _hits(examples, predictions, k):
    if not examples:
        return 0.0
    return sum(answer in [t for t, _ in p[:k]] for (_, answer, _), p in
               zip(examples, predictions, strict=True)) / len(examples)


def _parity_section(parity, base_parity):
    keys = sorted({k for k in (*parity, *base_parity) if isinstance(
        (parity.get(k) if k in parity else base_parity.get(k)), int | float)})
    rows = [(k, base_parity.get(k), parity.get(k)) for k in keys]
    return ("<p>TensorFlow (Google-format checkpoint) against the converted transformers model "
            "on the same inputs.</p>"
            + html.table(("", "base model", "trained model"), rows, (1, 2)))


def write_model_report(pretraining_data_dir, data_metrics, trained_model_dir, train_metrics,
                       base_eval, trained_eval, base_hf_model_dir, hf_model_dir, parity,
                       html_file, markdown_file, base_parity, fill_mask_examples):
    """Write the model report (HTML) and the Markdown summary; return the headline metrics."""
    read_manifest(pretraining_data_dir, kind="pretraining_data")
    train_log = read_train_log(trained_model_dir)
    vocab = load_vocab(os.path.join(trained_model_dir, "vocab.txt")).tokens
    examples = fill_mask.heldout_examples(pretraining_data_dir, vocab, fill_mask_examples)
    log.info("fill-mask on %d held-out sentences", len(examples))
    base_predictions = fill_mask.predict(base_hf_model_dir, examples)
    trained_predictions = fill_mask.predict(hf_model_dir, examples)

    values = headline_metrics(data_metrics, train_metrics, train_log, base_eval, trained_eval,
                              parity)
    for which, predictions in (("before", base_predictions), ("after", trained_predictions)):
        values[f"fill_mask_top5_{which}"] = _hits(examples, predictions, 5)
    sections = [
        ("Held-out evaluation: base vs trained", _eval_table(base_eval, trained_eval)),
        ("Training", _training_section(train_log, base_eval, trained_eval)),
        ("Fill-mask examples", _fill_mask_section(examples, base_predictions,
                                                  trained_predictions)),
        ("Conversion parity (TF vs PyTorch)", _parity_section(parity, base_parity or {})),
    ]
    write_text_atomic(html_file, html.page(
        "edu-mlm model report", f"trained model {trained_model_dir}", sections))
    write_text_atomic(markdown_file, markdown_summary(values, hf_model_dir))
    log.info("wrote %s and %s", html_file, markdown_file)
    return values


def markdown_summary(values, hf_model_dir):
    lines = ["# edu-mlm run summary", "", "| metric | value |", "|---|---|"]
    lines += [f"| {key} | {html.number(value)} |" for key, value in values.items()]
    lines += ["", f"transformers model: `{hf_model_dir}`", "",
              "Load it with `transformers.pipeline(\"fill-mask\", model=DIR)`.", ""]
    return "\n".join(lines)
