"""Preemption: SIGTERM saves and loses nothing; SIGKILL at random moments (some of them while a
checkpoint is being written) loses at most one save interval; the end result is the same model
as an unbroken run (CPU, deterministic ops, fixed seeds)."""

import json
import os
import random
import signal
import subprocess
import time

import numpy as np
import pytest
import tensorflow as tf
from helpers_train import SAMPLE_DIR, read_train_log, trainer_command, write_pretraining_data

from components.bert.checkpoint import load_model

NUM_STEPS, SAVE_EVERY = 120, 4


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("ptd")
    write_pretraining_data(directory)
    return directory


def args_for(data_dir, output_dir):
    return ["--input_dir", data_dir, "--output_dir", output_dir,
            "--bert_config_file", SAMPLE_DIR / "bert_config.json",
            "--vocab_file", SAMPLE_DIR / "vocab.txt", "--train_batch_size", 8,
            "--max_seq_length", 32, "--max_predictions_per_seq", 5,
            "--num_train_steps", NUM_STEPS, "--num_warmup_steps", 10, "--learning_rate", 1e-3,
            "--save_checkpoints_steps", SAVE_EVERY, "--log_every_n_steps", 1,
            "--random_seed", 3]


def start(data_dir, output_dir, checkpoint_dir=None):
    env = dict(os.environ, EDU_MLM_NO_PROGRESS="1")
    args = args_for(data_dir, output_dir)
    if checkpoint_dir is not None:
        args += ["--checkpoint_dir", checkpoint_dir]
    return subprocess.Popen(trainer_command(args), env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def saved_step(output_dir, checkpoint_dir=None):
    latest = tf.train.latest_checkpoint(str(checkpoint_dir or output_dir / "train_state"))
    return int(latest.rsplit("-", 1)[1]) if latest else 0


def writing_checkpoint(output_dir):
    """True while a training-state or model checkpoint is being written (temporary files)."""
    names = os.listdir(output_dir) if output_dir.exists() else []
    state = output_dir / "train_state"
    names += os.listdir(state) if state.exists() else []
    return any("_temp" in n or ".tmp-" in n for n in names)


def wait_for_step(process, output_dir, step):
    while process.poll() is None:
        records = read_train_log(output_dir)
        if records and records[-1]["step"] >= step:
            return True
        time.sleep(0.05)
    return False


def final_weights(output_dir):
    reader = tf.train.load_checkpoint(str(output_dir / "bert_model.ckpt"))
    return {n: reader.get_tensor(n) for n in reader.get_variable_to_shape_map()}


@pytest.fixture(scope="module")
def straight(data_dir, tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("straight")
    process = start(data_dir, output_dir)
    assert process.wait() == 0, process.stderr.read()[-3000:]
    return final_weights(output_dir)


def assert_same_model(weights, straight):
    assert weights.keys() == straight.keys()
    for name in straight:
        np.testing.assert_array_equal(weights[name], straight[name], err_msg=name)


@pytest.mark.slow
def test_sigterm_saves_the_current_step_and_loses_nothing(data_dir, straight, tmp_path):
    output_dir = tmp_path / "run"
    process = start(data_dir, output_dir)
    assert wait_for_step(process, output_dir, 11)
    process.send_signal(signal.SIGTERM)
    assert process.wait() == 143, process.stderr.read()[-3000:]
    last_logged = read_train_log(output_dir)[-1]["step"]
    assert saved_step(output_dir) == last_logged
    assert final_weights(output_dir)["global_step"] == last_logged
    assert not (output_dir / "manifest.json").exists()

    process = start(data_dir, output_dir)
    assert process.wait() == 0, process.stderr.read()[-3000:]
    assert f"resuming from {output_dir}/train_state/ckpt-{last_logged}" in process.stderr.read()
    assert_same_model(final_weights(output_dir), straight)


@pytest.mark.slow
def test_sigkill_at_random_moments_loses_at_most_one_interval(data_dir, straight, tmp_path):
    output_dir = tmp_path / "run"
    rng = random.Random(11)
    kills_during_write = 0
    for attempt in range(6):
        process = start(data_dir, output_dir)
        resumed_from = saved_step(output_dir)
        if attempt % 2:  # at a random moment
            assert wait_for_step(process, output_dir, resumed_from + rng.randint(1, 10))
            time.sleep(rng.uniform(0, 0.2))
        else:  # while a checkpoint is being written
            while process.poll() is None and not writing_checkpoint(output_dir):
                time.sleep(0.0005)
        process.kill()
        process.wait()
        if writing_checkpoint(output_dir):
            kills_during_write += 1
        records = read_train_log(output_dir)
        last_logged = records[-1]["step"] if records else 0
        assert last_logged < NUM_STEPS, "the run ended before it could be killed"
        assert last_logged - saved_step(output_dir) <= SAVE_EVERY
        assert saved_step(output_dir) >= resumed_from
    assert kills_during_write >= 1

    process = start(data_dir, output_dir)
    assert process.wait() == 0, process.stderr.read()[-3000:]
    manifest = json.loads((output_dir / "manifest.json").read_text())
    assert manifest["global_step"] == NUM_STEPS
    model, _, _ = load_model(str(output_dir))  # a valid Google-format model
    assert model.config.vocab_size == 1797
    assert_same_model(final_weights(output_dir), straight)


@pytest.mark.slow
def test_a_retried_pod_resumes_from_the_checkpoint_dir_into_a_fresh_output(data_dir, straight,
                                                                          tmp_path):
    """What a KFP retry sees: the output artifact directory is new and empty (the launcher
    uploads outputs only after success), the training state is on a persistent volume."""
    checkpoint_dir, first, retry = tmp_path / "pvc" / "run-1", tmp_path / "a", tmp_path / "b"
    process = start(data_dir, first, checkpoint_dir)
    assert wait_for_step(process, first, 3 * SAVE_EVERY + 1)
    process.kill()
    process.wait()
    resumed_from = saved_step(first, checkpoint_dir)
    assert resumed_from >= 3 * SAVE_EVERY
    assert not (first / "train_state").exists()

    process = start(data_dir, retry, checkpoint_dir)
    assert process.wait() == 0, process.stderr.read()[-3000:]
    assert f"resuming from {checkpoint_dir}/ckpt-{resumed_from}" in process.stderr.read()
    assert_same_model(final_weights(retry), straight)
    # The model directory holds the model and its logs, no optimizer state.
    assert not (retry / "train_state").exists()
    names = tf.train.load_checkpoint(str(retry / "bert_model.ckpt")).get_variable_to_shape_map()
    assert not [n for n in names if "adam" in n.lower() or "optimizer" in n.lower()]
    assert sorted(p.name for p in retry.iterdir() if not p.name.startswith("bert_model.ckpt")) \
        == ["bert_config.json", "manifest.json", "tensorboard", "train_log.jsonl", "vocab.txt"]
    # The log goes on from the first pod's records: every step once, in order.
    assert [r["step"] for r in read_train_log(retry)] == list(range(1, NUM_STEPS + 1))
