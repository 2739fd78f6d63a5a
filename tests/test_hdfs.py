"""HDFS import/export through the real `hdfs` client against a WebHDFS protocol stand-in.

No Hadoop can run here; `helpers_hdfs.WebHdfsServer` speaks WebHDFS (namenode redirects to a
datanode, RemoteException errors) over a local directory. See its docstring.
"""

import filecmp
import importlib.util
import json
import os
import subprocess
import sys

import pytest
from helpers_hdfs import WebHdfsServer

from components.common.artifacts import atomic_output_dir, write_manifest
from components.common.errors import UserError
from components.extract.arguments import ExtractArguments
from components.extract.corpus import extract_corpus
from components.hdfs.arguments import HdfsExportArguments, HdfsImportArguments
from components.hdfs.transfer import export_to_hdfs, import_from_hdfs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def webhdfs(tmp_path):
    server = WebHdfsServer(str(tmp_path / "hdfs")).start()
    yield server
    server.stop()


def make_model_dir(path, data_bytes=3_000_000, seed=1):
    """A Google-format model directory with random weights bytes (content is irrelevant here)."""
    import random

    rng = random.Random(seed)
    with atomic_output_dir(path) as tmp:
        with open(os.path.join(tmp, "bert_config.json"), "w") as f:
            json.dump({"hidden_size": 64, "vocab_size": 1797}, f)
        with open(os.path.join(tmp, "vocab.txt"), "w") as f:
            f.write("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n的\n")
        with open(os.path.join(tmp, "bert_model.ckpt.index"), "wb") as f:
            f.write(rng.randbytes(4096))
        with open(os.path.join(tmp, "bert_model.ckpt.data-00000-of-00001"), "wb") as f:
            f.write(rng.randbytes(data_bytes))
        write_manifest(tmp, {"kind": "bert_model", "seed": seed})
    return path


def same_tree(a, b):
    comparison = filecmp.dircmp(a, b)
    return (not comparison.left_only and not comparison.right_only
            and filecmp.cmpfiles(a, b, comparison.common_files, shallow=False)[0]
            == sorted(comparison.common_files))


def hidden_leftovers(directory):
    return [n for n in os.listdir(directory) if n.startswith(".")]


def test_export_then_import_model_round_trip(webhdfs, tmp_path):
    model = make_model_dir(tmp_path / "model")
    summary = export_to_hdfs(HdfsExportArguments(
            input_dir=str(model), hdfs_path="/user/edu/models/m1", namenode_url=webhdfs.url,
            hdfs_user="edu"))
    assert summary["kind"] == "bert_model" and summary["files"] == 5
    assert summary["bytes"] == sum(p.stat().st_size for p in model.iterdir())
    assert same_tree(model, webhdfs.local("/user/edu/models/m1"))
    assert hidden_leftovers(webhdfs.local("/user/edu/models")) == []
    ops = [op for _, op, _ in webhdfs.requests]
    assert ops.count("CREATE") == 5 and "RENAME" in ops

    manifest = import_from_hdfs(HdfsImportArguments(
            hdfs_path="/user/edu/models/m1", output_dir=str(tmp_path / "back"),
            namenode_url=webhdfs.url, hdfs_user="edu", kind="model"))
    assert manifest == {"kind": "bert_model", "seed": 1}
    assert same_tree(model, tmp_path / "back")


def test_export_refuses_existing_target_unless_overwrite(webhdfs, tmp_path):
    first = make_model_dir(tmp_path / "first", seed=1)
    second = make_model_dir(tmp_path / "second", seed=2)
    export_to_hdfs(HdfsExportArguments(
            input_dir=str(first), hdfs_path="/models/m", namenode_url=webhdfs.url, hdfs_user="edu"))
    with pytest.raises(UserError, match=r"the HDFS target already exists \(/models/m\); "
                                        "pass --overwrite True"):
        export_to_hdfs(HdfsExportArguments(
                input_dir=str(second), hdfs_path="/models/m", namenode_url=webhdfs.url,
                hdfs_user="edu"))
    assert same_tree(first, webhdfs.local("/models/m"))

    export_to_hdfs(HdfsExportArguments(
            input_dir=str(second), hdfs_path="/models/m", namenode_url=webhdfs.url,
            hdfs_user="edu", overwrite=True))
    assert same_tree(second, webhdfs.local("/models/m"))
    assert hidden_leftovers(webhdfs.local("/models")) == []


def test_export_permission_denied(webhdfs, tmp_path):
    model = make_model_dir(tmp_path / "model")
    webhdfs.protect("/warehouse")
    with pytest.raises(UserError, match="Permission denied: user=edu, access=WRITE, "
                                        "inode=\"/warehouse\""):
        export_to_hdfs(HdfsExportArguments(
                input_dir=str(model), hdfs_path="/warehouse/m", namenode_url=webhdfs.url,
                hdfs_user="edu"))
    assert os.listdir(webhdfs.local("/warehouse")) == []


