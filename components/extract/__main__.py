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

from components.common.errors import exit_on_user_error
from components.common.logs import setup_logging
from components.extract.arguments import ExtractArguments
from components.extract.corpus import extract_corpus

log = logging.getLogger("components.extract")


def build_parser():
    return ExtractArguments.parser("python -m components.extract", __doc__.split("\n\n")[0])


def run_extract(args):
    manifest = extract_corpus(args)
    dropped = ", ".join(f"{n} {r}" for r, n in manifest["rows_dropped"].items() if n) or "none"
    print(f"corpus: {manifest['rows_kept']} passages of {manifest['rows_read']} rows "
          f"(dropped: {dropped}) in {manifest['num_shards']} shard(s) at {args.output_dir}")
    return manifest


@exit_on_user_error
def main(argv=None):
    setup_logging()
    run_extract(ExtractArguments.from_namespace(build_parser().parse_args(argv)))


if __name__ == "__main__":
    main()
