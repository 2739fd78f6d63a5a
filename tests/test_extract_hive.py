"""extract against a real HiveServer2 (the Spark Thrift Server from pyspark), through PyHive.

One server per auth mode, started side by side once per session (NOSASL for most tests, NONE, and
CUSTOM standing in for LDAP; see helpers_hive). They skip only where `java` is absent.
"""

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time

import pytest
from helpers_hive import HIVE_PASSWORD, HIVE_USER, HiveServer, free_port

from components.extract import hive as extract_hive
from components.extract.arguments import ExtractArguments
from components.extract.corpus import extract_corpus

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("java") is None,
                       reason="java not found on PATH: the Hive tests run the Spark Thrift Server, "
                              "a JVM program (install a JDK 17 to run them)"),
]

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROWS = [  # (id, body, passage or drop reason)
    (1, "二次函数 y=ax^2+bx+c 的对称轴是 x=-b/(2a)。",
     "二次函数 y=ax^2+bx+c 的对称轴是 x=-b/(2a)。"),
    (2, None, "null"),
    (3, "", "empty"),
    (4, "<p>【试题分析】</p><p>本题考查光合作用&nbsp;的场所</p>",
     "【试题分析】 本题考查光合作用 的场所"),
    (5, "<br/>&nbsp;", "markup_only"),
    (6, "考试加油💪 Keep going! 😀 “满分”…", "考试加油💪 Keep going! 😀 \"满分\"⋯"),
    (7, "第一行：读题\n第二行：审题\r\n第三行：答题", "第一行：读题 第二行：审题 第三行：答题"),
    (8, "二次函数 y=ax^2+bx+c 的对称轴是 x=-b/(2a)。", "duplicate"),
    (9, "答案：B", "too_short"),
    (10, "It's the teacher's note: 复习 CO2 的性质。",
     "It's the teacher's note: 复习 CO2 的性质。"),
]
DROP_REASONS = {"null", "empty", "markup_only", "too_short", "duplicate"}
EXPECTED = [out for _, _, out in ROWS if out not in DROP_REASONS]


def literal(value):
    if value is None:
        return "NULL"
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def insert_rows(server, table, rows, stored_as=""):
    values = ", ".join(f"({i}, {literal(body)})" for i, body, *_ in rows)
    server.sql(f"DROP TABLE IF EXISTS {table}",
               f"CREATE TABLE {table} (id INT, body STRING) {stored_as}",
               f"INSERT INTO {table} VALUES {values}")


@pytest.fixture(scope="session")
def hive_servers():
    """The three servers, started side by side once per session (JVM start-up is mostly waiting
    on one thread each), then each given the test table."""
    auths = ["NOSASL", "NONE"] + (["CUSTOM"] if shutil.which("javac") else [])
    servers = {}
    try:
        for auth in auths:
            servers[auth] = HiveServer(auth).launch()
        for auth, server in servers.items():
            server.wait_ready()
            sys.stderr.write(f"\nSpark Thrift Server ({auth}) listening after "
                             f"{server.start_seconds:.1f} s\n")
            insert_rows(server, "edu_rows", ROWS)
        yield servers
    finally:
        for server in servers.values():
            server.stop()


@pytest.fixture(scope="session")
def hive_nosasl(hive_servers):
    return hive_servers["NOSASL"]


@pytest.fixture(scope="session")
def hive_none(hive_servers):
    return hive_servers["NONE"]


@pytest.fixture(scope="session")
def hive_ldap(hive_servers):
    """CUSTOM auth standing in for LDAP (see helpers_hive); needs javac for its authenticator."""
    if "CUSTOM" not in hive_servers:
        pytest.skip("javac not found: the password-checking Hive server compiles its "
                    "authenticator (install a JDK, not only a JRE)")
    return hive_servers["CUSTOM"]


def read_passages(directory):
    with open(os.path.join(directory, "manifest.json"), encoding="utf-8") as f:
        manifest = json.load(f)
    passages = []
    for shard in manifest["shards"]:
        with open(os.path.join(directory, shard["file"]), encoding="utf-8") as f:
            passages += f.read().splitlines()
    return manifest, passages


def run_cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "components.extract", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "EDU_MLM_NO_PROGRESS": "1", **(env or {})})


