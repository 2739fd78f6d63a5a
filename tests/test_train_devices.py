"""Speed switches and several devices: mixed precision, XLA, MirroredStrategy, throughput log."""

import json
import os
import socket
import subprocess

import numpy as np
import pytest
import tensorflow as tf
from helpers_train import SAMPLE_DIR, read_train_log, trainer_command, write_pretraining_data

from components.bert.config import BertConfig
from components.bert.model import BertForPreTraining
from components.train.arguments import TrainArguments
from components.train.loop import train
from components.train.optimizer import AdamWeightDecay
from components.train.step import LossScale, make_train_step, trainable_by_name

TINY = dict(max_seq_length=32, max_predictions_per_seq=5, num_warmup_steps=5,
            learning_rate=1e-3, log_every_n_steps=10, save_checkpoints_steps=100)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("ptd")
    write_pretraining_data(directory)
    return directory


def tiny_model(seed=3, dropout=0.1):
    config = BertConfig(vocab_size=50, hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64, hidden_dropout_prob=dropout,
                        attention_probs_dropout_prob=dropout, max_position_embeddings=16)
    return BertForPreTraining(config, seed=seed)


def batch(seed=0):
    rng = np.random.default_rng(seed)
    return {"input_ids": tf.constant(rng.integers(5, 50, (4, 16)), tf.int32),
            "input_mask": tf.ones((4, 16), tf.int32), "segment_ids": tf.zeros((4, 16), tf.int32),
            "masked_lm_positions": tf.constant(rng.integers(0, 16, (4, 3)), tf.int32),
            "masked_lm_ids": tf.constant(rng.integers(5, 50, (4, 3)), tf.int32),
            "masked_lm_weights": tf.ones((4, 3), tf.float32)}


def run_steps(jit_compile, steps=3):
    model = tiny_model(dropout=0.0)  # XLA draws other (equally valid) stateless dropout masks
    optimizer = AdamWeightDecay(trainable_by_name(model))
    step = tf.Variable(0, dtype=tf.int64)
    train_step = make_train_step(tf.distribute.get_strategy(), model, optimizer, step, 1e-2,
                                 100, 1, random_seed=5, jit_compile=jit_compile)
    for i in range(steps):
        train_step(batch(i))
    return {n: v.numpy() for n, v in model.variables_by_name.items()}


@pytest.mark.slow
def test_xla_step_matches_the_plain_step():
    plain, xla = run_steps(jit_compile=False), run_steps(jit_compile=True)
    for name in plain:
        np.testing.assert_allclose(xla[name], plain[name], atol=2e-5, err_msg=name)


def test_float16_overflow_skips_the_update_and_halves_the_loss_scale():
    model = tiny_model()
    model.compute_dtype = tf.float16
    optimizer = AdamWeightDecay(trainable_by_name(model))
    step, loss_scale = tf.Variable(0, dtype=tf.int64), LossScale()
    train_step = make_train_step(tf.distribute.get_strategy(), model, optimizer, step, 1e-2,
                                 100, 0, random_seed=5, loss_scale=loss_scale)
    before = {n: v.numpy() for n, v in model.variables_by_name.items()}
    loss_scale.scale.assign(3e38)  # the scaled float16 gradients overflow
    train_step(batch())
    assert int(step.numpy()) == 1 and float(loss_scale.scale.numpy()) == pytest.approx(1.5e38)
    for name, variable in model.variables_by_name.items():
        np.testing.assert_array_equal(variable.numpy(), before[name], err_msg=name)
    assert all(not m.numpy().any() for m in optimizer.m)
    loss_scale.scale.assign(2.0**15)
    train_step(batch())
    assert int(loss_scale.good_steps.numpy()) == 1
    changed = model.variables_by_name["bert/embeddings/word_embeddings"].numpy()
    assert not np.array_equal(changed, before["bert/embeddings/word_embeddings"])


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_trains_and_saves_float32(precision, data_dir, tmp_path):
    out = tmp_path / precision
    common = dict(bert_config_file=str(SAMPLE_DIR / "bert_config.json"),
                  vocab_file=str(SAMPLE_DIR / "vocab.txt"), train_batch_size=16,
                  num_train_steps=40, **TINY)
    summary = train(TrainArguments(str(data_dir), str(out), precision=precision, peak_tflops=0.5,
                                   **common))
    assert summary["precision"] == precision
    reader = tf.train.load_checkpoint(str(out / "bert_model.ckpt"))
    dtypes = reader.get_variable_to_dtype_map()
    assert {d for n, d in dtypes.items() if n != "global_step"} == {tf.float32}
    log = read_train_log(out)
    assert log[-1]["loss"] < log[0]["loss"]
    assert log[-1]["mfu"] == pytest.approx(log[-1]["model_tflops"] / 0.5)
    state = tf.train.load_checkpoint(str(out / "train_state" / "ckpt-40"))
    has_loss_scale = any("loss_scale" in n for n in state.get_variable_to_shape_map())
    assert has_loss_scale == (precision == "mixed_float16")


