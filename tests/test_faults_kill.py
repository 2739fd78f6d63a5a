"""Faults outside the input (issue 8): SIGKILL mid-write and a full disk.

SIGKILL: the stage runs as a subprocess in its own process group; once its temporary output
directory holds data, we wait a random (seeded) moment and SIGKILL the whole group, as a pod
eviction would. The target path must then hold what it held before (an older complete output,
untouched), the half-written temporary sibling must be refused by the readers (no manifest), and
a rerun must give exactly the bytes of an undisturbed run.

Full disk: on a real filesystem that fills up. As root we mount a small tmpfs (`mount -t tmpfs -o
size=...`); everywhere (root or not) we also inject an OS-level write failure at the file layer:
RLIMIT_FSIZE caps the size of any file the stage writes and SIGXFSZ is ignored, so the kernel
fails the `write()` that crosses the cap with EFBIG, exactly where a full disk fails with ENOSPC.
Either way the stage must end with one `error:` line and leave no output directory behind: the
data stages, and the model writers (bert.init through TensorFlow's SaveV2, convert through
safetensors).
"""

import contextlib
import glob
import json
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import time

import pytest

from components.common.artifacts import read_manifest
from components.common.errors import UserError
from tests.helpers_faults import (
    REPO_ROOT,
    SAMPLE_DIR,
    assert_one_line_user_error,
    entries_named_like,
    run_stage_cli,
    stage_env,
    tree_bytes,
)

VOCAB = str(SAMPLE_DIR / "vocab.txt")
TIMING_KEYS = ("wall_seconds", "phase_cpu_seconds", "num_workers")


def write_passages(path, count, tag):
    """`count` distinct passages built from the sample corpus."""
    lines = (SAMPLE_DIR / "corpus.txt").read_text(encoding="utf-8").splitlines()
    with open(path, "w", encoding="utf-8") as f:
        for i in range(count):
            f.write(f"{lines[i % len(lines)]}（{tag}第{i}条）\n")
    return path


def extract_args(input_file, output_dir):
    return ["--input_file", str(input_file), "--output_dir", str(output_dir),
            "--rows_per_shard", "1000"]


def pretraining_args(corpus_dir, output_dir, workers=1):
    return ["--input_file", str(corpus_dir), "--output_dir", str(output_dir),
            "--vocab_file", VOCAB, "--max_seq_length", "64", "--max_predictions_per_seq", "10",
            "--dupe_factor", "2", "--shard_size_mb", "0.03", "--num_workers", str(workers)]


def run_ok(stage, args):
    """Run the stage undisturbed; returns its wall time in seconds."""
    started = time.monotonic()
    code, stderr = run_stage_cli(stage, args)
    assert code == 0, stderr[-3000:]
    return time.monotonic() - started


def comparable(tree):
    """Files of an output directory, with the timing fields of a manifest left out."""
    tree = dict(tree)
    manifest = json.loads(tree.pop("manifest.json"))
    for key in TIMING_KEYS:
        manifest.pop(key, None)
    return tree, manifest


