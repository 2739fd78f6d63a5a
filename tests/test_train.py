"""The trainer end to end on the sample: learning, resuming exactly, its outputs."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf
from helpers_train import SAMPLE_DIR, write_pretraining_data

from components.bert.arguments import BertInitArguments
from components.bert.init import init_random_model
from components.common.errors import UserError
from components.evaluate.arguments import EvaluateArguments
from components.evaluate.heldout import evaluate
from components.train.arguments import TrainArguments
from components.train.loop import train

TINY = dict(train_batch_size=16, max_seq_length=32, max_predictions_per_seq=5,
            num_warmup_steps=20, learning_rate=2e-3, log_every_n_steps=50)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("ptd")
    write_pretraining_data(directory)
    return directory


@pytest.fixture(scope="module")
def base_model(tmp_path_factory):
    directory = tmp_path_factory.mktemp("base") / "bert"
    init_random_model(BertInitArguments(
            str(SAMPLE_DIR / "bert_config.json"), str(SAMPLE_DIR / "vocab.txt"),
                      str(directory), random_seed=1))
    return directory


def read_weights(prefix):
    reader = tf.train.load_checkpoint(str(prefix))
    return {n: reader.get_tensor(n) for n in reader.get_variable_to_shape_map()}


@pytest.mark.slow
def test_training_lowers_held_out_loss_and_writes_a_google_model(data_dir, base_model,
                                                                  tmp_path):
    before = evaluate(EvaluateArguments(str(data_dir), str(base_model)))
    out = tmp_path / "trained"
    summary = train(TrainArguments(str(data_dir), str(out), init_checkpoint=str(base_model),
                                   num_train_steps=300, save_checkpoints_steps=100,
                                   do_eval=True, **TINY))
    after = evaluate(EvaluateArguments(str(data_dir), str(out)))
    assert after["masked_lm_loss"] < before["masked_lm_loss"] - 1.0
    assert after["masked_lm_accuracy"] > before["masked_lm_accuracy"]
    assert summary["eval_masked_lm_loss"] == pytest.approx(after["masked_lm_loss"])

    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["kind"] == "bert_model" and manifest["global_step"] == 300
    assert (out / "vocab.txt").read_bytes() == (base_model / "vocab.txt").read_bytes()
    trained, initial = read_weights(out / "bert_model.ckpt"), read_weights(
        base_model / "bert_model.ckpt")
    assert int(trained.pop("global_step")) == 300
    assert set(trained) == set(initial)  # exactly Google's names, nothing private
    np.testing.assert_array_equal(trained["bert/pooler/dense/kernel"],
                                  initial["bert/pooler/dense/kernel"])
    assert not np.allclose(trained["bert/embeddings/word_embeddings"],
                           initial["bert/embeddings/word_embeddings"])

    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [50, 100, 150, 200, 250, 300]
    assert log[-1]["loss"] < log[0]["loss"]
    for key in ("masked_lm_accuracy", "learning_rate", "examples_per_sec", "tokens_per_sec",
                "model_tflops", "input_wait_fraction"):
        assert key in log[-1]
    assert list((out / "tensorboard").glob("events.out.tfevents.*"))


RESUME_SCRIPT = textwrap.dedent("""
    import json, sys
    import tensorflow as tf
    tf.config.experimental.enable_op_determinism()
    from components.train.arguments import TrainArguments
    from components.train.loop import train
    for kwargs in json.loads(sys.argv[1]):
        train(TrainArguments(**kwargs))
""")


def run_in_fresh_process(runs, repo_root):
    result = subprocess.run([sys.executable, "-c", RESUME_SCRIPT, json.dumps(runs)],
                            cwd=repo_root, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]


@pytest.mark.slow
def test_stop_and_resume_gives_the_same_weights_as_a_straight_run(data_dir, tmp_path,
                                                                  repo_root):
    common = dict(input_dir=str(data_dir), bert_config_file=str(SAMPLE_DIR / "bert_config.json"),
                  vocab_file=str(SAMPLE_DIR / "vocab.txt"), num_train_steps=40,
                  save_checkpoints_steps=1000, random_seed=99, **TINY)
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    run_in_fresh_process([dict(common, output_dir=str(straight)),
                          dict(common, output_dir=str(resumed), stop_at_step=20)], repo_root)
    assert not (resumed / "manifest.json").exists()  # stopped early: not a finished model
    assert read_weights(resumed / "bert_model.ckpt")["global_step"] == 20
    run_in_fresh_process([dict(common, output_dir=str(resumed))], repo_root)
    a, b = read_weights(straight / "bert_model.ckpt"), read_weights(resumed / "bert_model.ckpt")
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    assert json.loads((resumed / "manifest.json").read_text())["global_step"] == 40
    steps = [json.loads(x)["step"] for x in (resumed / "train_log.jsonl").read_text().splitlines()]
    assert steps == [20, 40]


@pytest.mark.slow
def test_trains_and_evaluates_on_the_pretraining_data_stage_output(base_model, tmp_path):
    from components.pretraining_data.arguments import PretrainingDataArguments
    from components.pretraining_data.create import create_pretraining_data

    data = tmp_path / "ptd"
    made = create_pretraining_data(PretrainingDataArguments(
            str(SAMPLE_DIR / "corpus.txt"), output_dir=str(data),
                                   vocab_file=str(SAMPLE_DIR / "vocab.txt"), max_seq_length=64,
                                   max_predictions_per_seq=10, dupe_factor=1,
                                   heldout_fraction=0.2, num_workers=1))
    out = tmp_path / "trained"
    summary = train(TrainArguments(
        str(data), str(out), init_checkpoint=str(base_model), train_batch_size=8,
        max_seq_length=64, max_predictions_per_seq=10, num_train_steps=20, num_warmup_steps=2,
        learning_rate=1e-3, do_eval=True))
    assert summary["global_step"] == 20
    assert summary["eval_num_examples"] == made["heldout_instances"]
    assert 0 < summary["eval_masked_lm_loss"] < 10

    # The same data refused for a model whose vocab differs (same size, other order).
    vocab_lines = (SAMPLE_DIR / "vocab.txt").read_text(encoding="utf-8").splitlines()
    swapped = tmp_path / "vocab.txt"
    swapped.write_text("\n".join(vocab_lines[1:] + vocab_lines[:1]) + "\n", encoding="utf-8")
    with pytest.raises(UserError, match="made with another vocab"):
        train(TrainArguments(str(data), str(tmp_path / "other"),
                             init_checkpoint=str(base_model), vocab_file=str(swapped),
                             max_seq_length=64, max_predictions_per_seq=10, num_train_steps=2,
                             num_warmup_steps=1))
