"""The labelled rows: read from JSONL, CSV or TSV, checked, split into training and evaluation.

A file's format is its extension: `.jsonl` (one JSON object a line; blank lines skipped), `.csv`
(a header row, then rows with Python's csv quoting) or `.tsv` (a header row, then one row a line
split at tabs, no quoting: Hive's and GLUE's exports). UTF-8, with or without a byte-order mark.

A row whose text, second text or label is empty is refused, not dropped: in a labelled set it is
an export or join gone wrong, and dropping it silently would change the task between runs. The
error names the file (or the query: `labelled.py`) and the first lines. Without evaluation rows, a
row goes to evaluation when a hash of its text (and second text) falls under `eval_fraction`: the
same rows every run, and repeated texts all on one side, so no evaluation text is also a training
text.
"""

import collections
import csv
import dataclasses
import hashlib
import io
import json
import os

from components.common.errors import UserError

FORMATS = {".jsonl": "jsonl", ".csv": "csv", ".tsv": "tsv"}
SHOWN = 5  # lines or labels named in an error


@dataclasses.dataclass
class Examples:
    """Labelled examples and where each came from."""
    texts: list[str]
    pairs: list[str] | None  # the second texts of a sentence-pair task
    labels: list[str]
    lines: list[int]  # the line of each example in `source` (a query's row number)
    source: str  # "--train_file PATH", "--eval_file PATH", "--query", "--eval_query"

    def __len__(self):
        return len(self.labels)

    def take(self, indices):
        indices = list(indices)

        def pick(values):
            return [values[i] for i in indices]

        return Examples(pick(self.texts), self.pairs and pick(self.pairs), pick(self.labels),
                        pick(self.lines), self.source)

    def head(self, count):
        return self if count is None else self.take(range(min(count, len(self))))

    def head_per_label(self, count):
        """The first `count` examples of each label, in their order."""
        if count is None:
            return self
        seen = collections.Counter()
        keep = []
        for i, label in enumerate(self.labels):
            seen[label] += 1
            if seen[label] <= count:
                keep.append(i)
        return self.take(keep)


def _decode(path, named):
    if os.path.isdir(path):
        raise UserError("expected a file, found a directory", where=named,
                        fix=f"pass one labelled file ({', '.join(FORMATS)})")
    with open(path, "rb") as f:
        data = f.read()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[:err.start].count(b"\n") + 1
        raise UserError("the file is not UTF-8", where=f"{named}, line {line}",
                        fix="save it as UTF-8") from None


def _jsonl_rows(named, text):
    """[(line, {column: value})] and the columns in order of first appearance."""
    rows, columns = [], {}
    # Split at "\n" only: str.splitlines would also split at U+2028 and other separators that
    # JSON strings may hold raw.
    for number, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as err:
            raise UserError(f"not a JSON object: {err}", where=f"{named}, line {number}",
                            fix="write one JSON object per line (JSONL)") from None
        if not isinstance(row, dict):
            raise UserError(f"not a JSON object but {type(row).__name__}",
                            where=f"{named}, line {number}",
                            fix="write one JSON object per line (JSONL)")
        columns.update(dict.fromkeys(row))
        rows.append((number, row))
    return rows, list(columns)


def _delimited_rows(named, text, kind):
    reader = csv.reader(io.StringIO(text, newline=""), delimiter="," if kind == "csv" else "\t",
                        quoting=csv.QUOTE_MINIMAL if kind == "csv" else csv.QUOTE_NONE)
    try:
        records = [(reader.line_num, record) for record in reader if record]
    except csv.Error as err:
        other = "TSV" if kind == "csv" else "CSV"
        raise UserError(f"malformed {kind.upper()}: {err}",
                        where=f"{named}, line {reader.line_num}",
                        fix=f"check the file's quoting, or save it as {other}") from None
    if not records:
        return [], []
    header = records[0][1]
    rows = []
    for number, record in records[1:]:
        if len(record) != len(header):
            raise UserError(f"{len(record)} fields where the header has {len(header)}",
                            where=f"{named}, line {number}",
                            fix="give every row the header's columns"
                            + (" (a tab inside a text splits it)" if kind == "tsv" else ""))
        rows.append((number, dict(zip(header, record, strict=True))))
    return rows, header


def _as_text(value):
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _lines(numbers, unit="line"):
    shown = ", ".join(map(str, numbers[:SHOWN]))
    return f"{unit}{'s' if len(numbers) > 1 else ''} {shown}{' …' if len(numbers) > SHOWN else ''}"


