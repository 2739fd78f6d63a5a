"""Fill-mask examples: held-out sentences with one masked character, and the top-5 predictions
of several models side by side (transformers `pipeline("fill-mask")` on each model's directory):
the base and the trained model, the teacher and its distilled student.

The sentences come from the held-out TFRecords, so both models are shown text neither trained
on. A position the data prep chose for masking is restored to its original token and then
masked again as `[MASK]`; the sentence around it (up to the nearest 。！？；) is the example.
"""

import logging
import unicodedata

from components.records import layout, reader
from components.report import html

log = logging.getLogger(__name__)

SENTENCE_END = set("。！？；!?;")
BATCH = 64  # held-out records parsed at a time
WINDOW = 24  # tokens kept on each side of the mask, at most


def _is_cjk(token):
    return len(token) == 1 and "CJK" in unicodedata.name(token, "")


def _join(tokens):
    """Tokens → readable text: CJK and punctuation without spaces, ## pieces glued on."""
    text = ""
    for token in tokens:
        if token.startswith("##"):
            text += token[2:]
        elif text and text[-1].isascii() and text[-1].isalnum() and token[0].isascii() \
                and token[0].isalnum():
            text += " " + token
        else:
            text += token
    return text


def _sentence_around(tokens, position):
    start = position
    while start > 0 and position - start < WINDOW and tokens[start - 1] not in SENTENCE_END \
            and tokens[start - 1] not in ("[CLS]", "[SEP]"):
        start -= 1
    end = position + 1
    while end < len(tokens) and end - position <= WINDOW and tokens[end] not in ("[SEP]",
                                                                                 "[PAD]"):
        end += 1
        if tokens[end - 1] in SENTENCE_END:
            break
    return start, end


def _heldout_records(pretraining_data_dir, wanted):
    """The held-out records one at a time, as {feature name: list of numbers}."""
    layout.read_data_manifest(pretraining_data_dir)
    files = layout.split_files(pretraining_data_dir, "heldout")
    for batch in reader.iter_batches(files, BATCH, wanted):
        for row in range(len(batch[wanted[0]])):
            yield {name: batch[name][row].tolist() for name in wanted}


def heldout_examples(pretraining_data_dir, vocab, count):
    """Up to `count` (text before, answer, text after) from the held-out records, one per
    instance, masking a CJK character the data prep had chosen."""
    examples = []
    wanted = ("input_ids", "masked_lm_positions", "masked_lm_ids", "masked_lm_weights")
    for example in _heldout_records(pretraining_data_dir, wanted):
        if len(examples) >= count:
            break
        ids = example["input_ids"]
        for pos, label, weight in zip(example["masked_lm_positions"], example["masked_lm_ids"],
                                      example["masked_lm_weights"], strict=True):
            if weight > 0:
                ids[pos] = label
        tokens = [vocab[i] for i in ids]
        for pos, weight in zip(example["masked_lm_positions"], example["masked_lm_weights"],
                               strict=True):
            if weight > 0 and _is_cjk(tokens[pos]):
                start, end = _sentence_around(tokens, pos)
                examples.append((_join(tokens[start:pos]), tokens[pos],
                                 _join(tokens[pos + 1:end])))
                break
    return examples


def predict(model_dir, examples, top_k=5):
    """[[(token, probability)] * top_k] per example, from the transformers model in `model_dir`."""
    from transformers import pipeline

    fill = pipeline("fill-mask", model=model_dir, tokenizer=model_dir, top_k=top_k, device=-1)
    mask = fill.tokenizer.mask_token
    texts = [f"{before}{mask}{after}" for before, _, after in examples]
    results = fill(texts) if texts else []
    if len(texts) == 1:
        results = [results]
    return [[(r["token_str"].replace(" ", ""), r["score"]) for r in result] for result in results]


def hits(examples, predictions, k=5):
    """The share of `examples` whose answer is among the first `k` of `predictions`."""
    if not examples:
        return 0.0
    return sum(answer in [t for t, _ in p[:k]] for (_, answer, _), p in
               zip(examples, predictions, strict=True)) / len(examples)


def side_by_side(examples, predictions):
    """The examples with each model's top-5 in a column of its own (the answer in green), and
    how often the answer is in each model's top 5; `predictions`: {model's name: `predict`'s
    result}."""
    if not examples:
        return "<p>No held-out sentence with a masked Chinese character was found.</p>"

    def cell(model_predictions, answer):
        return html.Markup("<br>".join(
            f'<span class="{"good" if token == answer else ""}">{html.esc(token)}</span> '
            f"{100 * probability:.1f}%" for token, probability in model_predictions))

    rows = []
    for i, (before, answer, after) in enumerate(examples):
        sentence = html.Markup(f'{html.esc(before)}<span class="mask">[MASK]</span>'
                               f"{html.esc(after)}")
        rows.append((sentence, answer, *(cell(p[i], answer) for p in predictions.values())))
    found = [f"{round(hits(examples, p) * len(examples))} of {len(examples)} with the {name}"
             for name, p in predictions.items()]
    sentences = f"{len(examples)} held-out sentence{'s' if len(examples) > 1 else ''}"
    return (f"<p>{sentences}, one character masked; top-5 predictions "
            "with their probabilities (the answer in green). The answer is in the top 5 for "
            f"{', '.join(found)}.</p>"
            + html.table(("sentence", "answer", *(f"{name} top-5" for name in predictions)),
                         rows))
