"""Hive extract benchmark: rows/s and client peak RSS of `python -m components.extract` on a
generated table in a real HiveServer2 (the Spark Thrift Server from pyspark; needs java).

    .venv/bin/python bench/extract_hive.py [--rows 1000000] [--batch_size 5000]

Baseline, measured in the same run: a bare PyHive loop (`cursor.fetchmany`) over the same query,
no cleaning and no writing. The figures: server start time, baseline rows/s, extract rows/s,
extract / baseline, and the extract process's own peak RSS (scripts/run_with_peak_rss.py).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))

from helpers_hive import HiveServer  # noqa: E402

TABLE_SQL = (
    "CREATE TABLE big_answers AS SELECT id, CASE WHEN id % 100 = 0 "
    "THEN concat('<p>第', id, '题</p><p>解析：', repeat('学而时习之', 1 + id % 7), '</p>') "
    "ELSE concat('第', id, '题解析：', repeat('温故而知新', 1 + id % 7), ' x^2+1') END AS body "
    "FROM range({rows})")


def bare_fetch(server, batch_size):
    from pyhive import hive

    connection = hive.connect(**server.connect_kwargs())
    cursor = connection.cursor()
    cursor.arraysize = batch_size
    started = time.perf_counter()
    cursor.execute("SELECT body FROM big_answers")
    rows = 0
    while batch := cursor.fetchmany(batch_size):
        rows += len(batch)
    seconds = time.perf_counter() - started
    connection.close()
    return rows, seconds


def extract(server, batch_size, output_dir):
    started = time.perf_counter()
    peak_file = output_dir + ".peak_rss_mb"
    process = subprocess.run(
        [sys.executable, "scripts/run_with_peak_rss.py", peak_file, "components.extract",
         "--source_url", server.url(), "--query", "SELECT body FROM big_answers",
         "--batch_size", str(batch_size), "--output_dir", output_dir], cwd=ROOT,
        stdout=subprocess.DEVNULL, env={**os.environ, "EDU_MLM_NO_PROGRESS": "1"})
    if process.returncode:
        sys.exit(f"extract failed with exit code {process.returncode}")
    with open(os.path.join(output_dir, "manifest.json")) as f, open(peak_file) as peak:
        return json.load(f)["rows_read"], time.perf_counter() - started, float(peak.read())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows in the generated table")
    parser.add_argument("--batch_size", type=int, default=5000, help="rows per Thrift fetch")
    args = parser.parse_args()
    server = HiveServer("NOSASL").start()
    try:
        print(f"Spark Thrift Server listening after {server.start_seconds:.1f} s")
        started = time.perf_counter()
        server.sql("DROP TABLE IF EXISTS big_answers", TABLE_SQL.format(rows=args.rows))
        print(f"table of {args.rows:,} rows created in {time.perf_counter() - started:.1f} s")
        rows, seconds = bare_fetch(server, args.batch_size)
        print(f"baseline bare PyHive fetch: {rows / seconds:,.0f} rows/s ({seconds:.1f} s)")
        with tempfile.TemporaryDirectory(prefix="edu-mlm-bench-hive-") as work:
            read, extract_seconds, peak_mb = extract(server, args.batch_size,
                                                     os.path.join(work, "corpus"))
        print(f"extract: {read / extract_seconds:,.0f} rows/s ({extract_seconds:.1f} s, "
              f"process start included), client peak RSS {peak_mb:.0f} MB")
        print(f"ratio extract / bare fetch rows/s: {seconds / extract_seconds:.2f}")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
