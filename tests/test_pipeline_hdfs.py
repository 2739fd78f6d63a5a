"""`pipeline.py hdfs-import`: an HDFS model directory becomes an artifact (kfp.local), against
the WebHDFS stand-in server (no Hadoop can run here; see helpers_hdfs)."""

import json
import os
import subprocess
import sys

from helpers_hdfs import WebHdfsServer

MODEL_FILES = {"bert_config.json": json.dumps({"vocab_size": 3}).encode(),
               "vocab.txt": b"[PAD]\n[UNK]\n[MASK]\n",
               "bert_model.ckpt.index": os.urandom(300),
               "bert_model.ckpt.data-00000-of-00001": os.urandom(50_000)}


def test_hdfs_import_brings_a_model_directory_in(repo_root, tmp_path):
    server = WebHdfsServer(str(tmp_path / "hdfs")).start()
    try:
        remote = server.local("/models/chinese_L-12_H-768_A-12")
        os.makedirs(remote)
        for name, data in MODEL_FILES.items():
            with open(os.path.join(remote, name), "wb") as f:
                f.write(data)
        result = subprocess.run(
            [sys.executable, "pipeline.py", "hdfs-import", "/models/chinese_L-12_H-768_A-12",
             "--hdfs-url", server.url, "--pipeline-root", str(tmp_path / "runs")],
            cwd=repo_root, capture_output=True, text=True, timeout=300,
            env={**os.environ, "EDU_MLM_HDFS_USER": "edu"})
    finally:
        server.stop()
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    artifact = result.stdout.rsplit(" as ", 1)[1].strip()
    assert artifact.startswith(str(tmp_path / "runs"))
    for name, data in MODEL_FILES.items():
        with open(os.path.join(artifact, name), "rb") as f:
            assert f.read() == data, name
    assert os.path.exists(os.path.join(artifact, "manifest.json"))
