"""Where raw passages come from: a SQL query (any SQLAlchemy URL, `hive://` included), a plain
DB-API connection (e.g. `pyhive.hive.connect(...)`), or text files with one passage per line.

Each source is a generator of raw values (str, bytes or None), read in batches so that memory stays
flat however large the result: SQLAlchemy with `stream_results` + `yield_per` (server-side cursors
where the driver has them; PyHive fetches `batch_size` rows per Thrift call), DB-API `fetchmany`,
and files line by line. Drivers are imported by SQLAlchemy only for the URL's dialect, so PyHive is
loaded only for `hive://`.

Credentials come from the URL given at run time or from the environment (`EDU_MLM_SOURCE_USER`,
`EDU_MLM_SOURCE_PASSWORD`, filled by a Kubernetes Secret in the pipeline). Logs show the URL as
given with its password masked (so nothing read from the environment), error messages mask the
password and an environment-supplied user, and the manifest's source description has neither
user nor password.
"""

import contextlib
import glob
import gzip
import logging
import os

from components.common.errors import UserError
from components.extract import hive
from components.extract.cleaning import INVALID_UTF8, BadRow
from components.extract.urls import (
    error_line,
    masked_url,
    parse_url,
    secrets_of,
    with_env_credentials,
)

log = logging.getLogger(__name__)

def _column_index(names, column, flag, where):
    """The index of `column` (named by the option `flag`) among the query's column `names`;
    None is the query's only column (the text's, when one column is all a query returns)."""
    if column is None:
        if len(names) == 1:
            return 0
        raise UserError(f"the query returns {len(names)} columns ({', '.join(names)}) and no "
                        f"{flag} says which one holds the text", where=where,
                        fix=f"pass {flag} NAME or select a single column")
    lowered = [n.lower() for n in names]
    # Hive reports columns as `table.column` unless the query aliases them.
    short = [n.rsplit(".", 1)[-1] for n in lowered]
    for candidates in (lowered, short):
        if column.lower() in candidates:
            return candidates.index(column.lower())
    raise UserError(f"{flag} {column!r} is not among the query's columns "
                    f"({', '.join(names)})", where=where, fix="pass one of those names")


def _column_names(columns):
    """What a query must return, in words: 'text column', or 'columns that --text_column and
    --label_column name'."""
    if len(columns) == 1:
        return "text column"
    flags = list(columns)
    return f"columns that {', '.join(flags[:-1])} and {flags[-1]} name"


def sql_rows(source_url, query, text_column, batch_size, limit=None):
    """Stream the text column of `query` over a SQLAlchemy URL, `batch_size` rows per fetch."""
    columns = sql_columns(source_url, query, {"--text_column": text_column}, batch_size, limit)
    return (value for (value,) in columns)


