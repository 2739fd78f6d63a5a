"""The trainer's CLI: the users' own command runs as written (a subprocess); bad input is one
clear line (the CLI's `__main__` run in this process, as the fault suite runs the TensorFlow stages;
its `test_stage_cli_subprocess` checks a refusal of a real subprocess)."""

import json
import subprocess
import sys

import pytest
from helpers_faults import assert_one_line_user_error, run_stage_in_process
from helpers_train import SAMPLE_DIR, write_pretraining_data

from components.bert.arguments import BertInitArguments
from components.bert.init import init_random_model
from components.train.__main__ import build_parser


@pytest.fixture(scope="module")
def base_model(tmp_path_factory):
    directory = tmp_path_factory.mktemp("base") / "chinese_L-12_H-768_A-12"
    init_random_model(BertInitArguments(
            str(SAMPLE_DIR / "bert_config.json"), str(SAMPLE_DIR / "vocab.txt"),
                      str(directory), random_seed=1))
    return directory


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("prepare_data_tf")
    write_pretraining_data(directory, max_seq_length=128, max_predictions_per_seq=20)
    return directory


def run_cli(args, cwd):
    return subprocess.run([sys.executable, "-m", "components.train", *args], cwd=cwd,
                          capture_output=True, text=True)


def users_command(data_dir, base_model, output_dir, num_train_steps):
    """The users' run_pretraining command from their README, with our paths."""
    return [f"--input_dir={data_dir}", f"--output_dir={output_dir}", "--do_train=True",
            "--do_eval=False", f"--bert_config_file={base_model}/bert_config.json",
            f"--init_checkpoint={base_model}/bert_model.ckpt", "--train_batch_size=96",
            "--max_seq_length=128", "--max_predictions_per_seq=20",
            f"--num_train_steps={num_train_steps}",
            f"--num_warmup_steps={min(1000, num_train_steps)}",  # warmup fits the short run
            "--learning_rate=2e-5"]


def test_users_flags_parse_with_their_defaults():
    args = build_parser().parse_args(["--input_dir", "d", "--output_dir", "o"])
    assert (args.train_batch_size, args.max_seq_length, args.max_predictions_per_seq,
            args.num_train_steps, args.num_warmup_steps, args.learning_rate) == (
        96, 128, 20, 210000, 1000, 2e-5)
    assert args.do_train is True and args.do_eval is False and args.init_checkpoint == ""


@pytest.mark.slow
def test_users_command_runs_as_written(data_dir, base_model, tmp_path, repo_root):
    out = tmp_path / "chinese_wwm_L-12_H-768-zhihu"
    result = run_cli(users_command(data_dir, base_model, out, num_train_steps=2), repo_root)
    assert result.returncode == 0, result.stderr[-3000:]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["global_step"] == 2 and manifest["train_batch_size"] == 96
    assert {"bert_config.json", "vocab.txt", "bert_model.ckpt.index"} <= {
        p.name for p in out.iterdir()}


@pytest.fixture
def refused(capfd, monkeypatch):
    """Run the trainer's CLI on `args` in this process; assert exit code 2 and one `error:` line,
    the last one printed, naming each of `needles`, without a traceback."""
    def run(args, *needles):
        code, stderr = run_stage_in_process("train", [str(arg) for arg in args], capfd,
                                            monkeypatch)
        return assert_one_line_user_error(code, stderr, needles)
    return run


def test_vocab_size_not_config_vocab_size(data_dir, base_model, tmp_path, refused):
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n", encoding="utf-8")
    out = tmp_path / "out"
    refused(users_command(data_dir, base_model, out, 2) + [f"--vocab_file={vocab}"],
            "vocab has 5 entries", "vocab_size 1797", str(vocab))
    assert not out.exists()


def test_checkpoint_of_another_config(data_dir, base_model, tmp_path, refused):
    config = json.loads((SAMPLE_DIR / "bert_config.json").read_text())
    config.update(hidden_size=32, intermediate_size=64)
    other = tmp_path / "other_config.json"
    other.write_text(json.dumps(config))
    out = tmp_path / "out"
    refused(users_command(data_dir, base_model, out, 2) + [f"--bert_config_file={other}"],
            "does not match the BERT config", "mis-shaped", "[1797, 64] vs [1797, 32]")
    assert not out.exists()


@pytest.mark.parametrize("missing", ["input_dir", "init_checkpoint"])
def test_missing_input(missing, data_dir, base_model, tmp_path, refused):
    args = users_command(data_dir, base_model, tmp_path / "out", 2)
    gone = tmp_path / "no_such_thing"
    args = [f"--{missing}={gone}" if a.startswith(f"--{missing}=") else a for a in args]
    refused(args, str(gone))


def test_tfrecords_with_another_max_seq_length(base_model, tmp_path, refused):
    short = tmp_path / "short"
    write_pretraining_data(short, max_seq_length=64, max_predictions_per_seq=20)
    refused(users_command(short, base_model, tmp_path / "out", 2), "--max_seq_length=128",
            "TFRecords were made with max_seq_length=64")


def test_asked_for_gpus_on_a_machine_without_any(data_dir, base_model, tmp_path, refused):
    """A pipeline task passes the GPU count its pod asked for: without them it must not train
    on the CPU for months (this machine has no GPU; CI neither)."""
    out = tmp_path / "out"
    refused(users_command(data_dir, base_model, out, 2) + ["--num_gpus=1"], "--num_gpus=1",
            "sees 0 GPU(s)")
    assert not out.exists()