def kill_mid_write(stage, args, output_dir, started, rng, max_delay, reset, attempts=4):
    """Run the stage; SIGKILL its process group at a random moment after `started(tmp)` holds
    (up to `max_delay` seconds later).

    When the stage finishes before the kill lands (its last moments are as likely a target as any
    other), `reset()` restores the output as it was and it runs again with half the delay.
    Returns (seconds waited after output started, the temporary directory it was writing).
    """
    parent, name = os.path.split(str(output_dir))
    for _ in range(attempts):
        process = subprocess.Popen([sys.executable, "-m", f"components.{stage}", *args],
                                   env=stage_env(), cwd=REPO_ROOT, start_new_session=True,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 120
        tmp = None
        while tmp is None:
            assert process.poll() is None, f"{stage} ended before writing output"
            assert time.monotonic() < deadline, f"{stage} wrote no output in 120 s"
            time.sleep(0.01)
            tmp = next((os.path.join(parent, e) for e in entries_named_like(parent, name)
                        if ".tmp-" in e and started(os.path.join(parent, e))), None)
        delay = rng.uniform(0.0, max_delay)
        time.sleep(delay)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        stderr = process.stderr.read().decode(errors="replace")
        process.stderr.close()
        if process.returncode == -signal.SIGKILL:
            print(f"{stage}: SIGKILL {delay:.2f} s after its output started")
            return delay, tmp
        assert process.returncode == 0, stderr
        print(f"{stage} finished within {delay:.2f} s, before the kill; again, sooner")
        reset()
        max_delay /= 2
    pytest.fail(f"{stage} finished before the kill {attempts} times; give it more work")


def assert_refused_by_readers(half_written, kind):
    with pytest.raises(UserError, match="manifest"):
        read_manifest(half_written, kind=kind)


@pytest.mark.slow
def test_sigkill_of_extract_keeps_old_output_and_rerun_gives_same_bytes(tmp_path):
    rng = random.Random(8)
    old_input = write_passages(tmp_path / "old.txt", 200, "旧")
    new_input = write_passages(tmp_path / "new.txt", 12_000, "新")
    reference, output = tmp_path / "reference", tmp_path / "corpus"
    seconds = run_ok("extract", extract_args(new_input, reference))
    run_ok("extract", extract_args(old_input, output))
    old = tree_bytes(output)

    def started(tmp):
        return any(os.path.getsize(p) > 0 for p in glob.glob(os.path.join(tmp, "part-*.txt")))

    delay, half = kill_mid_write("extract", extract_args(new_input, output), output, started, rng,
                                 0.3 * seconds,
                                 reset=lambda: run_ok("extract", extract_args(old_input, output)))
    assert tree_bytes(output) == old, f"killed {delay:.2f} s in, the old output changed"
    if os.path.isdir(half) and not os.path.exists(os.path.join(half, "manifest.json")):
        assert_refused_by_readers(half, "corpus")
        code, stderr = run_stage_cli("pretraining_data", pretraining_args(
            half, tmp_path / "from_half"))
        assert_one_line_user_error(code, stderr, [os.path.basename(half), "manifest"])
    run_ok("extract", extract_args(new_input, output))
    assert tree_bytes(output) == tree_bytes(reference), f"rerun after a kill {delay:.2f} s in"
    assert not [e for e in os.listdir(tmp_path) if ".tmp-" in e or ".old-" in e], \
        "the rerun left the killed run's temporary directory behind"


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_sigkill_of_pretraining_data_then_rerun_gives_same_bytes(tmp_path, workers):
    rng = random.Random(workers)
    corpus = tmp_path / "corpus"
    run_ok("extract", extract_args(write_passages(tmp_path / "in.txt", 2500, "甲"), corpus))
    reference, output = tmp_path / "reference", tmp_path / "data"
    seconds = run_ok("pretraining_data", pretraining_args(corpus, reference, workers))

    def started(tmp):
        return bool(glob.glob(os.path.join(tmp, "train-*.tfrecord")))

    delay, half = kill_mid_write("pretraining_data", pretraining_args(corpus, output, workers),
                                 output, started, rng, 0.3 * seconds,
                                 reset=lambda: shutil.rmtree(output))
    if os.path.exists(output):  # the kill landed between the final rename and the exit
        assert comparable(tree_bytes(output)) == comparable(tree_bytes(reference))
    if os.path.isdir(half) and not os.path.exists(os.path.join(half, "manifest.json")):
        assert_refused_by_readers(half, "pretraining_data")
        from components.mlm.records import list_input_files

        with pytest.raises(UserError, match="manifest"):
            list_input_files(half, "train")
    run_ok("pretraining_data", pretraining_args(corpus, output, workers))
    assert comparable(tree_bytes(output)) == comparable(tree_bytes(reference)), (
        f"rerun after a kill {delay:.2f} s in differs from an undisturbed run")


def _cap_file_size(limit):
    def preexec():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return preexec


DISK_CASES = {
    "extract": lambda tmp, out: extract_args(write_passages(tmp / "in.txt", 3000, "满"), out),
    "pretraining_data": lambda tmp, out: pretraining_args(SAMPLE_DIR / "corpus.txt", out),
}


@pytest.mark.parametrize("stage", sorted(DISK_CASES))
def test_write_failure_is_one_line_and_leaves_nothing(tmp_path, stage):
    """EFBIG from RLIMIT_FSIZE: an OS-level write failure injected at the file layer."""
    args = DISK_CASES[stage](tmp_path, tmp_path / "out")
    code, stderr = run_stage_cli(stage, args, preexec_fn=_cap_file_size(64 << 10))
    assert_one_line_user_error(code, stderr, ["out", "File too large"])
    assert entries_named_like(tmp_path, "out") == []


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    from components.bert.arguments import BertInitArguments
    from components.bert.init import init_random_model

    out = tmp_path_factory.mktemp("tiny") / "model"
    init_random_model(BertInitArguments(str(SAMPLE_DIR / "bert_config.json"), VOCAB, str(out)))
    return out


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    from components.pretraining_data.arguments import PretrainingDataArguments
    from components.pretraining_data.create import create_pretraining_data

    out = tmp_path_factory.mktemp("tiny") / "data"
    create_pretraining_data(PretrainingDataArguments(
            input_file=str(SAMPLE_DIR / "corpus.txt"), output_dir=str(out),
                            vocab_file=VOCAB, max_seq_length=32, max_predictions_per_seq=5,
                            dupe_factor=1, num_workers=1))
    return out


MODEL_WRITERS = {
    "bert.init": lambda model, out: ["--bert_config_file", str(SAMPLE_DIR / "bert_config.json"),
                                     "--vocab_file", VOCAB, "--output_dir", str(out)],
    "convert": lambda model, out: ["--tf_checkpoint_path", str(model), "--output_dir", str(out)],
}


@pytest.mark.slow
@pytest.mark.parametrize("stage", sorted(MODEL_WRITERS))
def test_model_write_failure_is_one_line_and_leaves_nothing(tmp_path, tiny_model, stage):
    """EFBIG (RLIMIT_FSIZE) inside TensorFlow's SaveV2 and safetensors' writer."""
    args = MODEL_WRITERS[stage](tiny_model, tmp_path / "out")
    code, stderr = run_stage_cli(stage, args, preexec_fn=_cap_file_size(64 << 10))
    assert_one_line_user_error(code, stderr, ["out", "File too large"])
    assert entries_named_like(tmp_path, "out") == []


@pytest.mark.slow
def test_train_write_failure_is_one_line_and_leaves_no_finished_model(tmp_path, tiny_model,
                                                                       tiny_data):
    """The trainer's output directory is its resumable state, so it stays; no manifest says done."""
    out = tmp_path / "out"
    args = ["--input_dir", str(tiny_data), "--init_checkpoint", str(tiny_model), "--output_dir",
            str(out), "--train_batch_size", "4", "--num_train_steps", "2",
            "--num_warmup_steps", "1", "--max_seq_length", "32", "--max_predictions_per_seq", "5"]
    code, stderr = run_stage_cli("train", args, preexec_fn=_cap_file_size(64 << 10))
    assert_one_line_user_error(code, stderr, ["out", "File too large"])
    assert not (out / "manifest.json").exists()


@pytest.fixture
def small_filesystem(tmp_path):
    """A 256 KiB tmpfs at tmp_path/small (root only: mounting needs CAP_SYS_ADMIN)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root; the RLIMIT_FSIZE test covers write failures")
    mount_point = tmp_path / "small"
    mount_point.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount_point)],
                   check=True)
    yield mount_point
    subprocess.run(["umount", str(mount_point)], check=True)


@pytest.mark.slow
def test_train_refuses_a_disk_too_small_for_its_first_save(small_filesystem, tiny_model,
                                                           tiny_data):
    args = ["--input_dir", str(tiny_data), "--init_checkpoint", str(tiny_model), "--output_dir",
            str(small_filesystem / "out"), "--num_train_steps", "2", "--num_warmup_steps", "1",
            "--max_seq_length", "32", "--max_predictions_per_seq", "5"]
    code, stderr = run_stage_cli("train", args)
    assert_one_line_user_error(code, stderr, ["out", "not enough disk space"])
    assert os.listdir(small_filesystem) == []


@pytest.mark.parametrize("stage", sorted(DISK_CASES))
def test_full_disk_is_one_line_and_leaves_nothing(tmp_path, small_filesystem, stage):
    args = DISK_CASES[stage](tmp_path, small_filesystem / "out")
    code, stderr = run_stage_cli(stage, args)
    assert_one_line_user_error(code, stderr, ["out", "space"])
    assert os.listdir(small_filesystem) == []
