"""Fingerprints of models and data, and the report's refusal of inputs of different models."""

import json
import shutil

import pytest

from components.common import lineage
from components.common.errors import UserError
from components.report.lineage import check_report_inputs


def _model(directory, weights):
    directory.mkdir(parents=True)
    (directory / "bert_model.ckpt.index").write_bytes(b"index")
    (directory / "bert_model.ckpt.data-00000-of-00001").write_bytes(weights)
    return directory


def _hf_model(directory, fingerprint):
    directory.mkdir(parents=True)
    (directory / "manifest.json").write_text(json.dumps({lineage.MODEL: fingerprint}))
    return directory


def test_a_fingerprint_follows_the_content_not_the_path(tmp_path):
    model = _model(tmp_path / "a", b"weights")
    copy = tmp_path / "b"
    shutil.copytree(model, copy)
    assert lineage.model_fingerprint(str(model)) == lineage.model_fingerprint(str(copy))
    assert lineage.model_fingerprint(str(model)) == \
        lineage.model_fingerprint(str(model / "bert_model.ckpt"))
    (copy / "bert_model.ckpt.data-00000-of-00001").write_bytes(b"weightz")
    assert lineage.model_fingerprint(str(model)) != lineage.model_fingerprint(str(copy))
    with pytest.raises(UserError, match="no checkpoint files"):
        lineage.model_fingerprint(str(tmp_path))


@pytest.fixture
def one_run(tmp_path):
    """Inputs of a report that all belong together: (directories, metrics)."""
    trained = _model(tmp_path / "model", b"trained")
    base = _model(tmp_path / "base", b"base")
    data = tmp_path / "data"
    data.mkdir()
    (data / "manifest.json").write_text('{"kind": "pretraining_data"}')
    t, b, d = (lineage.model_fingerprint(str(trained)), lineage.model_fingerprint(str(base)),
               lineage.data_fingerprint(str(data)))
    dirs = {"pretraining_data_dir": str(data), "trained_model_dir": str(trained),
            "base_hf_model_dir": str(_hf_model(tmp_path / "base_hf", b)),
            "hf_model_dir": str(_hf_model(tmp_path / "hf", t))}
    metrics = {"train_metrics": {lineage.MODEL: t, lineage.DATA: d, "loss": 1.0},
               "data_metrics": {lineage.DATA: d},
               "trained_eval": {lineage.MODEL: t, lineage.DATA: d},
               "base_eval": {lineage.MODEL: b, lineage.DATA: d},
               "parity": {lineage.MODEL: t}, "base_parity": {lineage.MODEL: b},
               "distill_metrics": {lineage.MODEL: t, lineage.DATA: d},
               "downstream": {lineage.MODEL: t},
               "serving_model": {lineage.MODEL: t, lineage.DATA: d}}
    return dirs, metrics


def test_inputs_of_one_run_pass(one_run):
    dirs, metrics = one_run
    check_report_inputs(metrics=metrics, **dirs)


@pytest.mark.parametrize("stale", ["train_metrics", "trained_eval", "parity", "base_eval",
                                   "base_parity", "distill_metrics", "downstream",
                                   "serving_model"])
def test_a_metrics_input_of_another_model_is_refused_by_name(one_run, stale):
    dirs, metrics = one_run
    metrics[stale] = {**metrics[stale], lineage.MODEL: "0123456789abcdef"}
    with pytest.raises(UserError, match=f"^{stale} was made from another (base )?model "
                       r"\(0123456789abcdef\)"):
        check_report_inputs(metrics=metrics, **dirs)


def test_a_converted_model_of_another_model_is_refused(one_run, tmp_path):
    dirs, metrics = one_run
    dirs["hf_model_dir"] = str(_hf_model(tmp_path / "old_hf", "fedcba9876543210"))
    with pytest.raises(UserError, match="^hf_model was made from another model") as err:
        check_report_inputs(metrics=metrics, **dirs)
    assert "rerun STEP --from RUN_DIR" in str(err.value)


@pytest.mark.parametrize("stale", ["data_metrics", "train_metrics", "base_eval",
                                   "trained_eval", "distill_metrics", "serving_model"])
def test_results_of_other_data_are_refused(one_run, stale):
    dirs, metrics = one_run
    metrics[stale] = {**metrics[stale], lineage.DATA: "0000000000000000"}
    with pytest.raises(UserError, match=f"^{stale} was made from another pretraining data"):
        check_report_inputs(metrics=metrics, **dirs)


def test_inputs_made_before_fingerprints_were_recorded_are_not_checked(one_run):
    dirs, metrics = one_run
    metrics["trained_eval"] = {"masked_lm_loss": 2.0}
    check_report_inputs(metrics=metrics, **dirs)


def test_the_report_cli_refuses_a_converted_model_of_another_model(one_run, tmp_path, capsys):
    from components.report.__main__ import main

    dirs, metrics = one_run
    (tmp_path / "model" / "manifest.json").write_text('{"kind": "bert_model"}')
    for hf in ("base_hf_model_dir", "hf_model_dir"):
        (tmp_path / dirs[hf] / "parity.json").write_text("{}")
    stale = _hf_model(tmp_path / "stale_hf", "fedcba9876543210")
    (stale / "parity.json").write_text("{}")
    for name in ("base_eval", "trained_eval"):
        (tmp_path / f"{name}.json").write_text("{}")
    with pytest.raises(SystemExit) as exit_info:
        main(["model", "--pretraining_data_dir", dirs["pretraining_data_dir"],
              "--trained_model_dir", dirs["trained_model_dir"],
              "--base_hf_model_dir", dirs["base_hf_model_dir"], "--hf_model_dir", str(stale),
              "--base_eval", str(tmp_path / "base_eval.json"),
              "--trained_eval", str(tmp_path / "trained_eval.json"),
              "--output_file", str(tmp_path / "report.html"),
              "--markdown_file", str(tmp_path / "summary.md")])
    assert exit_info.value.code == 2
    assert "hf_model was made from another model" in capsys.readouterr().err
    assert not (tmp_path / "report.html").exists()
