"""HDFS export benchmark: a BERT-base-sized checkpoint directory to the WebHDFS stand-in.

    .venv/bin/python bench/hdfs_export.py [--megabytes 420]

The server (tests/helpers_hdfs.py, run in its own process) writes to local disk, so the figure
measures our client path: WebHDFS redirects, streaming upload, size check and the atomic rename.
Baseline, measured in the same run: `shutil.copytree` of the same directory on the same disk.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from components.common.artifacts import atomic_output_dir, write_manifest  # noqa: E402
from components.hdfs.arguments import HdfsExportArguments  # noqa: E402
from components.hdfs.transfer import export_to_hdfs  # noqa: E402


def make_checkpoint_dir(path, megabytes):
    """Random weights of the given size under Google's file names (content does not matter)."""
    with atomic_output_dir(path) as tmp:
        with open(os.path.join(tmp, "bert_model.ckpt.data-00000-of-00001"), "wb") as f:
            for _ in range(megabytes):
                f.write(os.urandom(1 << 20))
        with open(os.path.join(tmp, "bert_model.ckpt.index"), "wb") as f:
            f.write(os.urandom(9 << 10))
        with open(os.path.join(tmp, "bert_config.json"), "w") as f:
            json.dump({"hidden_size": 768, "num_hidden_layers": 12}, f)
        with open(os.path.join(tmp, "vocab.txt"), "w") as f:
            f.write("[PAD]\n" * 21128)
        write_manifest(tmp, {"kind": "bert_model"})


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=int, default=420, help="size of the weights file")
    args = parser.parse_args()
    os.environ.setdefault("EDU_MLM_NO_PROGRESS", "1")
    with tempfile.TemporaryDirectory(prefix="edu-mlm-bench-hdfs-") as work:
        model = os.path.join(work, "model")
        make_checkpoint_dir(model, args.megabytes)
        size = sum(os.path.getsize(os.path.join(model, n)) for n in os.listdir(model))

        started = time.perf_counter()
        shutil.copytree(model, os.path.join(work, "copy"))
        copy_seconds = time.perf_counter() - started
        shutil.rmtree(os.path.join(work, "copy"))

        server = subprocess.Popen(
            [sys.executable, os.path.join(ROOT, "tests", "helpers_hdfs.py"),
             os.path.join(work, "hdfs")], stdout=subprocess.PIPE, text=True)
        try:
            url = server.stdout.readline().strip()
            summary = export_to_hdfs(HdfsExportArguments(
                    input_dir=model, hdfs_path="/user/edu/models/bert-base", namenode_url=url,
                    hdfs_user="edu"))
        finally:
            server.terminate()
            server.wait()
    seconds = summary["seconds"]
    print(f"directory: {size / 1e6:.0f} MB in {summary['files']} files")
    print(f"baseline shutil.copytree: {copy_seconds:.2f} s ({size / 1e6 / copy_seconds:.0f} MB/s)")
    print(f"export_to_hdfs (WebHDFS stand-in): {seconds:.2f} s ({size / 1e6 / seconds:.0f} MB/s)")
    print(f"ratio export / copytree: {seconds / copy_seconds:.2f}")


if __name__ == "__main__":
    main()
