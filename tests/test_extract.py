"""The extract stage end to end: SQLite through SQLAlchemy, text files, the CLI, bad input."""

import json
import os
import re
import socket
import sqlite3
import subprocess
import sys

import pytest

from components.common.artifacts import read_manifest, sha256_file
from components.common.errors import UserError
from components.extract.arguments import ExtractArguments
from components.extract.cleaning import DROP_REASONS
from components.extract.corpus import extract_corpus

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PASSAGE = "本节课复习了二次函数 y=ax^2+bx+c 的图像与性质。"
BIG = "".join(f"第{i}段：光合作用把 CO2 和水合成有机物。" for i in range(40_000))  # > 1 MB

# (value, what the corpus should hold or the drop reason)
ROWS = [
    (PASSAGE, PASSAGE),
    (None, "null"),
    ("", "empty"),
    (" \r\n\u3000 ", "empty"),
    ("<p><br/></p>&nbsp;", "markup_only"),
    ("今天复习化学方程式😀👍，收获很大！", "今天复习化学方程式😀👍，收获很大！"),
    ("第一行：试题分析\r\n第二行：答案\u2028第三段\u3000结束\n",
     "第一行：试题分析 第二行：答案 第三段 结束"),
    (BIG, BIG),
    (PASSAGE, "duplicate"),
    ("<p>本节课复习了二次函数 y=ax^2+bx+c 的图像与性质。</p>", "duplicate"),
    ("答案：C", "too_short"),
    ("“学而时习之”——《论语》……", "\"学而时习之\"--《论语》⋯⋯"),
    ("学习计划：每天 30 分钟".encode(), "学习计划：每天 30 分钟"),
    ("。。。！！！？？？……——", "no_text"),
    ("本周复习计划：".encode() + b"\xff\xfe" + "数学和物理".encode(), "invalid_utf8"),
    ("学" * 2_000_001, "too_long"),
]
EXPECTED_PASSAGES = [out for _, out in ROWS if out not in DROP_REASONS]
EXPECTED_DROPS = {"null": 1, "empty": 2, "markup_only": 1, "no_text": 1, "too_short": 1,
                  "duplicate": 2, "invalid_utf8": 1, "too_long": 1}


def read_corpus(directory):
    manifest = read_manifest(directory, kind="corpus")
    passages = []
    for shard in manifest["shards"]:
        path = os.path.join(directory, shard["file"])
        assert sha256_file(path) == shard["sha256"]
        with open(path, encoding="utf-8", newline="") as f:
            lines = f.read().split("\n")
        assert lines[-1] == "", "every passage ends with a newline"
        assert len(lines) - 1 == shard["passages"]
        passages += lines[:-1]
    return manifest, passages


@pytest.fixture
def sqlite_db(tmp_path):
    path = tmp_path / "edu.db"
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE answers (id INTEGER PRIMARY KEY, subject TEXT, body)")
    connection.executemany("INSERT INTO answers (subject, body) VALUES ('数学', ?)",
                           [(raw,) for raw, _ in ROWS])
    connection.commit()
    connection.close()
    return path


def test_sqlite_rows_are_cleaned_and_drops_counted_exactly(sqlite_db, tmp_path):
    out = tmp_path / "corpus"
    manifest = extract_corpus(ExtractArguments(
            output_dir=str(out), source_url=f"sqlite:///{sqlite_db}",
            query="SELECT id, subject, body FROM answers ORDER BY id", text_column="body",
            batch_size=3, max_bad_fraction=0.2))
    on_disk, passages = read_corpus(out)
    assert on_disk == manifest
    assert passages == EXPECTED_PASSAGES
    assert manifest["rows_read"] == len(ROWS)
    assert manifest["rows_kept"] == len(EXPECTED_PASSAGES)
    assert manifest["rows_dropped"] == EXPECTED_DROPS
    assert manifest["characters"] == sum(len(p) for p in EXPECTED_PASSAGES)
    assert manifest["first_bad_row"] == "row 15: invalid UTF-8 at byte offset 21 of the value"
    assert manifest["source"] == {"type": "sql", "url": f"sqlite:///{sqlite_db}",
                                  "query": "SELECT id, subject, body FROM answers ORDER BY id",
                                  "text_column": "body"}
    for passage in passages:
        assert not set(passage) & {"\r", "\n", "\u2028", "\u2029", "\u3000"}
    assert sorted(os.listdir(tmp_path)) == ["corpus", "edu.db"], "no temporary dirs left behind"