def sql_columns(source_url, query, columns, batch_size, limit=None, where="--query"):
    """Stream the `columns` ({flag naming the column: its name, or None for the query's only
    column}) of `query` over a SQLAlchemy URL as tuples in that order, `batch_size` rows per
    fetch; `where`: the option holding the query, as errors name it."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import NoSuchModuleError

    given = parse_url(source_url)
    url = with_env_credentials(given)
    secrets = secrets_of(url, given)
    shown = masked_url(given)
    is_hive = url.drivername.startswith("hive")
    if is_hive:
        hive.check_url(url, shown)
        timeout = hive.connect_timeout(url, shown)
        url = url.difference_update_query(["connect_timeout"])
        # Thrift logs a traceback before raising; we report the error ourselves, in one line.
        logging.getLogger("thrift").setLevel(logging.CRITICAL)
    try:
        engine = create_engine(url)
    except NoSuchModuleError as err:
        raise UserError(f"no SQLAlchemy dialect for {url.drivername!r}", where=shown,
                        fix="install its driver in the image or use sqlite://, "
                            "postgresql://, mysql:// or hive://") from err
    except Exception as err:  # driver modules fail in their own ways (ImportError, ValueError…)
        raise UserError(f"cannot set up the database driver: {error_line(err, secrets)}",
                        where=shown, fix="check the URL's dialect and options") from err
    log.info("reading from %s, %d rows per fetch", shown, batch_size)
    try:
        with hive.deadline(timeout) if is_hive else contextlib.nullcontext():
            connection = engine.connect()
    except Exception as err:  # DBAPIError, but also thrift/socket errors PyHive lets through
        fix = hive.hint(err, url) if is_hive else "check host, port, user and password"
        raise UserError(f"cannot connect to the database: {error_line(err, secrets)}",
                        where=shown, fix=fix) from err
    try:
        try:
            result = connection.execution_options(
                stream_results=True, yield_per=batch_size).execute(text(query))
        except Exception as err:
            raise UserError(f"the query failed: {error_line(err, secrets)}", where=where,
                            fix="fix the SQL (try it in the database's own client)") from err
        if not result.returns_rows:
            raise UserError("the query returns no rows (not a SELECT?)", where=where,
                            fix=f"pass a SELECT that returns the {_column_names(columns)}")
        names = list(result.keys())
        indices = [_column_index(names, column, flag, where) for flag, column in columns.items()]
        read = 0
        try:
            for batch in result.partitions():
                for row in batch:
                    yield tuple(row[i] for i in indices)
                    read += 1
                    if limit is not None and read >= limit:
                        return
        except UserError:
            raise
        except Exception as err:
            raise UserError(f"reading the query's rows failed: {error_line(err, secrets)}",
                            where=shown, fix="check the database and rerun") from err
    finally:
        connection.close()
        engine.dispose()


def dbapi_rows(connection, query, text_column, batch_size, limit=None):
    """Stream the text column of `query` over an open DB-API connection with `fetchmany`."""
    cursor = connection.cursor()
    try:
        cursor.arraysize = batch_size
        try:
            cursor.execute(query)
        except Exception as err:
            raise UserError(f"the query failed: {error_line(err)}", where="--query",
                            fix="fix the SQL (try it in the database's own client)") from err
        if cursor.description is None:
            raise UserError("the query returns no rows (not a SELECT?)", where="--query",
                            fix="pass a SELECT that returns the text column")
        index = _column_index([d[0] for d in cursor.description], text_column, "--text_column",
                              "--query")
        read = 0
        while True:
            batch = cursor.fetchmany(batch_size)
            if not batch:
                return
            for row in batch:
                yield row[index]
                read += 1
                if limit is not None and read >= limit:
                    return
    finally:
        cursor.close()


def expand_input_files(patterns):
    """Paths and globs → sorted existing files; each pattern must match something."""
    files = []
    for pattern in patterns:
        matches = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
        matches = [m for m in matches if os.path.isfile(m)]
        if not matches:
            raise UserError("no input file matches", where=f"--input_file {pattern}",
                            fix="check the path or glob (quote globs so the shell leaves them)")
        files += [m for m in matches if m not in files]
    return files


def open_local_file(path):
    """Binary file object for a local path; `.gz` files are decompressed on the fly."""
    return gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb")


def text_rows(files, errors, limit=None, open_file=open_local_file):
    """One raw passage per line of each file, decoded as UTF-8.

    `open_file(name)` returns a binary file object (local files by default; the HDFS import
    passes WebHDFS streams). Lines are split on `\\n` only; a stray `\\r` is whitespace the
    cleaner removes. With errors="strict" a line with invalid UTF-8 becomes a `BadRow` naming the
    file, line and byte offset (the cleaner counts it); "replace" turns bad bytes into U+FFFD.
    """
    read = 0
    for path in files:
        offset = 0
        with open_file(path) as f:
            for line_number, raw in enumerate(f, 1):
                try:
                    line = raw.decode("utf-8", errors=errors)
                except UnicodeDecodeError as err:
                    line = BadRow(INVALID_UTF8, f"invalid UTF-8 at byte offset "
                                                f"{offset + err.start} (line {line_number}) in "
                                                f"{path}")
                if offset == 0 and isinstance(line, str):
                    line = line.removeprefix("\ufeff")
                offset += len(raw)
                yield line
                read += 1
                if limit is not None and read >= limit:
                    return
