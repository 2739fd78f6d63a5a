"""Where the labelled rows come from: files (`data.read_examples`), or a SQL/Hive query read
through extract's sources (the same URLs, Secret-filled credentials and one-line errors).

A query's rows are numbered from 1 in the order it returned them; errors and predictions.jsonl
name rows by those numbers, and `write_query_rows` keeps them in the output in that order (row N
is line N), so a result can be traced to the rows it was made from even after the table changed.
What the output records of each source (`source_record`): a file's path and sha256, a query's
text, its database URL without user or password, and the sha256 of the rows kept.
"""

import json
import os
from typing import NamedTuple

from components.common.artifacts import atomic_file, sha256_file
from components.common.errors import UserError
from components.downstream import data
from components.downstream.layout import QUERY_ROWS_FILES
from components.extract import sources, urls


class Labelled(NamedTuple):
    """The labelled rows as read, before the split and the cuts."""
    train: data.Examples
    evaluation: data.Examples | None  # None: held out from `train` by a hash of the text


def _plain(value, flag, row, column):
    """A database value as the text a file would hold: bytes decoded as UTF-8, a decimal or a
    date written out, numbers and strings as they are."""
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise UserError(f"the {column!r} value of row {row} is not UTF-8", where=flag,
                            fix="cast or convert that column to UTF-8 text in the query") from None
    if value is None or isinstance(value, str | int | float):
        return value
    # A decimal, a date or a timestamp, as the database's own client writes it.
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def fetch_labelled_rows(source_url, query, text_column, text_pair_column, label_column,
                        batch_size, flag="--query"):
    """The labelled examples `query` returns from the database at `source_url` (any SQLAlchemy
    URL, `hive://` included; see `components.extract.sources.sql_columns`), `batch_size` rows per
    fetch. Errors name the query as `flag`: a failed query, a column it does not return, no rows,
    an empty text or label (by row number)."""
    columns = {"--text_column": text_column}
    if text_pair_column:
        columns["--text_pair_column"] = text_pair_column
    columns["--label_column"] = label_column
    rows = []
    for row, values in enumerate(sources.sql_columns(source_url, query, columns, batch_size,
                                                     where=flag), 1):
        rows.append((row, {column: _plain(value, flag, row, column)
                           for column, value in zip(columns.values(), values, strict=True)}))
    if not rows:
        raise UserError("the query returned no rows", where=flag,
                        fix="check its WHERE clause and the table it reads (try the query in "
                        "the database's own client)")
    return data.examples_from_rows(rows, list(columns.values()), text_column, text_pair_column,
                                   label_column, named=flag, unit="row")


def read_labelled(args):
    """The training and evaluation rows of `args` (`FineTuneArguments`): each from its file or
    its query; a training set of one class is refused before the evaluation rows are read."""
    columns = (args.text_column, args.text_pair_column, args.label_column)

    def read(file, query, file_flag, query_flag):
        if file:
            return data.read_examples(file, *columns, flag=file_flag)
        if query:
            return fetch_labelled_rows(args.source_url, query, *columns, args.batch_size,
                                       flag=query_flag)
        return None

    train = read(args.train_file, args.query, "--train_file", "--query")
    data.check_classes(train)
    return Labelled(train, read(args.eval_file, args.eval_query, "--eval_file", "--eval_query"))


def load_task(args):
    """(training, evaluation) examples of `args`, read, split when there are no evaluation rows,
    checked and cut (`data.prepare_task`)."""
    return data.prepare_task(*read_labelled(args), args)


def write_query_rows(path, examples, args):
    """Write a query's `examples` as JSONL to `path` under the columns of `args`, one row a
    line in the query's order."""
    with atomic_file(path) as f:
        for i in range(len(examples)):
            row = {args.text_column: examples.texts[i]}
            if examples.pairs is not None:
                row[args.text_pair_column] = examples.pairs[i]
            row[args.label_column] = examples.labels[i]
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def source_record(directory, examples, file, query, args):
    """What the output records of where `examples` came from: `file`, or `query` on
    `args.source_url` (see the module's docstring); a query's rows are written into
    `directory` first."""
    if file:
        return {"path": os.path.abspath(file), "rows": len(examples), "sha256": sha256_file(file)}
    name = QUERY_ROWS_FILES[examples.source]
    write_query_rows(os.path.join(directory, name), examples, args)
    return {"query": query, "source_url": urls.described_url(urls.parse_url(args.source_url)),
            "rows": len(examples), "file": name,
            "sha256": sha256_file(os.path.join(directory, name))}


def source_records(directory, labelled, args):
    """{"train": record, "eval": record or None} of `labelled` (`source_record`)."""
    return {"train": source_record(directory, labelled.train, args.train_file, args.query, args),
            "eval": None if labelled.evaluation is None else source_record(
                directory, labelled.evaluation, args.eval_file, args.eval_query, args)}