def test_round_trip_through_hive_url(hive_nosasl, tmp_path):
    out = tmp_path / "corpus"
    result = run_cli("--source_url", hive_nosasl.url(), "--query",
                     "SELECT id, body FROM edu_rows ORDER BY id", "--text_column", "body",
                     "--batch_size", "3", "--output_dir", str(out))
    assert result.returncode == 0, result.stderr
    manifest, passages = read_passages(out)
    assert passages == EXPECTED
    assert manifest["rows_read"] == len(ROWS)
    assert manifest["rows_dropped"] == {"null": 1, "empty": 1, "markup_only": 1, "no_text": 0,
                                        "too_short": 1, "duplicate": 1, "invalid_utf8": 0,
                                        "too_long": 0}
    assert manifest["source"]["url"] == hive_nosasl.url()


def test_round_trip_through_plain_pyhive_connection(hive_nosasl, tmp_path):
    from pyhive import hive

    connection = hive.connect(host="127.0.0.1", port=hive_nosasl.port, auth="NOSASL")
    try:
        manifest = extract_corpus(ExtractArguments(
                output_dir=str(tmp_path / "a"), query="SELECT body FROM edu_rows ORDER BY id",
                batch_size=4), connection=connection)
    finally:
        connection.close()
    assert read_passages(tmp_path / "a")[1] == EXPECTED
    assert manifest["source"]["type"] == "dbapi"

    connection = extract_hive.connect(hive_nosasl.url())
    try:
        extract_corpus(ExtractArguments(
                output_dir=str(tmp_path / "b"), query="SELECT body FROM edu_rows ORDER BY id"),
                connection=connection)
    finally:
        connection.close()
    assert read_passages(tmp_path / "b")[1] == EXPECTED


def test_limit_stops_reading_early(hive_nosasl, tmp_path):
    manifest = extract_corpus(ExtractArguments(
            output_dir=str(tmp_path / "c"), source_url=hive_nosasl.url(),
            query="SELECT body FROM edu_rows ORDER BY id", limit=4))
    assert manifest["rows_read"] == 4
    assert read_passages(tmp_path / "c")[1] == EXPECTED[:2]


def test_textfile_table_splits_values_at_newlines(hive_nosasl, tmp_path):
    """In a STORED AS TEXTFILE table a newline ends the row, as in real Hive: a value with k
    newlines comes back as k + 1 rows, the pieces after the first in a row of their own (in its
    first column; here `body` comes first so the pieces are visible). Extract reads what Hive
    returns, so rows_read counts the pieces."""
    rows = [(1, "第一段：课堂小结\n第二段：易错点分析\n第三段：课后作业安排"),
            (2, "没有换行的一条普通解析文本")]
    values = ", ".join(f"({literal(body)}, {i})" for i, body in rows)
    hive_nosasl.sql("DROP TABLE IF EXISTS edu_text",
                    "CREATE TABLE edu_text (body STRING, id INT) STORED AS TEXTFILE",
                    f"INSERT INTO edu_text VALUES {values}")
    manifest = extract_corpus(ExtractArguments(
            output_dir=str(tmp_path / "t"), source_url=hive_nosasl.url(),
            query="SELECT body FROM edu_text", min_chars=1))
    newlines = sum(body.count("\n") for _, body in rows)
    assert manifest["rows_read"] == len(rows) + newlines == 4
    assert sorted(read_passages(tmp_path / "t")[1]) == sorted(
        ["第一段：课堂小结", "第二段：易错点分析", "第三段：课后作业安排",
         "没有换行的一条普通解析文本"])


def test_none_auth_uses_pure_sasl(hive_none, tmp_path):
    assert importlib.util.find_spec("sasl") is None, "the C sasl package must not be needed"
    manifest = extract_corpus(ExtractArguments(
            output_dir=str(tmp_path / "n"), source_url=hive_none.url(user="etl"),
            query="SELECT body FROM edu_rows ORDER BY id"))
    assert manifest["rows_kept"] == len(EXPECTED)