def test_failed_upload_removes_its_temporary_directory(webhdfs, tmp_path):
    model = make_model_dir(tmp_path / "model", data_bytes=5_000_000)
    webhdfs.set_quota("/user/edu", 2_000_000)
    with pytest.raises(UserError, match="DiskSpace quota of /user/edu is exceeded"):
        export_to_hdfs(HdfsExportArguments(
                input_dir=str(model), hdfs_path="/user/edu/m", namenode_url=webhdfs.url,
                hdfs_user="edu"))
    assert os.listdir(webhdfs.local("/user/edu")) == []


def test_export_refuses_incomplete_artifact(webhdfs, tmp_path):
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "bert_config.json").write_text("{}")
    with pytest.raises(UserError, match="no manifest.json"):
        export_to_hdfs(HdfsExportArguments(
                input_dir=str(tmp_path / "half"), hdfs_path="/m", namenode_url=webhdfs.url))
    assert webhdfs.requests == []


def test_import_raw_text_is_cleaned_into_a_corpus(webhdfs, tmp_path):
    raw = webhdfs.local("/user/km/data/summaries")
    os.makedirs(raw)
    with open(os.path.join(raw, "part-0.txt"), "w", encoding="utf-8") as f:
        f.write("<p>本节课复习了等差数列的通项公式。</p>\n好\n\n本节课复习了等差数列的通项公式。\n")
    with open(os.path.join(raw, "part-1.txt"), "w", encoding="utf-8") as f:
        f.write("化学平衡：勒夏特列原理……\r\n")
    open(os.path.join(raw, "_SUCCESS"), "w").close()
    manifest = import_from_hdfs(HdfsImportArguments(
            hdfs_path="/user/km/data/summaries", output_dir=str(tmp_path / "corpus"),
            namenode_url=webhdfs.url, hdfs_user="km"))
    passages = (tmp_path / "corpus" / "part-00000.txt").read_text(encoding="utf-8").splitlines()
    assert passages == ["本节课复习了等差数列的通项公式。", "化学平衡：勒夏特列原理⋯⋯"]
    assert manifest["rows_read"] == 5
    assert manifest["rows_dropped"] == {"null": 0, "empty": 1, "markup_only": 0, "no_text": 0,
                                        "too_short": 1, "duplicate": 1, "invalid_utf8": 0,
                                        "too_long": 0}
    assert manifest["source"] == {
        "type": "hdfs", "url": webhdfs.url, "path": "/user/km/data/summaries",
        "files": ["/user/km/data/summaries/part-0.txt", "/user/km/data/summaries/part-1.txt"]}


def test_import_invalid_utf8_names_hdfs_file_and_offset(webhdfs, tmp_path):
    os.makedirs(webhdfs.local("/data"))
    with open(webhdfs.local("/data/raw.txt"), "wb") as f:
        f.write("第一行没有问题的文本\n".encode() + b"bad \xff byte\n")
    with pytest.raises(UserError, match=r"1 of 2 rows are bad .*first: invalid UTF-8 at byte "
                                        r"offset 35 \(line 2\) in /data/raw.txt"):
        import_from_hdfs(HdfsImportArguments(
                hdfs_path="/data/raw.txt", output_dir=str(tmp_path / "c"),
                namenode_url=webhdfs.url))
    assert not (tmp_path / "c").exists()


def test_corpus_artifact_round_trip_and_checksum(webhdfs, tmp_path, sample_dir):
    extract_corpus(ExtractArguments(
            output_dir=str(tmp_path / "corpus"), input_file=[str(sample_dir / "corpus.txt")],
            rows_per_shard=150))
    export_to_hdfs(HdfsExportArguments(
            input_dir=str(tmp_path / "corpus"), hdfs_path="/corpora/sample",
            namenode_url=webhdfs.url))
    manifest = import_from_hdfs(HdfsImportArguments(
            hdfs_path="/corpora/sample", output_dir=str(tmp_path / "back"),
            namenode_url=webhdfs.url))
    assert manifest["kind"] == "corpus" and manifest["num_shards"] == 3
    assert same_tree(tmp_path / "corpus", tmp_path / "back")

    webhdfs.requests.clear()
    with pytest.raises(UserError, match="is a 'corpus' artifact, not a model"):
        import_from_hdfs(HdfsImportArguments(
                hdfs_path="/corpora/sample", output_dir=str(tmp_path / "m"),
                namenode_url=webhdfs.url, kind="model"))
    assert [path for _, op, path in webhdfs.requests if op == "OPEN"] == [
        "/corpora/sample/manifest.json"], "refused before downloading the shards"

    with open(webhdfs.local("/corpora/sample/part-00001.txt"), "a", encoding="utf-8") as f:
        f.write("被篡改的一行内容\n")
    with pytest.raises(UserError, match="part-00001.txt does not match its sha256"):
        import_from_hdfs(HdfsImportArguments(
                hdfs_path="/corpora/sample", output_dir=str(tmp_path / "again"),
                namenode_url=webhdfs.url))
    assert not (tmp_path / "again").exists()