def test_too_many_bad_rows_stop_the_stage_with_counts(sqlite_db, tmp_path):
    with pytest.raises(UserError, match=re.escape(
            f"2 of {len(ROWS)} rows are bad (1 invalid_utf8, 1 too_long; 12.5 % > "
            "--max_bad_fraction 0.01); first: row 15: invalid UTF-8 at byte offset 21")):
        extract_corpus(ExtractArguments(
                output_dir=str(tmp_path / "c"), source_url=f"sqlite:///{sqlite_db}",
                query="SELECT body FROM answers ORDER BY id"))
    assert sorted(os.listdir(tmp_path)) == ["edu.db"]

    manifest = extract_corpus(ExtractArguments(
            output_dir=str(tmp_path / "c"), source_url=f"sqlite:///{sqlite_db}",
            query="SELECT body FROM answers ORDER BY id", errors="replace", max_chars=3_000_000,
            max_bad_fraction=0))
    assert manifest["rows_dropped"]["invalid_utf8"] == manifest["rows_dropped"]["too_long"] == 0
    assert "本周复习计划：\ufffd\ufffd数学和物理" in read_corpus(tmp_path / "c")[1]


def test_limit_and_shard_cutting(sqlite_db, tmp_path):
    manifest = extract_corpus(ExtractArguments(
            output_dir=str(tmp_path / "limited"), source_url=f"sqlite:///{sqlite_db}",
            query="SELECT body FROM answers ORDER BY id", limit=7, rows_per_shard=2))
    assert manifest["rows_read"] == 7
    assert [s["passages"] for s in manifest["shards"]] == [2, 1]
    assert [s["file"] for s in manifest["shards"]] == ["part-00000.txt", "part-00001.txt"]

    manifest = extract_corpus(ExtractArguments(
            output_dir=str(tmp_path / "dealt"), source_url=f"sqlite:///{sqlite_db}",
            query="SELECT body FROM answers ORDER BY id", num_shards=4, max_bad_fraction=0.2))
    _, passages = read_corpus(tmp_path / "dealt")
    assert sorted(passages) == sorted(EXPECTED_PASSAGES)
    assert [s["passages"] for s in manifest["shards"]] == [2, 2, 1, 1]


def test_several_columns_need_text_column(sqlite_db, tmp_path):
    with pytest.raises(UserError, match=r"returns 2 columns \(subject, body\).*--text_column"):
        extract_corpus(ExtractArguments(
                output_dir=str(tmp_path / "c"), source_url=f"sqlite:///{sqlite_db}",
                query="SELECT subject, body FROM answers"))
    with pytest.raises(UserError, match="'summary' is not among"):
        extract_corpus(ExtractArguments(
                output_dir=str(tmp_path / "c"), source_url=f"sqlite:///{sqlite_db}",
                query="SELECT subject, body FROM answers", text_column="summary"))
    assert not (tmp_path / "c").exists()


def test_text_files_globs_and_invalid_utf8(tmp_path):
    (tmp_path / "a.txt").write_bytes("\ufeff第一篇：等差数列的通项公式\r\n".encode() + b"\n")
    bad = "第二篇：化学平衡移动原理\n".encode() + b"\xe5\xad bad \xff bytes in this line\n"
    (tmp_path / "b.txt").write_bytes(bad)
    offset = len("第二篇：化学平衡移动原理\n".encode())
    where = f"invalid UTF-8 at byte offset {offset} (line 2) in {tmp_path / 'b.txt'}"
    with pytest.raises(UserError) as err:
        extract_corpus(ExtractArguments(
                output_dir=str(tmp_path / "out"), input_file=[str(tmp_path / "*.txt")]))
    assert f"1 of 4 rows are bad (1 invalid_utf8; 25.0 % > --max_bad_fraction 0.01); first: " \
           f"{where}" in str(err.value)
    assert not (tmp_path / "out").exists()

    manifest = extract_corpus(ExtractArguments(
            output_dir=str(tmp_path / "out"), input_file=[str(tmp_path / "*.txt")],
            max_bad_fraction=0.25))
    assert read_corpus(tmp_path / "out")[1] == ["第一篇：等差数列的通项公式",
                                                "第二篇：化学平衡移动原理"]
    assert manifest["first_bad_row"] == where

    manifest = extract_corpus(ExtractArguments(
            output_dir=str(tmp_path / "out"), input_file=[str(tmp_path / "*.txt")],
            errors="replace"))
    _, passages = read_corpus(tmp_path / "out")
    assert passages == ["第一篇：等差数列的通项公式", "第二篇：化学平衡移动原理",
                        "\ufffd bad \ufffd bytes in this line"]
    assert manifest["rows_dropped"]["empty"] == 1
    assert manifest["source"]["files"] == [str(tmp_path / "a.txt"), str(tmp_path / "b.txt")]


