"""Load data/sample/corpus.txt into a SQLite database, so `make run` extracts through SQL.

Each line becomes one row of `articles(id, summary)` exactly as written (stray HTML, duplicates
and too-short rows included): cleaning them is the extract stage's job. The database is written to
a temporary name and renamed, so a half-written file is never left behind.

    .venv/bin/python scripts/make_sample_db.py [--corpus FILE] [--output build/sample.db]
    python -m components.extract --source_url sqlite:///build/sample.db \\
        --query "SELECT summary FROM articles ORDER BY id" --output_dir runs/corpus
"""

import argparse
import os
import sqlite3


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="data/sample/corpus.txt", help="one passage per line")
    parser.add_argument("--output", default="build/sample.db", help="SQLite file to (re)create")
    args = parser.parse_args()
    with open(args.corpus, encoding="utf-8") as f:
        rows = [(line.rstrip("\n"),) for line in f]
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    tmp = f"{args.output}.tmp-{os.getpid()}"
    connection = sqlite3.connect(tmp)
    try:
        connection.execute("CREATE TABLE articles (id INTEGER PRIMARY KEY, summary TEXT)")
        connection.executemany("INSERT INTO articles (summary) VALUES (?)", rows)
        connection.commit()
    finally:
        connection.close()
    os.replace(tmp, args.output)
    print(f"wrote {len(rows)} rows into table articles of {args.output}")


if __name__ == "__main__":
    main()
