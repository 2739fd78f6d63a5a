"""End to end: the whole pipeline through kfp.local on the sample (what `make run` does, with
fewer steps), the second run served from the cache, `rerun train` reusing the run's data and
rerunning what reads the model, and a report over results of different models refused."""

import json
import os
import re
import subprocess
import sys

import pytest
from helpers_hdfs import WebHdfsServer
from helpers_report import external_references, render

from components.common import lineage
from components.pipeline import definition

pytestmark = pytest.mark.slow

FAST = ["num_shards=2", "dupe_factor=1", "num_train_steps=24", "num_warmup_steps=2",
        "log_every_n_steps=4", "fill_mask_examples=3", "distill_num_train_steps=8",
        "distill_num_warmup_steps=2"]


def _run_local(repo_root, root, db, *extra):
    args = [sys.executable, "pipeline.py", "run-local", "--pipeline-root", str(root)]
    for param in [*FAST, f"source_url=sqlite:///{db}",
                  "query=SELECT summary FROM articles ORDER BY id", *extra]:
        args += ["--param", param]
    result = subprocess.run(args, cwd=repo_root, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    run_dir = result.stdout.rsplit("run directory:", 1)[1].split()[0]
    with open(os.path.join(run_dir, "run.json"), encoding="utf-8") as f:
        return result.stdout, run_dir, json.load(f)


@pytest.fixture(scope="module")
def first_run(repo_root, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pipeline")
    db = tmp / "sample.db"
    subprocess.run([sys.executable, "scripts/make_sample_db.py", "--output", str(db)],
                   cwd=repo_root, check=True, capture_output=True)
    root = tmp / "runs"
    stdout, run_dir, record = _run_local(repo_root, root, db)
    return {"root": root, "db": db, "stdout": stdout, "run_dir": run_dir, "record": record}


def test_every_artifact_and_metric_exists(first_run):
    artifacts = first_run["record"]["artifacts"]
    assert set(artifacts) == set(definition.ARTIFACTS)
    for name, (artifact_type, _) in definition.ARTIFACTS.items():
        assert os.path.exists(artifacts[name]["uri"]), name
        if artifact_type.schema_title == "system.Metrics":
            assert artifacts[name]["metadata"], name
    assert all(step["status"] == "ran" for step in first_run["record"]["steps"])
    assert "transformers model:" in first_run["stdout"]


def test_heldout_loss_drops_after_training(first_run):
    artifacts = first_run["record"]["artifacts"]
    before = artifacts["base_eval"]["metadata"]["masked_lm_loss"]
    after = artifacts["trained_eval"]["metadata"]["masked_lm_loss"]
    assert after < before
    report = artifacts["report_metrics"]["metadata"]
    assert report["masked_lm_loss_before"] == before and report["masked_lm_loss_after"] == after
    assert report["train_instances"] == artifacts["data_metrics"]["metadata"]["train_instances"]


@pytest.mark.parametrize("name", ["hf_model", "student"])
def test_transformers_model_and_student_answer_fill_mask(first_run, name):
    from transformers import AutoModelForMaskedLM, pipeline

    model_dir = first_run["record"]["artifacts"][name]["uri"]
    fill = pipeline("fill-mask", model=model_dir, tokenizer=model_dir, device=-1)
    answers = fill(f"学生在课堂上认真{fill.tokenizer.mask_token}习。", top_k=5)
    assert len(answers) == 5
    assert all(a["token_str"].strip() and 0 <= a["score"] <= 1 for a in answers)
    assert [a["score"] for a in answers] == sorted((a["score"] for a in answers), reverse=True)
    layers = AutoModelForMaskedLM.from_pretrained(model_dir).config.num_hidden_layers
    assert layers == (2 if name == "hf_model" else 1)  # run-local's demo student: 1 of 2


def test_reports_render_in_a_browser(first_run, tmp_path):
    artifacts = first_run["record"]["artifacts"]
    for name in ("data_report", "report"):
        with open(artifacts[name]["uri"], encoding="utf-8") as f:
            text = f.read()
        assert external_references(text) == [], name
        assert render(artifacts[name]["uri"], tmp_path / f"{name}.png") == [], name
        assert (tmp_path / f"{name}.png").stat().st_size > 20_000, name
    with open(artifacts["summary"]["uri"], encoding="utf-8") as f:
        assert "masked_lm_loss_after" in f.read()


def test_second_run_is_served_from_the_cache(first_run, repo_root):
    _, _, record = _run_local(repo_root, first_run["root"], first_run["db"])
    assert {step["status"] for step in record["steps"]} == {"cached"}
    first = first_run["record"]["artifacts"]
    assert all(record["artifacts"][n]["uri"] == first[n]["uri"] for n in first)


def _rerun(repo_root, root, *args):
    result = subprocess.run([sys.executable, "pipeline.py", "rerun", *args, "--pipeline-root",
                             str(root)], cwd=repo_root, capture_output=True, text=True,
                            timeout=900)
    run_dir = None
    if result.returncode == 0:
        run_dir = result.stdout.rsplit("run directory:", 1)[1].split()[0]
        with open(os.path.join(run_dir, "run.json"), encoding="utf-8") as f:
            return result, run_dir, json.load(f)
    return result, run_dir, None


def test_rerun_train_reruns_every_step_that_reads_the_model(first_run, repo_root):
    """The users' sequence: rerun train with other steps, then the report from the latest run:
    every number in the report belongs to the new model; the base model's evaluation and
    conversion are the earlier run's (nothing they read changed)."""
    result, run_dir, record = _rerun(repo_root, first_run["root"], "train", "--from",
                                     first_run["run_dir"], "--param", "num_train_steps=12")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert run_dir != first_run["run_dir"]
    assert [s["step"] for s in record["steps"]] == [
        "train", "evaluate base model", "evaluate trained model", "convert base model",
        "convert trained model", "distill student", "serve export (ONNX)", "downstream task",
        "report"]
    reused = {"evaluate base model", "convert base model"}
    assert {s["step"] for s in record["steps"] if s["status"] == "reused"} == reused
    assert {s["status"] for s in record["steps"] if s["step"] not in reused} <= {"ran", "cached"}
    assert "reusing the earlier run's evaluate-base-model, convert-base-model" in result.stdout
    # Upstream of train, and the base model's results, are imported, not rerun.
    assert not {"extract", "merge-pretraining-data", "evaluate-base-model",
                "convert-base-model"} & set(os.listdir(run_dir))
    first, artifacts = first_run["record"]["artifacts"], record["artifacts"]
    for name in ("pretraining_data", "base_eval", "base_hf_model", "base_parity"):
        assert artifacts[name] == first[name], name
    for name in ("model", "trained_eval", "hf_model", "parity", "student", "serving_model",
                 "downstream", "report", "report_metrics"):
        assert artifacts[name]["uri"] != first[name]["uri"], name
    with open(os.path.join(artifacts["model"]["uri"], "manifest.json"), encoding="utf-8") as f:
        assert json.load(f)["global_step"] == 12
    new_model = lineage.model_fingerprint(artifacts["model"]["uri"])
    assert new_model != lineage.model_fingerprint(first["model"]["uri"])
    for name in ("train_metrics", "trained_eval", "parity", "distill_metrics", "serving_metrics",
                 "downstream_metrics"):
        assert artifacts[name]["metadata"][lineage.MODEL] == new_model, name
    headline = artifacts["report_metrics"]["metadata"]
    assert headline["train_steps"] == 12
    assert headline["masked_lm_loss_after"] == artifacts["trained_eval"]["metadata"][
        "masked_lm_loss"]
    assert headline["masked_lm_loss_before"] == first["base_eval"]["metadata"]["masked_lm_loss"]
    footer = result.stdout.rsplit("transformers model:", 1)[1].splitlines()[0]
    assert artifacts["hf_model"]["uri"] in footer and "earlier run" not in footer

    result, _, again = _rerun(repo_root, first_run["root"], "report", "--only", "--from",
                              "latest", "--param", "fill_mask_examples=2")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert f"rerunning from {run_dir}" in result.stdout
    assert [s["step"] for s in again["steps"]] == ["report"]
    for key in ("train_steps", "masked_lm_loss_after", "masked_lm_accuracy_after"):
        assert again["artifacts"]["report_metrics"]["metadata"][key] == headline[key], key


def test_a_report_of_results_of_different_models_is_refused(first_run, repo_root):
    """`rerun train --only` leaves the earlier model's evaluation and conversion in its run; a
    report over that run is refused in one line naming the stale input."""
    result, run_dir, record = _rerun(repo_root, first_run["root"], "train", "--only", "--from",
                                     first_run["run_dir"], "--param", "num_train_steps=8")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert [s["step"] for s in record["steps"]] == ["train"]
    assert {d for d in os.listdir(run_dir) if os.path.isdir(os.path.join(run_dir, d))} <= \
        {"train", "importer", "importer-2"}
    first = first_run["record"]["artifacts"]
    footer = result.stdout.rsplit("transformers model:", 1)[1].splitlines()[0]
    assert first["hf_model"]["uri"] in footer and "an earlier run's" in footer

    result, _, _ = _rerun(repo_root, first_run["root"], "report", "--only", "--from", run_dir)
    assert result.returncode == 2, result.stdout[-3000:] + result.stderr[-3000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert "step 'report' stopped: trained_eval was made from another model" in errors[0]
    assert "Traceback" not in result.stdout + result.stderr

    # The same mix handed over as NAME=URI: the metrics come back from their files.
    mixed = {**first, "model": record["artifacts"]["model"],
             "train_metrics": record["artifacts"]["train_metrics"]}
    uris = ",".join(f"{name}={mixed[name]['uri']}" for name in definition.STAGES["report"].inputs)
    result, _, _ = _rerun(repo_root, first_run["root"], "report", "--from", uris)
    assert result.returncode == 2
    assert "trained_eval was made from another model" in result.stderr


def test_rerun_distill_from_the_runs_teacher_and_skip_it(first_run, repo_root):
    """`rerun distill` reads the run's converted model; with 0 steps it is skipped: the serving
    export takes the teacher, the downstream step leaves the student out, and the report (rerun
    after them) says so instead of showing a student."""
    result, run_dir, record = _rerun(repo_root, first_run["root"], "distill", "--from",
                                     first_run["run_dir"], "--param", "distill_num_train_steps=0")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert [s["step"] for s in record["steps"]] == [
        "distill student", "serve export (ONNX)", "downstream task", "report"]
    artifacts = record["artifacts"]
    assert artifacts["serving_model"]["metadata"]["exported_model"] == "teacher"
    assert artifacts["serving_metrics"]["metadata"]["exported_teacher"] == 1
    assert list(artifacts["downstream"]["metadata"]["left_out"]) == ["student"]
    assert "student_accuracy_mean" not in artifacts["downstream_metrics"]["metadata"]
    assert "adapted_accuracy_mean" in artifacts["downstream_metrics"]["metadata"]
    student = record["artifacts"]["student"]["uri"]
    with open(os.path.join(student, "manifest.json"), encoding="utf-8") as f:
        assert json.load(f)["skipped"] is True
    assert "student_top1_agreement" not in record["artifacts"]["report_metrics"]["metadata"]
    with open(record["artifacts"]["report"]["uri"], encoding="utf-8") as f:
        assert "Distillation was skipped" in f.read()


def test_the_student_is_exported_for_serving_and_the_three_models_fine_tuned(first_run,
                                                                           repo_root):
    """After distill: the student's ONNX graphs, checked against PyTorch on the run's held-out
    records, and base, adapted model and student fine-tuned on the shipped labelled sample
    (`make run`'s demo task); all three of the run's models, and the report shows both."""
    import hashlib

    artifacts = first_run["record"]["artifacts"]
    teacher = artifacts["distill_metrics"]["metadata"][lineage.MODEL]
    serving, exported = artifacts["serving_metrics"]["metadata"], artifacts["serving_model"]
    assert exported["metadata"] == {lineage.DATA: serving[lineage.DATA], lineage.MODEL: teacher,
                                    "exported_model": "student"}
    assert serving[lineage.DATA] == artifacts["distill_metrics"]["metadata"][lineage.DATA]
    assert {"model.onnx", "model.int8.onnx", "vocab.txt"} <= set(os.listdir(exported["uri"]))
    assert serving["exported_teacher"] == 0
    assert serving["fp32_max_abs_diff_logits"] <= 1e-4
    assert 0.98 <= serving["int8_top1_agreement"] <= 1
    assert serving["parity_masked_positions"] > 0
    assert serving["latency_onnx_int8_p50_ms_1x128_1t"] > 0

    downstream = artifacts["downstream_metrics"]["metadata"]
    assert downstream[lineage.MODEL] == teacher
    with open(os.path.join(repo_root, "data", "sample", "labelled.jsonl"), "rb") as f:
        assert downstream["labelled_sha256"] == hashlib.sha256(f.read()).hexdigest()
    assert downstream["train_examples"] + downstream["eval_examples"] == 120
    for model in ("base", "adapted", "student"):
        assert 0 <= downstream[f"{model}_accuracy_mean"] <= 1, model
    assert artifacts["downstream"]["metadata"]["left_out"] == {}

    report = artifacts["report_metrics"]["metadata"]
    assert report["downstream_student_accuracy"] == downstream["student_accuracy_mean"]
    assert report["serving_int8_top1_agreement"] == serving["int8_top1_agreement"]
    with open(artifacts["report"]["uri"], encoding="utf-8") as f:
        html = f.read()
    assert "<h2>Downstream task</h2>" in html and "<h2>Serving</h2>" in html


def test_rerun_export_copies_the_models_to_hdfs(first_run, repo_root, tmp_path):
    """The `export` step (a dsl.If branch, skipped by the runs above) against a WebHDFS
    stand-in server (no Hadoop here; see helpers_hdfs)."""
    server = WebHdfsServer(str(tmp_path / "hdfs")).start()
    try:
        result = subprocess.run(
            [sys.executable, "pipeline.py", "rerun", "export", "--from", first_run["run_dir"],
             "--pipeline-root", str(first_run["root"]),
             "--param", "export_hdfs_dir=/user/edu/models/run-1",
             "--param", f"hdfs_url={server.url}"],
            cwd=repo_root, capture_output=True, text=True, timeout=300,
            env={**os.environ, "EDU_MLM_HDFS_USER": "edu"})
    finally:
        server.stop()
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    artifacts = first_run["record"]["artifacts"]
    for name, local in (("tf_model", artifacts["model"]["uri"]),
                        ("hf_model", artifacts["hf_model"]["uri"]),
                        ("student", artifacts["student"]["uri"]),
                        ("serving_model", artifacts["serving_model"]["uri"])):
        exported = server.local(f"/user/edu/models/run-1/{name}")
        assert sorted(os.listdir(exported)) == sorted(os.listdir(local)), name


def test_own_text_replaces_the_demo_source_and_a_step_error_is_one_line(first_run, repo_root,
                                                                        tmp_path):
    """`--param input_files=…` drops the demo's query; a UserError inside a step reaches the
    console as its own one line, the traceback only in run.log."""
    text = tmp_path / "preTrain_summary_raw.txt"
    text.write_text("短句\n也短\n", encoding="utf-8")  # nothing survives min_chars 10
    result = subprocess.run(
        [sys.executable, "pipeline.py", "run-local", "--pipeline-root", str(first_run["root"]),
         "--param", f"input_files={text}"], cwd=repo_root, capture_output=True, text=True,
        timeout=600)
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert "step 'extract' stopped:" in errors[0] and "min_chars" in errors[0], errors[0]
    assert "--query" not in errors[0]
    assert "Traceback" not in result.stdout + result.stderr
    run_dir = re.search(re.escape(str(first_run["root"])) + r"/[^) ;]+", errors[0])[0]
    assert "Traceback" in open(os.path.join(run_dir, "run.log"), encoding="utf-8").read()


def test_console_shows_a_line_per_step_and_the_log_keeps_the_rest(first_run):
    before_table = first_run["stdout"].split("\nstep ", 1)[0].strip().splitlines()
    assert 0 < len(before_table) <= 20, before_table
    assert not [line for line in before_table if "KFP Executor" in line or "%|" in line]
    with open(os.path.join(first_run["run_dir"], "run.log"), encoding="utf-8") as f:
        log = f.read()
    assert "KFP Executor" in log and "\x1b[" not in log
