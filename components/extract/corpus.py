"""The extract stage: read a source, clean every passage, write the corpus artifact.

The output directory appears only when complete (`atomic_output_dir`); a failure anywhere (bad
URL, failed query, too many bad rows, nothing left after cleaning) leaves no directory behind.
"""

import logging

from components.common.artifacts import atomic_output_dir, write_manifest
from components.common.disk import write_errors_as_user_errors
from components.common.errors import UserError
from components.common.logs import progress
from components.extract import sources, urls
from components.extract.cleaning import Cleaner
from components.extract.shards import ShardWriter

log = logging.getLogger(__name__)


def cleaning_options(args):
    """The cleaning options of `args` (`ExtractArguments`), as `Cleaner` takes them and the
    manifest records them."""
    return {"min_chars": args.min_chars, "max_chars": args.max_chars,
            "normalize_punctuation": args.normalize_punctuation, "dedup": args.dedup,
            "errors": args.errors, "max_bad_fraction": args.max_bad_fraction}


def _check_source(source_url, query, connection, input_files):
    sql = source_url is not None or connection is not None
    if sql and input_files:
        raise UserError("both a database source and --input_file were given",
                        where="--source_url / --input_file", fix="pass one of them")
    if not sql and not input_files:
        raise UserError("no source given", where="--source_url / --input_file",
                        fix="pass --source_url URL --query SQL, or --input_file PATH_OR_GLOB")
    if sql and not query:
        raise UserError("a database source needs a query", where="--query",
                        fix='pass --query "SELECT text_column FROM table"')
    if query and not sql:
        raise UserError("--query was given without --source_url", where="--query",
                        fix="pass the database URL with --source_url")


def _open_source(source_url, query, text_column, input_files, connection, batch_size, errors,
                 limit):
    """(raw value iterator, source description for the manifest)."""
    if connection is not None:
        description = {"type": "dbapi", "connection": type(connection).__module__,
                       "query": query, "text_column": text_column}
        return sources.dbapi_rows(connection, query, text_column, batch_size, limit), description
    if source_url is not None:
        url = urls.described_url(urls.parse_url(source_url))
        description = {"type": "sql", "url": url, "query": query, "text_column": text_column}
        return sources.sql_rows(source_url, query, text_column, batch_size, limit), description
    files = sources.expand_input_files(input_files)
    log.info("reading %d text file(s): %s", len(files), ", ".join(files[:5]) +
             (" …" if len(files) > 5 else ""))
    return sources.text_rows(files, errors, limit), {"type": "text_files", "files": files}


def _source_name(source):
    if "files" in source:
        return ", ".join(source["files"][:3]) + (" …" if len(source["files"]) > 3 else "")
    return source.get("url") or "--query"


def _nothing_kept(cleaner):
    if not cleaner.rows_read:
        return "the source returned no rows"
    reasons = ", ".join(f"{n} {reason}" for reason, n in cleaner.dropped.items() if n)
    return f"no passages left: all {cleaner.rows_read} rows were dropped ({reasons})"


def extract_corpus(args, connection=None):
    """Read passages from a database query or text files, clean them, write a corpus artifact.

    `args`: `ExtractArguments` (see its help texts); `connection`: an open DB-API connection
    (e.g. `pyhive.hive.connect(...)`) instead of `args.source_url`. Returns the manifest.
    """
    _check_source(args.source_url, args.query, connection, args.input_file)
    rows, source = _open_source(args.source_url, args.query, args.text_column, args.input_file,
                                connection, args.batch_size, args.errors, args.limit)
    return write_corpus(args.output_dir, rows, source, cleaning_options(args), limit=args.limit,
                        rows_per_shard=args.rows_per_shard, num_shards=args.num_shards)


def write_corpus(output_dir, rows, source, cleaning, rows_per_shard, num_shards, limit=None):
    """Clean raw values from the iterator `rows` into a corpus artifact described by `source`.

    `cleaning` comes from `cleaning_options`. Also the back end of other sources (the HDFS import
    streams files through it).
    """
    cleaner = Cleaner(**cleaning)
    with write_errors_as_user_errors(output_dir), atomic_output_dir(output_dir) as tmp:
        with ShardWriter(tmp, rows_per_shard=rows_per_shard, num_shards=num_shards) as writer:
            for value in progress(rows, total=limit, desc="extract", unit="rows"):
                passage = cleaner.clean(value)
                if passage is not None:
                    writer.write(passage)
        dropped = dict(cleaner.dropped)
        log.info("read %d rows, kept %d, dropped %s", cleaner.rows_read, cleaner.rows_kept,
                 ", ".join(f"{n} {reason}" for reason, n in dropped.items() if n) or "none")
        cleaner.check_bad_fraction(where=_source_name(source))
        if cleaner.rows_kept == 0:
            raise UserError(_nothing_kept(cleaner), where=_source_name(source),
                            fix="check the query or files, or lower --min_chars")
        manifest = {
            "kind": "corpus",
            "format": "UTF-8 text, one passage per line",
            "source": source,
            "cleaning": cleaning,
            "limit": limit,
            "rows_read": cleaner.rows_read,
            "rows_kept": cleaner.rows_kept,
            "rows_dropped": dropped,
            "first_bad_row": cleaner.first_bad,
            "characters": cleaner.characters,
            "num_shards": len(writer.shards),
            "shards": writer.shards,
        }
        write_manifest(tmp, manifest)
    log.info("wrote %d passages (%d characters) in %d shard(s) to %s", cleaner.rows_kept,
             cleaner.characters, len(writer.shards), output_dir)
    return manifest