def read_examples(path, text_column, text_pair_column, label_column, flag="--train_file"):
    """The labelled examples of one file (see the module's docstring for formats and rules);
    errors name the file as `flag` PATH."""
    named = f"{flag} {path}"
    if not os.path.exists(path):
        raise UserError("the file does not exist", where=named,
                        fix="check the path of the labelled file")
    extension = os.path.splitext(path)[1].lower()
    kind = FORMATS.get(extension)
    if kind is None:
        raise UserError(f"unknown file format {extension or '(no extension)'!r}", where=named,
                        fix="name the file .jsonl, .csv or .tsv after its format")
    text = _decode(path, named)
    rows, columns = (_jsonl_rows(named, text) if kind == "jsonl"
                     else _delimited_rows(named, text, kind))
    if not rows:
        raise UserError("the file has no rows", where=named, fix="pass a file of labelled rows")
    return examples_from_rows(rows, columns, text_column, text_pair_column, label_column, named)


def examples_from_rows(rows, columns, text_column, text_pair_column, label_column, named,
                       unit="line"):
    """The labelled examples of `rows` ([(line or row number, {column: value})], `columns` in
    order), refusing a missing column and empty values; errors name the source as `named` and
    the rows as `unit`s."""
    wanted = [("--text_column", text_column), ("--label_column", label_column)]
    if text_pair_column:
        wanted.insert(1, ("--text_pair_column", text_pair_column))
    for flag, column in wanted:
        if column not in columns:
            raise UserError(f"no column {column!r}; the columns are "
                            f"{', '.join(map(repr, columns))}", where=named,
                            fix=f"pass {flag} with one of them")
    values = {column: [_as_text(row.get(column)).strip() for _, row in rows]
              for _, column in wanted}
    lines = [number for number, _ in rows]
    for _, column in wanted:
        empty = [line for line, value in zip(lines, values[column], strict=True) if not value]
        if empty:
            raise UserError(f"{len(empty)} row{'s' if len(empty) > 1 else ''} with an empty "
                            f"{column!r}", where=f"{named}, {_lines(empty, unit)}",
                            fix="fill or remove those rows")
    return Examples(values[text_column], values[text_pair_column] if text_pair_column else None,
                    values[label_column], lines, named)


def in_eval_split(text, pair, fraction):
    """Whether a row with this text (and second text) is held out: a hash of them, in [0, 1),
    below `fraction`."""
    key = text if pair is None else f"{text}\x1f{pair}"
    return int(hashlib.sha256(key.encode()).hexdigest()[:15], 16) / 16 ** 15 < fraction


def split_by_hash(examples, fraction):
    """(training, evaluation) examples of one file, by `in_eval_split`."""
    pairs = examples.pairs or [None] * len(examples)
    held = [in_eval_split(t, p, fraction) for t, p in zip(examples.texts, pairs, strict=True)]
    train = examples.take([i for i, h in enumerate(held) if not h])
    evaluation = examples.take([i for i, h in enumerate(held) if h])
    for name, part in (("evaluation", evaluation), ("training", train)):
        if not len(part):
            raise UserError(f"--eval_fraction {fraction} leaves no {name} rows of "
                            f"{len(examples)}", where=examples.source,
                            fix="pass another --eval_fraction, or evaluation rows (--eval_file "
                            "or --eval_query)")
    return train, evaluation


def check_classes(train):
    """Refuse training rows of one class."""
    if len(set(train.labels)) < 2:
        raise UserError(f"the training rows have one class only ({train.labels[0]!r})",
                        where=train.source, fix="a classifier needs two labels or more: check "
                        "--label_column and the rows")


def check_labels(train, evaluation, eval_from_train):
    """Refuse a training set of one class, and evaluation labels that training never saw."""
    check_classes(train)
    counts = collections.Counter(train.labels)
    unseen = collections.Counter(label for label in evaluation.labels if label not in counts)
    if unseen:
        named = ", ".join(f"{label!r} ({count} row{'s' if count > 1 else ''})"
                          for label, count in unseen.most_common(SHOWN))
        more = f" and {len(unseen) - SHOWN} more" if len(unseen) > SHOWN else ""
        fix = ("pass evaluation rows (--eval_file or --eval_query), or add rows of those labels"
               if eval_from_train else
               "add training rows of those labels, or remove them from the evaluation rows")
        raise UserError(f"{len(unseen)} evaluation label{'s' if len(unseen) > 1 else ''} that "
                        f"no training row has: {named}{more}",
                        where=evaluation.source + (" (its held-out part)" if eval_from_train
                                                   else ""), fix=fix)


def prepare_task(train, evaluation, args):
    """(training, evaluation) examples, checked and cut to --max_train_examples_per_class,
    --max_train_examples and --max_eval_examples (`FineTuneArguments`); without `evaluation`,
    held out from `train` by `split_by_hash`."""
    check_classes(train)
    eval_from_train = evaluation is None
    if eval_from_train:
        train, evaluation = split_by_hash(train, args.eval_fraction)
    train = train.head_per_label(args.max_train_examples_per_class).head(
        args.max_train_examples)
    evaluation = evaluation.head(args.max_eval_examples)
    check_labels(train, evaluation, eval_from_train)
    return train, evaluation
