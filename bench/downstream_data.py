"""bench/downstream.py's labelled rows: the fixed evaluation set, the low-resource training
samples, and which passages of an unlabelled DAPT corpus hold evaluation questions.

Evaluation: the first --eval_per_class rows of each label in the order of the sha256 of their
text (the same rows whatever the file's order or the other rows). Training, for seed s: each
label's remaining rows in a permutation drawn from s, the first k of them for k per class (so a
seed's 32 rows are among its 256; a label with fewer than k remaining rows gives all it has,
and the bench says so).

The DAPT corpus check: a passage holds an evaluation question when it contains one of the
question's 24-character pieces (whitespace removed from both; consecutive, non-overlapping
pieces and the last 24 characters, the whole text when shorter). Pieces that also occur in
another labelled row are boilerplate ("阅读下面的文字，完成下面小题。…") and are not used.
"""

import bisect
import collections
import hashlib
import json
import random
import re

from components.common.artifacts import atomic_file

PIECE_CHARS = 24
WHITESPACE = re.compile(r"\s+")


def read_rows(path):
    """[{text, label, ...}] of a JSONL file; exits with one line when a row lacks either."""
    rows = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            row = json.loads(line)
            if not isinstance(row, dict) or not row.get("text") or not row.get("label"):
                raise SystemExit(f"error: line {number} of {path} has no text or label; "
                                 "pass the file scripts/write_gaokao_subjects.py writes")
            rows.append(row)
    return rows


def _text_hash(row):
    return hashlib.sha256(row["text"].encode("utf-8")).hexdigest()


def by_label(rows):
    grouped = collections.defaultdict(list)
    for row in rows:
        grouped[row["label"]].append(row)
    return dict(sorted(grouped.items()))


def split_eval(rows, eval_per_class):
    """(eval rows, {label: the rows left for training}); exits with one line when a label has
    no row left for training."""
    groups = by_label(rows)
    smallest = min(groups, key=lambda label: len(groups[label]))
    if len(groups[smallest]) <= eval_per_class:
        raise SystemExit(f"error: label {smallest!r} has {len(groups[smallest])} rows, so none "
                         f"is left for training after --eval_per_class {eval_per_class}; pass "
                         f"--eval_per_class {len(groups[smallest]) // 2} or less")
    evaluation, pool = [], {}
    for label, group in groups.items():
        ordered = sorted(group, key=_text_hash)
        evaluation += ordered[:eval_per_class]
        pool[label] = ordered[eval_per_class:]
    return evaluation, pool


def sample_train(pool, per_class, seed):
    """Seed `seed`'s first `per_class` rows of each label (all of a label that has fewer)."""
    rows = []
    for label, group in pool.items():
        order = list(range(len(group)))
        random.Random(f"{seed}:{label}").shuffle(order)
        rows += [group[i] for i in order[:per_class]]
    return rows


def write_jsonl(path, rows):
    with atomic_file(path) as f:
        for row in rows:
            f.write(json.dumps({"text": row["text"], "label": row["label"]},
                               ensure_ascii=False) + "\n")


def _normalise(text):
    return WHITESPACE.sub("", text)


def _pieces(text):
    text = _normalise(text)
    if len(text) <= PIECE_CHARS:
        return [text]
    starts = range(0, len(text) - PIECE_CHARS + 1, PIECE_CHARS)
    return list(dict.fromkeys([text[i:i + PIECE_CHARS] for i in starts]
                              + [text[-PIECE_CHARS:]]))


def question_pieces(evaluation, rows):
    """{eval row index: its pieces that no other labelled row has}."""
    owners = collections.defaultdict(set)
    for number, row in enumerate(rows):
        for piece in _pieces(row["text"]):
            owners[piece].add(number)
    return {i: [p for p in _pieces(row["text"]) if len(owners[p]) == 1]
            for i, row in enumerate(evaluation)}


def find_eval_in_corpus(corpus_file, evaluation, rows):
    """(corpus lines, {passage number: [eval row indices found in it]})."""
    with open(corpus_file, encoding="utf-8") as f:
        passages = f.read().splitlines()
    joined, starts = [], []
    offset = 0
    for passage in passages:
        starts.append(offset)
        normalised = _normalise(passage)
        joined.append(normalised)
        offset += len(normalised) + 1
    text = "\n".join(joined)
    found = collections.defaultdict(set)
    for question, pieces in question_pieces(evaluation, rows).items():
        for piece in pieces:
            at = text.find(piece)
            while at >= 0:
                found[bisect.bisect_right(starts, at) - 1].add(question)
                at = text.find(piece, at + 1)
    return passages, {passage: sorted(questions) for passage, questions in found.items()}


def corpus_overlap(corpus_file, evaluation, rows):
    """What of the evaluation set a DAPT corpus holds: {passages, passages_with_eval_text,
    eval_questions_found, eval_questions}."""
    passages, found = find_eval_in_corpus(corpus_file, evaluation, rows)
    return _overlap(corpus_file, passages, found, evaluation)


def _overlap(corpus_file, passages, found, evaluation):
    questions = set().union(*found.values()) if found else set()
    return {"corpus_file": corpus_file, "passages": len(passages),
            "passages_with_eval_text": len(found), "eval_questions_found": len(questions),
            "eval_questions": len(evaluation), "method": __doc__.split("\n\n")[2].strip()}


def write_corpus_without_eval(corpus_file, output_file, evaluation, rows):
    """Write `corpus_file` without the passages that hold an evaluation question; return what
    was removed (`corpus_overlap`'s figures and the characters removed)."""
    passages, found = find_eval_in_corpus(corpus_file, evaluation, rows)
    with atomic_file(output_file) as f:
        for number, passage in enumerate(passages):
            if number not in found:
                f.write(passage + "\n")
    summary = _overlap(corpus_file, passages, found, evaluation)
    summary.update(output_file=output_file, passages_kept=len(passages) - len(found),
                   characters_removed=sum(len(passages[n]) for n in found),
                   characters_kept=sum(len(p) for n, p in enumerate(passages)
                                       if n not in found))
    return summary