def test_sample_corpus_extracts(sample_dir, tmp_path):
    manifest = extract_corpus(ExtractArguments(
            output_dir=str(tmp_path / "c"), input_file=[str(sample_dir / "corpus.txt")]))
    assert manifest["rows_read"] >= 300
    assert manifest["rows_kept"] >= 300
    assert manifest["rows_dropped"]["duplicate"] > 0
    assert manifest["rows_dropped"]["too_short"] > 0


@pytest.mark.parametrize("make_input, message", [
    (lambda d: d / "empty.txt", "the source returned no rows"),
    (lambda d: d / "short.txt", "no passages left: all 4 rows were dropped (1 empty, 1 no_text, "
                                "2 too_short)"),
    (lambda d: d / "missing*.txt", "no input file matches"),
])
def test_bad_text_input_fails_whole(tmp_path, make_input, message):
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "short.txt").write_text("好\n\n谢谢老师\n……！！\n")
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        extract_corpus(ExtractArguments(
                output_dir=str(tmp_path / "out"), input_file=[str(make_input(tmp_path))]))
    assert sorted(os.listdir(tmp_path)) == ["empty.txt", "short.txt"]


def run_cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "components.extract", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "EDU_MLM_NO_PROGRESS": "1", **(env or {})})


def test_cli_reads_sqlite_with_users_flag_spellings(sqlite_db, tmp_path):
    out = tmp_path / "corpus"
    result = run_cli(f"--source_url=sqlite:///{sqlite_db}", "--query",
                     "SELECT body FROM answers ORDER BY id", "--output_dir", str(out),
                     "--normalize_punctuation=False", "--min_chars", "4", "--dedup=True",
                     "--max_bad_fraction=0.2")
    assert result.returncode == 0, result.stderr
    manifest, passages = read_corpus(out)
    assert "“学而时习之”——《论语》……" in passages
    assert "答案：C" in passages
    assert manifest["cleaning"] == {"min_chars": 4, "max_chars": 2_000_000,
                                    "normalize_punctuation": False, "dedup": True,
                                    "errors": "strict", "max_bad_fraction": 0.2}
    assert "reading from sqlite:///" in result.stderr
    assert f"{manifest['rows_kept']} passages of {len(ROWS)} rows" in result.stdout


@pytest.mark.parametrize("args, message", [
    (["--input_file", "{tmp}/bad.txt"], "invalid UTF-8 at byte offset 2 (line 1)"),
    (["--input_file", "{tmp}/empty.txt"], "the source returned no rows"),
    (["--input_file", "{tmp}/ok.txt", "--output_dir", "{tmp}/file.txt/corpus"],
     "cannot create the output's parent directory"),
    (["--source_url", "sqlite:///{tmp}/db.sqlite", "--query", "SELEC body FROM t"],
     "the query failed: near \"SELEC\": syntax error"),
    (["--source_url", "nosuchdb://x/y", "--query", "SELECT 1"],
     "no SQLAlchemy dialect for 'nosuchdb'"),
    (["--source_url", "sqlite:///{tmp}/db.sqlite"], "a database source needs a query"),
    ([], "no source given"),
    (["--input_file", "{tmp}/ok.txt", "--min_chars", "-1"], "--min_chars=-1 is out of range"),
    (["--input_file", "{tmp}/ok.txt", "--max_bad_fraction", "1.5"],
     "--max_bad_fraction=1.5 is out of range"),
    (["--input_file", "{tmp}/ok.txt", "--min_chars", "20", "--max_chars", "5"],
     "--max_chars=5 is out of range"),
])
def test_cli_bad_input_is_one_line_exit_2_no_output(tmp_path, args, message):
    (tmp_path / "bad.txt").write_bytes(b"ok\xff line\n")
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "ok.txt").write_text("一段足够长的正常文本内容。\n")
    (tmp_path / "file.txt").write_text("x")
    sqlite3.connect(tmp_path / "db.sqlite").close()
    before = sorted(os.listdir(tmp_path))
    args = [a.format(tmp=tmp_path) for a in args]
    if "--output_dir" not in args:
        args += ["--output_dir", str(tmp_path / "corpus")]
    result = run_cli(*args)
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0], result.stderr
    assert "Traceback" not in result.stderr
    assert sorted(os.listdir(tmp_path)) == before


def test_cli_help_lists_every_flag():
    result = run_cli("--help")
    assert result.returncode == 0
    for flag in ("--source_url", "--query", "--text_column", "--input_file", "--output_dir",
                 "--min_chars", "--normalize_punctuation", "--batch_size", "--errors",
                 "--limit", "--num_shards", "--rows_per_shard", "--dedup", "--max_chars",
                 "--max_bad_fraction"):
        assert flag in result.stdout


