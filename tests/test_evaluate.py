"""Held-out evaluation: Google's weighting, every example counted, the CLI's JSON."""

import json
import subprocess
import sys

import numpy as np
import pytest
from helpers_faults import assert_one_line_user_error, run_stage_in_process
from helpers_train import SAMPLE_DIR, write_pretraining_data

from components.bert.arguments import BertInitArguments
from components.bert.checkpoint import load_model
from components.bert.init import init_random_model
from components.evaluate.arguments import EvaluateArguments
from components.evaluate.heldout import evaluate
from components.mlm.records import evaluation_dataset, list_input_files


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("ptd")
    counts = write_pretraining_data(directory)
    return directory, counts


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("model") / "bert"
    init_random_model(BertInitArguments(
            str(SAMPLE_DIR / "bert_config.json"), str(SAMPLE_DIR / "vocab.txt"),
                      str(directory), random_seed=5))
    return directory


def test_metrics_equal_numpy_weighted_over_every_example(data_dir, model_dir):
    directory, counts = data_dir
    # 7 does not divide the held-out count: the last, smaller batch must count too.
    assert counts["heldout"] % 7
    metrics = evaluate(EvaluateArguments(str(directory), str(model_dir), eval_batch_size=7))
    assert metrics["num_examples"] == counts["heldout"]

    model, _, _ = load_model(str(model_dir))
    files, _ = list_input_files(str(directory), "heldout")
    nll, correct, weights = [], [], []
    for batch in evaluation_dataset(files, 32, 32, 5):
        logits = model(batch["input_ids"], batch["input_mask"], batch["segment_ids"],
                       masked_lm_positions=batch["masked_lm_positions"]).numpy()
        logits = logits.astype(np.float64)
        log_probs = logits - np.log(np.exp(logits - logits.max(-1, keepdims=True)).sum(
            -1, keepdims=True)) - logits.max(-1, keepdims=True)
        ids = batch["masked_lm_ids"].numpy()
        nll.append(-np.take_along_axis(log_probs, ids[..., None], -1)[..., 0])
        correct.append(logits.argmax(-1) == ids)
        weights.append(batch["masked_lm_weights"].numpy())
    nll, correct, w = (np.concatenate(x) for x in (nll, correct, weights))
    loss = (w * nll).sum() / w.sum()
    assert metrics["num_masked_tokens"] == pytest.approx(w.sum())
    assert metrics["masked_lm_loss"] == pytest.approx(loss, rel=1e-5)
    assert metrics["masked_lm_accuracy"] == pytest.approx((w * correct).sum() / w.sum())
    assert metrics["perplexity"] == pytest.approx(np.exp(loss), rel=1e-5)
    # A random model over a 1797-token vocab is close to uniform.
    assert abs(metrics["masked_lm_loss"] - np.log(1797)) < 0.5


def test_max_eval_steps_limits_the_batches(data_dir, model_dir):
    directory, _ = data_dir
    metrics = evaluate(EvaluateArguments(str(directory), str(model_dir), eval_batch_size=10,
                                         max_eval_steps=2))
    assert metrics["num_examples"] == 20


def test_cli_writes_json_and_accepts_a_checkpoint_prefix(data_dir, model_dir, tmp_path,
                                                         repo_root):
    directory, counts = data_dir
    output = tmp_path / "eval.json"
    result = subprocess.run(
        [sys.executable, "-m", "components.evaluate", f"--input_dir={directory}",
         f"--init_checkpoint={model_dir / 'bert_model.ckpt'}", "--eval_batch_size", "16",
         "--output_file", str(output)], cwd=repo_root, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    written = json.loads(output.read_text())
    assert written["num_examples"] == counts["heldout"]
    assert json.loads(result.stdout)["masked_lm_loss"] == written["masked_lm_loss"]


def test_cli_records_of_another_length_is_one_line(tmp_path, model_dir, capfd, monkeypatch):
    """A glob of TFRecords without manifest whose sequences exceed the model's positions (the
    CLI's `__main__` in this process, as the fault suite runs it)."""
    directory = tmp_path / "long"
    write_pretraining_data(directory, max_seq_length=160, manifest=False)
    code, stderr = run_stage_in_process(
        "evaluate", [f"--input_dir={directory}/heldout-*", f"--init_checkpoint={model_dir}"],
        capfd, monkeypatch)
    assert_one_line_user_error(code, stderr, ["max_seq_length 160"])