def train_on_one_and_two_devices(data_dir, tmp_path, repo_root, *extra):
    """Train without dropout on 1 device (batch 16) and on 2 logical CPU devices (8 each);
    {devices: output directory}."""
    config = json.loads((SAMPLE_DIR / "bert_config.json").read_text())
    config.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    config_file = tmp_path / "bert_config.json"
    config_file.write_text(json.dumps(config))
    outputs = {}
    for devices, per_replica_batch in ((1, 16), (2, 8)):
        out = outputs[devices] = tmp_path / f"devices{devices}"
        args = ["--input_dir", data_dir, "--output_dir", out, "--bert_config_file", config_file,
                "--vocab_file", SAMPLE_DIR / "vocab.txt", "--num_cpu_replicas", devices,
                "--train_batch_size", per_replica_batch, *[f"--{k}={v}" for k, v in TINY.items()],
                *extra]
        result = subprocess.run(trainer_command(args, logical_cpus=2), cwd=repo_root,
                                capture_output=True, text=True)
        assert result.returncode == 0, result.stderr[-3000:]
    return outputs


def model_weights(output_dir):
    reader = tf.train.load_checkpoint(str(output_dir / "bert_model.ckpt"))
    return {n: reader.get_tensor(n) for n in reader.get_variable_to_shape_map()}


@pytest.mark.slow
def test_two_logical_devices_give_the_one_device_result(data_dir, tmp_path, repo_root):
    outputs = train_on_one_and_two_devices(data_dir, tmp_path, repo_root, "--num_train_steps=20")
    for devices, out in outputs.items():
        manifest = json.loads((out / "manifest.json").read_text())
        assert (manifest["replicas"], manifest["train_batch_size"]) == (devices, 16)
    one, two = model_weights(outputs[1]), model_weights(outputs[2])
    for name in one:
        np.testing.assert_allclose(two[name], one[name], atol=1e-5, err_msg=name)


def free_port():
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_workers_under_tf_config_train_one_model(data_dir, tmp_path, repo_root):
    """What a TFJob runs: two worker processes, MultiWorkerMirroredStrategy over localhost."""
    cluster = {"worker": [f"localhost:{free_port()}", f"localhost:{free_port()}"]}
    out = tmp_path / "model"
    args = ["--input_dir", data_dir, "--output_dir", out, "--bert_config_file",
            SAMPLE_DIR / "bert_config.json", "--vocab_file", SAMPLE_DIR / "vocab.txt",
            "--train_batch_size", 8, "--num_train_steps", 20]
    args += [f"--{k}={v}" for k, v in TINY.items()]
    workers = []
    for index in range(2):
        env = dict(os.environ, EDU_MLM_NO_PROGRESS="1", TMPDIR=str(tmp_path),
                   TF_CONFIG=json.dumps({"cluster": cluster,
                                         "task": {"type": "worker", "index": index}}))
        workers.append(subprocess.Popen(trainer_command(args), cwd=repo_root, env=env,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                        text=True))
    logs = [w.communicate(timeout=300)[1] for w in workers]
    assert [w.returncode for w in workers] == [0, 0], logs[0][-2000:] + logs[1][-2000:]
    manifest = json.loads((out / "manifest.json").read_text())
    assert (manifest["replicas"], manifest["train_batch_size"]) == (2, 16)
    final = [line.split("final loss ")[1] for log in logs for line in log.splitlines()
             if "final loss" in line]
    assert len(final) == 2 and final[0] == final[1]  # one model, trained in lockstep
    assert not list(tmp_path.glob("edu-mlm-worker-1-*"))  # worker 1's private saves are gone


@pytest.mark.slow
def test_mixed_float16_on_two_devices_gives_the_one_device_first_step(data_dir, tmp_path,
                                                                      repo_root):
    """The loss-scale overflow flag reaches the cross-replica update as one value (it crashed
    with 'PerReplica' object has no attribute 'dtype'); the first update on 2 replicas equals
    the one-replica update to float16 rounding."""
    outputs = train_on_one_and_two_devices(
        data_dir, tmp_path, repo_root, "--num_train_steps=1", "--num_warmup_steps=0",
        "--precision=mixed_float16", "--shuffle_buffer_size=1")
    for out in outputs.values():
        state = tf.train.load_checkpoint(str(out / "train_state" / "ckpt-1"))
        scale = [n for n in state.get_variable_to_shape_map() if "loss_scale/scale" in n]
        assert scale and state.get_tensor(scale[0]) == 2.0**15  # a clean step, applied
    # Adam's first step moves every weight by about 3 x lr whatever the gradient's size, so
    # float16 rounding of the half-batch gradients shows only where a gradient is near Adam's
    # epsilon; a lost or doubled update would be a whole step off.
    lr = TINY["learning_rate"]
    one, two = model_weights(outputs[1]), model_weights(outputs[2])
    diff = np.concatenate([np.abs(two[n].astype(np.float64) - one[n]).ravel() for n in one])
    assert np.quantile(diff, 0.999) < 0.01 * lr and diff.max() < 0.5 * lr