def test_ldap_password_comes_from_environment_and_never_shows(hive_ldap, tmp_path):
    out = tmp_path / "corpus"
    result = run_cli("--source_url", hive_ldap.url(user=HIVE_USER), "--query",
                     "SELECT body FROM edu_rows ORDER BY id", "--output_dir", str(out),
                     env={"EDU_MLM_SOURCE_PASSWORD": HIVE_PASSWORD})
    assert result.returncode == 0, result.stderr
    assert read_passages(out)[1] == EXPECTED
    for path in [out / "manifest.json"] + list(out.glob("part-*.txt")):
        assert HIVE_PASSWORD not in path.read_text(encoding="utf-8")
    assert HIVE_PASSWORD not in result.stdout + result.stderr


@pytest.mark.parametrize("server, make_url, query, message", [
    ("hive_ldap", lambda s: s.url(user=HIVE_USER, password="wrong-pw-123"),
     "SELECT body FROM edu_rows", "Error validating the login"),
    ("hive_ldap", lambda s: s.url(auth="NOSASL"), "SELECT body FROM edu_rows",
     "auth=NOSASL probably differs from the server's hive.server2.authentication"),
    ("hive_nosasl", lambda s: s.url(auth="NONE", user="etl"), "SELECT body FROM edu_rows",
     "auth=NONE probably differs"),
    ("hive_nosasl", lambda s: s.url(), "SELECT body FROM no_such_table",
     "the query failed: Error running query: [TABLE_OR_VIEW_NOT_FOUND] The table or view "
     "`no_such_table` cannot be found."),
    ("hive_nosasl", lambda s: s.url(), "SELEC body FROM edu_rows",
     "[PARSE_SYNTAX_ERROR] Syntax error at or near 'SELEC'"),
    ("hive_nosasl", lambda s: f"hive://127.0.0.1:{free_port()}/default?auth=NOSASL",
     "SELECT 1", "cannot connect to the database: Could not connect to any of"),
    ("hive_nosasl", lambda s: "hive://hive.invalid:10000/default?auth=NOSASL", "SELECT 1",
     "failed to resolve sockaddr for hive.invalid:10000"),
    ("hive_nosasl", lambda s: "hive://etl@127.0.0.1:1/default?auth=LDAP", "SELECT 1",
     "Hive auth=LDAP needs a password for user 'etl'"),
])
def test_hive_failures_are_one_line_without_artifact(request, tmp_path, server, make_url, query,
                                                     message):
    url = make_url(request.getfixturevalue(server))
    result = run_cli("--source_url", url, "--query", query, "--output_dir",
                     str(tmp_path / "corpus"))
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0], result.stderr
    assert "Traceback" not in result.stderr
    assert "wrong-pw-123" not in result.stderr + result.stdout
    assert os.listdir(tmp_path) == []


def test_million_rows_stream_in_flat_client_memory(hive_nosasl, tmp_path):
    """1M generated rows through `python -m components.extract`; the client's peak RSS (VmHWM of
    its own address space) stays under 300 MB because rows arrive batch by batch."""
    rows = 1_000_000
    hive_nosasl.sql(
        "DROP TABLE IF EXISTS big_answers",
        "CREATE TABLE big_answers AS SELECT id, CASE WHEN id % 100 = 0 "
        "THEN concat('<p>第', id, '题</p><p>解析：', repeat('学而时习之', 1 + id % 7), '</p>') "
        "ELSE concat('第', id, '题解析：', repeat('温故而知新', 1 + id % 7), ' x^2+1') END AS body "
        f"FROM range({rows})")
    out, peak_file = tmp_path / "big", tmp_path / "peak_rss_mb"
    started = time.monotonic()
    process = subprocess.run(
        [sys.executable, "scripts/run_with_peak_rss.py", str(peak_file), "components.extract",
         "--source_url", hive_nosasl.url(), "--query", "SELECT body FROM big_answers",
         "--batch_size", "5000", "--output_dir", str(out)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "EDU_MLM_NO_PROGRESS": "1"})
    seconds = time.monotonic() - started
    assert process.returncode == 0, process.stderr
    manifest, _ = read_passages(out)
    assert manifest["rows_read"] == manifest["rows_kept"] == rows
    peak_mb = float(peak_file.read_text())
    sys.stderr.write(f"\n1M-row Hive extract: {rows / seconds:,.0f} rows/s, "
                     f"client peak RSS {peak_mb:.0f} MB\n")
    assert peak_mb < 300