def test_import_google_model_without_manifest_gets_one(webhdfs, tmp_path):
    google = webhdfs.local("/models/chinese_L-12_H-768_A-12")
    os.makedirs(google)
    for name, data in [("bert_config.json", b"{}"), ("vocab.txt", b"[PAD]\n"),
                       ("bert_model.ckpt.index", b"idx"),
                       ("bert_model.ckpt.data-00000-of-00001", b"weights" * 1000)]:
        with open(os.path.join(google, name), "wb") as f:
            f.write(data)
    manifest = import_from_hdfs(HdfsImportArguments(
            hdfs_path="/models/chinese_L-12_H-768_A-12", output_dir=str(tmp_path / "base"),
            namenode_url=webhdfs.url, kind="model"))
    assert manifest["kind"] == "bert_model"
    assert sorted(f["file"] for f in manifest["files"]) == sorted(os.listdir(google))
    assert json.loads((tmp_path / "base" / "manifest.json").read_text()) == manifest

    export_to_hdfs(HdfsExportArguments(
            input_dir=str(tmp_path / "base"), hdfs_path="/models/copy", namenode_url=webhdfs.url))
    with pytest.raises(UserError, match="is a 'bert_model' artifact, not a corpus"):
        import_from_hdfs(HdfsImportArguments(
                hdfs_path="/models/copy", output_dir=str(tmp_path / "c"), namenode_url=webhdfs.url))


def run_cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "components.hdfs", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "EDU_MLM_NO_PROGRESS": "1", **(env or {})})


def test_cli_export_and_import_with_environment_settings(webhdfs, tmp_path):
    model = make_model_dir(tmp_path / "model")
    env = {"EDU_MLM_HDFS_URL": webhdfs.url, "EDU_MLM_HDFS_USER": "km_km"}
    result = run_cli("export", "--input_dir", str(model), "--hdfs_path", "/user/km_km/m",
                     env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["hdfs_path"] == "/user/km_km/m"
    result = run_cli("import", "--kind=model", "--hdfs_path=/user/km_km/m",
                     f"--output_dir={tmp_path / 'back'}", env=env)
    assert result.returncode == 0, result.stderr
    assert same_tree(model, tmp_path / "back")


@pytest.mark.parametrize("args, message", [
    (["import", "--hdfs_path", "/nope", "--output_dir", "{tmp}/out", "--namenode_url", "{url}"],
     "import from HDFS failed: File does not exist: /nope (/nope); check the HDFS path"),
    (["export", "--input_dir", "{tmp}/model", "--hdfs_path", "/warehouse/m",
      "--namenode_url", "{url}"], "Permission denied: user="),
    (["export", "--input_dir", "{tmp}/model", "--hdfs_path", "/existing",
      "--namenode_url", "{url}"], "the HDFS target already exists"),
    (["export", "--input_dir", "{tmp}/model", "--hdfs_path", "relative/m",
      "--namenode_url", "{url}"], "the HDFS path must be absolute"),
    (["import", "--hdfs_path", "/x", "--output_dir", "{tmp}/out",
      "--namenode_url", "http://127.0.0.1:9"], "cannot reach the namenode"),
    (["import", "--hdfs_path", "/x", "--output_dir", "{tmp}/out"], "no namenode URL"),
])
def test_cli_failures_are_one_line(webhdfs, tmp_path, args, message):
    make_model_dir(tmp_path / "model")
    webhdfs.protect("/warehouse")
    os.makedirs(webhdfs.local("/existing"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDU_MLM_HDFS")}
    result = subprocess.run(
        [sys.executable, "-m", "components.hdfs",
         *[a.format(tmp=tmp_path, url=webhdfs.url) for a in args]],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**env, "EDU_MLM_NO_PROGRESS": "1"})
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0], result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()
    assert hidden_leftovers(webhdfs.local("/")) == []


def test_kerberos_without_requests_kerberos_says_what_to_install(webhdfs):
    if importlib.util.find_spec("requests_kerberos") is not None:
        pytest.skip("requests-kerberos is installed here, so its absence cannot be shown")
    with pytest.raises(UserError, match="--hdfs_auth kerberos needs the requests-kerberos "
                                        "package"):
        import_from_hdfs(HdfsImportArguments(
                hdfs_path="/x", output_dir="/tmp/unused", namenode_url=webhdfs.url,
                hdfs_auth="kerberos"))
