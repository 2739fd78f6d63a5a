"""Extract a clean corpus from a database query or text files.

    python -m components.extract --source_url sqlite:///data/sample.db \\
        --query "SELECT summary FROM articles" --output_dir runs/corpus
    python -m components.extract --source_url "hive://etl@hive.example:10000/edu?auth=LDAP" \\
        --query "SELECT summary FROM answers WHERE dt='2026-11-01'" --output_dir runs/corpus
    python -m components.extract --input_file "raw/*.txt" --output_dir runs/corpus

A password is never needed on the command line: leave it out of the URL and set
EDU_MLM_SOURCE_PASSWORD (and EDU_MLM_SOURCE_USER) in the environment.
"""

import logging

from components.common.cli import ArgumentParser, str2bool
from components.common.errors import exit_on_user_error
from components.common.logs import setup_logging
from components.extract.corpus import ERROR_POLICIES, extract_corpus

log = logging.getLogger("components.extract")


def build_parser():
    parser = ArgumentParser(prog="python -m components.extract",
                            description=__doc__.split("\n\n")[0])
    source = parser.add_argument_group("source (a database query, or text files)")
    source.add_argument("--source_url", default=None,
                        help="SQLAlchemy URL of the database, e.g. sqlite:///a.db, "
                             "postgresql://user@host/db, hive://user@host:10000/db?auth=NOSASL "
                             "(Hive also takes &connect_timeout=SECONDS, default 60); "
                             "the password may come from EDU_MLM_SOURCE_PASSWORD instead")
    source.add_argument("--query", default=None, help="the SELECT that returns the text")
    source.add_argument("--text_column", default=None,
                        help="the column holding the text, when the query returns several")
    source.add_argument("--input_file", dest="input_files", nargs="+", action="extend",
                        default=[], metavar="PATH_OR_GLOB",
                        help="text files (one passage per line, .gz allowed) instead of a query")
    source.add_argument("--batch_size", type=int, default=1000,
                        help="rows fetched from the database per round trip")
    source.add_argument("--limit", type=int, default=None,
                        help="read at most this many rows (a dry run on a large table)")
    source.add_argument("--errors", choices=ERROR_POLICIES, default="strict",
                        help="invalid UTF-8: skip and count the row as bad, naming the first "
                             "one's file/row and byte offset (strict), or replace the bad bytes "
                             "with U+FFFD (replace)")
    source.add_argument("--max_bad_fraction", type=float, default=0.01,
                        help="stop (writing nothing) when more than this share of the rows are "
                             "bad (invalid UTF-8, longer than --max_chars)")
    cleaning = parser.add_argument_group("cleaning")
    cleaning.add_argument("--min_chars", type=int, default=10,
                          help="drop passages shorter than this many characters after cleaning")
    cleaning.add_argument("--max_chars", type=int, default=2_000_000,
                          help="passages longer than this after cleaning are bad rows (an "
                               "export glitch, not a document)")
    cleaning.add_argument("--normalize_punctuation", type=str2bool, default=True,
                          help="map punctuation missing from Chinese BERT's vocab (curly quotes, "
                               "ellipsis, dashes) to forms it covers")
    cleaning.add_argument("--dedup", type=str2bool, default=True,
                          help="drop exact duplicates of an earlier cleaned passage")
    output = parser.add_argument_group("output")
    output.add_argument("--output_dir", required=True,
                        help="corpus directory to create (part-NNNNN.txt shards + manifest.json)")
    output.add_argument("--rows_per_shard", type=int, default=100_000,
                        help="passages per shard file (when --num_shards is 0)")
    output.add_argument("--num_shards", type=int, default=0,
                        help="deal passages round-robin into this many shards (0: use "
                             "--rows_per_shard)")
    return parser


def run_extract(args):
    manifest = extract_corpus(
        output_dir=args.output_dir, source_url=args.source_url, query=args.query,
        text_column=args.text_column, input_files=args.input_files, min_chars=args.min_chars,
        max_chars=args.max_chars, normalize_punctuation=args.normalize_punctuation,
        dedup=args.dedup, errors=args.errors, max_bad_fraction=args.max_bad_fraction,
        batch_size=args.batch_size, limit=args.limit,
        rows_per_shard=args.rows_per_shard, num_shards=args.num_shards)
    dropped = ", ".join(f"{n} {r}" for r, n in manifest["rows_dropped"].items() if n) or "none"
    print(f"corpus: {manifest['rows_kept']} passages of {manifest['rows_read']} rows "
          f"(dropped: {dropped}) in {manifest['num_shards']} shard(s) at {args.output_dir}")
    return manifest


@exit_on_user_error
def main(argv=None):
    setup_logging()
    args = build_parser().parse_args(argv)
    run_extract(args)


if __name__ == "__main__":
    main()