def test_credentials_stay_out_of_manifest_logs_and_errors(tmp_path, monkeypatch, sqlite_db):
    from components.extract import urls

    monkeypatch.setenv("EDU_MLM_SOURCE_PASSWORD", "pw-should-not-leak")
    monkeypatch.setenv("EDU_MLM_SOURCE_USER", "user-from-secret")
    given = urls.parse_url("postgresql://db.example:5432/edu?sslmode=require&password=pw2")
    url = urls.with_env_credentials(given)
    assert (url.username, url.password) == ("user-from-secret", "pw-should-not-leak")
    assert urls.masked_url(given) == "postgresql://db.example:5432/edu?sslmode=require"
    assert urls.described_url(url) == "postgresql://db.example:5432/edu?sslmode=require"
    assert sorted(urls.secrets_of(url, given)) == ["pw-should-not-leak", "pw2",
                                                      "user-from-secret"]
    hive = urls.with_env_credentials(urls.parse_url("hive://etl@h:10000/db?auth=NOSASL"))
    assert (hive.username, hive.password) == ("etl", None), "PyHive refuses a password here"
    ldap = urls.with_env_credentials(urls.parse_url("hive://etl@h:10000/db?auth=LDAP"))
    assert ldap.password == "pw-should-not-leak"

    extract_corpus(ExtractArguments(
            output_dir=str(tmp_path / "c"), source_url=f"sqlite:///{sqlite_db}",
            query="SELECT body FROM answers", max_bad_fraction=0.2))
    text = (tmp_path / "c" / "manifest.json").read_text()
    assert json.loads(text)["kind"] == "corpus"
    assert "pw-should-not-leak" not in text and "user-from-secret" not in text

    # A failing LDAP login (nothing listens on the port): the URL is shown as given.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url_text = f"hive://127.0.0.1:{port}/default?auth=LDAP"
    result = run_cli("--source_url", url_text, "--query", "SELECT 1", "--output_dir",
                     str(tmp_path / "d"), env={"EDU_MLM_SOURCE_PASSWORD": "pw-should-not-leak",
                                               "EDU_MLM_SOURCE_USER": "user-from-secret"})
    assert result.returncode == 2
    assert f"cannot connect to the database: Could not connect to any of [('127.0.0.1', {port})]"\
        f" ({url_text})" in result.stderr
    assert "pw-should-not-leak" not in result.stderr
    assert "user-from-secret" not in result.stderr


def test_drivers_load_only_when_a_url_needs_them(sqlite_db, tmp_path):
    code = ("import sys; from components.extract.arguments import ExtractArguments; "
            "from components.extract.corpus import extract_corpus; "
            f"extract_corpus(ExtractArguments(output_dir={str(tmp_path / 'c')!r}, "
            f"source_url='sqlite:///{sqlite_db}', query='SELECT body FROM answers', "
            "max_bad_fraction=0.2)); "
            "print(sorted(m for m in ('pyhive', 'thrift', 'tensorflow', 'torch') "
            "if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=120, env={**os.environ, "EDU_MLM_NO_PROGRESS": "1"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_hive_server_that_never_answers_times_out_in_one_line(tmp_path):
    """A socket that takes TCP connections (the kernel's backlog) but never speaks Thrift stands
    for a wrong port or a hung HiveServer2: without connect_timeout PyHive would wait forever."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        result = run_cli("--source_url", f"hive://127.0.0.1:{port}/default?auth=NOSASL"
                         "&connect_timeout=1.5", "--query", "SELECT 1", "--output_dir",
                         str(tmp_path / "c"))
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "no answer within 1.5 s" in errors[0], result.stderr
    assert "raise &connect_timeout=" in errors[0] and "Traceback" not in result.stderr
    assert os.listdir(tmp_path) == []

    result = run_cli("--source_url", "hive://h:10000/default?auth=NOSASL&connect_timeout=soon",
                     "--query", "SELECT 1", "--output_dir", str(tmp_path / "c"))
    assert result.returncode == 2
    assert "connect_timeout='soon' is not a positive number of seconds" in result.stderr


def test_hive_login_error_asks_only_for_what_is_missing(monkeypatch):
    from components.extract import hive, urls

    monkeypatch.delenv(urls.USER_ENV, raising=False)
    monkeypatch.delenv(urls.PASSWORD_ENV, raising=False)
    named = urls.parse_url("hive://km_km@hive.example:10000/edu?auth=LDAP")
    with pytest.raises(UserError) as err:
        hive.check_url(urls.with_env_credentials(named), urls.masked_url(named))
    assert urls.PASSWORD_ENV in str(err.value) and urls.USER_ENV not in str(err.value)
    anonymous = urls.parse_url("hive://hive.example:10000/edu?auth=LDAP")
    with pytest.raises(UserError, match="needs a user and a password") as err:
        hive.check_url(urls.with_env_credentials(anonymous), urls.masked_url(anonymous))
    assert urls.USER_ENV in str(err.value)
