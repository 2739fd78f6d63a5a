"""The extract stage's parameters, declared once (see `components.common.arguments`)."""

from dataclasses import dataclass

from components.common.arguments import REQUIRED, Arguments, Param, arg
from components.common.bad_rows import DEFAULT_MAX_BAD_FRACTION
from components.common.cli import check_range

ERROR_POLICIES = ("strict", "replace")
# What a pipeline run sets (its run parameters); text files come as INPUT_FILES there.
PIPELINE_FIELDS = ("source_url", "query", "text_column", "min_chars", "normalize_punctuation",
                   "limit", "max_bad_fraction")
INPUT_FILES = Param("input_files", str, "", "instead of SQL: comma-separated text files or globs")
SOURCE, CLEANING, OUTPUT = "source (a database query, or text files)", "cleaning", "output"


@dataclass(kw_only=True)
class ExtractArguments(Arguments):
    source_url: str | None = arg(
        None, "SQLAlchemy URL of the database, e.g. sqlite:///a.db, postgresql://user@host/db, "
        "hive://user@host:10000/db?auth=NOSASL (Hive also takes &connect_timeout=SECONDS, "
        "default 60); the password may come from EDU_MLM_SOURCE_PASSWORD instead", group=SOURCE)
    query: str | None = arg(None, "the SELECT that returns the text", group=SOURCE)
    text_column: str | None = arg(None, "the column holding the text, when the query returns "
                                  "several", group=SOURCE)
    input_file: list[str] = arg([], "text files (one passage per line, .gz allowed) instead of "
                                "a query", nargs="+", action="extend", metavar="PATH_OR_GLOB",
                                group=SOURCE)
    batch_size: int = arg(1000, "rows fetched from the database per round trip", low=1,
                          group=SOURCE)
    limit: int | None = arg(None, "read at most this many rows (a dry run on a large table)",
                            low=1, group=SOURCE)
    errors: str = arg("strict", "invalid UTF-8: skip and count the row as bad, naming the first "
                      "one's file/row and byte offset (strict), or replace the bad bytes with "
                      "U+FFFD (replace)", choices=ERROR_POLICIES, group=SOURCE)
    max_bad_fraction: float = arg(DEFAULT_MAX_BAD_FRACTION, "stop (writing nothing) when more "
                                  "than this share of the rows are bad (invalid UTF-8, longer "
                                  "than --max_chars)", low=0, high=1, group=SOURCE)
    min_chars: int = arg(10, "drop passages shorter than this many characters after cleaning",
                         low=0, group=CLEANING)
    max_chars: int = arg(2_000_000, "passages longer than this after cleaning are bad rows (an "
                         "export glitch, not a document)", group=CLEANING)
    normalize_punctuation: bool = arg(True, "map punctuation missing from Chinese BERT's vocab "
                                      "(curly quotes, ellipsis, dashes) to forms it covers",
                                      group=CLEANING)
    dedup: bool = arg(True, "drop exact duplicates of an earlier cleaned passage",
                      group=CLEANING)
    output_dir: str = arg(REQUIRED, "corpus directory to create (part-NNNNN.txt shards + "
                          "manifest.json); a rerun replaces it whole", group=OUTPUT)
    rows_per_shard: int = arg(100_000, "passages per shard file (when --num_shards is 0)", low=1,
                              group=OUTPUT)
    num_shards: int = arg(0, "deal passages round-robin into this many shards (0: use "
                          "--rows_per_shard)", low=0, group=OUTPUT)

    def check(self):
        check_range("max_chars", self.max_chars, low=max(self.min_chars, 1))
