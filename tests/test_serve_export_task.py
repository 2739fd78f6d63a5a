"""The serve_export stage's latency and its pipeline task: a real 2-step student of the
distiller's test teacher (tests/helpers_distill.py) exported, checked and timed beside it
through `run_serve_export_task` (KFP's own artifact classes, as the executor passes them); a
skipped distillation exports the teacher and says so; the timing's bookkeeping (calls in turn,
warm-up, when a cell stops, percentiles, speed-ups, the goal's cell, the cores a quota allows)
on plain functions. Nothing here asserts a speed: figures are checked for what they are made
of, not for how fast anything ran (bench/serving.py measures)."""

import json
import os

import pytest
from kfp import dsl

from components.common import lineage
from components.serve_export import latency
from components.serve_export.__main__ import main
from components.serve_export.arguments import ExportArguments
from components.serve_export.tasks import EXPORTED, run_serve_export_task
from tests.helpers_distill import teacher_and_data
from tests.helpers_faults import assert_one_line_user_error

GRID = {"latency_batch_sizes": [1, 2], "latency_seq_lengths": [8, 16], "latency_runs": 2,
        "latency_seconds_per_cell": 0.0}


@pytest.fixture(scope="session")
def distill_inputs(tmp_path_factory):
    return teacher_and_data(tmp_path_factory)


@pytest.fixture(autouse=True)
def quiet(monkeypatch):
    monkeypatch.setenv("EDU_MLM_NO_PROGRESS", "1")


@pytest.fixture(scope="module")
def student_dir(distill_inputs, tmp_path_factory):
    """A 2-layer student after 2 steps (the distill stage's output directory)."""
    from components.distill.arguments import DistillArguments
    from components.distill.loop import distill

    out = str(tmp_path_factory.mktemp("distilled") / "student")
    distill(DistillArguments(
        teacher_dir=distill_inputs.teacher_dir, input_dir=distill_inputs.data_dir,
        output_dir=out, student_num_hidden_layers=2, num_train_steps=2, num_warmup_steps=1,
        train_batch_size=8, do_eval=False))
    return out


def run_task(student, distill_inputs, root, **settings):
    """The task on KFP artifacts: (its result, the serving model artifact, the Metrics file's
    values)."""
    serving_model = dsl.Model(uri=str(root / "serving_model"))
    metrics = dsl.Metrics(uri=str(root / "metrics" / "values.json"))
    result = run_serve_export_task(
        dsl.Model(uri=student), dsl.Model(uri=distill_inputs.teacher_dir),
        dsl.Dataset(uri=distill_inputs.data_dir), serving_model, metrics,
        ExportArguments(quantize="int8", min_int8_agreement=0.0, max_parity_examples=16,
                        **settings))
    with open(metrics.path, encoding="utf-8") as f:
        return result, serving_model, json.load(f)


def made_from(distill_inputs):
    with open(os.path.join(distill_inputs.teacher_dir, "manifest.json"), encoding="utf-8") as f:
        fingerprint = json.load(f)[lineage.MODEL]
    return {lineage.DATA: lineage.data_fingerprint(distill_inputs.data_dir),
            lineage.MODEL: fingerprint}


@pytest.mark.slow
def test_the_task_exports_the_student_and_times_it_beside_its_teacher(
        distill_inputs, student_dir, tmp_path):
    result, serving_model, flat = run_task(student_dir, distill_inputs, tmp_path, **GRID)
    lineage_keys = made_from(distill_inputs)
    assert serving_model.metadata == {**lineage_keys, EXPORTED: "student"}
    out = serving_model.path
    manifest = json.loads(open(os.path.join(out, "manifest.json")).read())
    assert manifest["model"]["weights_sha256"] == lineage.weights_sha256(student_dir)
    # The encoder-only twins timed for the mlm head are not left in the output.
    assert sorted(os.listdir(out)) == sorted([*manifest["files"], "manifest.json"])
    assert result["exported"]["role"] == "student" and "why" not in result["exported"]
    assert result["exported"]["teacher"]["weights_sha256"] == lineage.weights_sha256(
        distill_inputs.teacher_dir)

    timed = result["latency"]
    threads = latency.thread_settings()
    assert timed["settings"]["threads"] == threads and timed["baseline"] == "teacher_pytorch"
    assert "without the MLM head" in timed["settings"]["graphs"]
    assert {name: (m["label"], m["num_hidden_layers"]) for name, m in timed["models"].items()} \
        == {"teacher_pytorch": ("teacher, PyTorch", 4), "pytorch": ("student, PyTorch", 2),
            "onnx_fp32": ("student, fp32 ONNX", 2), "onnx_int8": ("student, int8 ONNX", 2)}
    assert [(c["threads"], c["batch"], c["sequence"]) for c in timed["cells"]] == [
        (t, b, s) for t in threads for b in (1, 2) for s in (8, 16)]
    for cell in timed["cells"]:
        assert list(cell["models"]) == list(timed["models"])
        base = cell["models"]["teacher_pytorch"]
        for summary in cell["models"].values():
            assert summary["runs"] == 2
            assert 0 < summary["p50_ms"] <= summary["p95_ms"] <= summary["p99_ms"]
            assert summary["p50_speedup"] == pytest.approx(base["p50_ms"] / summary["p50_ms"])
            assert summary["throughput_speedup"] == pytest.approx(
                summary["sequences_per_second"] / base["sequences_per_second"])

    # The Metrics: lineage, the parity figures, and the goal's cell (batch 1 at the longest
    # sequence here, the grid has no 128) per thread setting.
    checked = result["parity"]
    assert {k: flat[k] for k in lineage_keys} == lineage_keys
    assert flat["exported_teacher"] == 0
    assert flat["int8_top1_agreement"] == checked["int8"]["top1_agreement"]
    assert flat["fp32_max_abs_diff_logits"] == checked["fp32"]["max_abs_diff_logits"]
    assert flat["parity_masked_positions"] == checked["data"]["masked_positions"] > 0
    for count in threads:
        cell = next(c for c in timed["cells"] if (c["threads"], c["batch"], c["sequence"]) ==
                    (count, 1, 16))
        assert flat[f"latency_onnx_int8_p50_speedup_1x16_{count}t"] == \
            cell["models"]["onnx_int8"]["p50_speedup"]
        assert flat[f"latency_teacher_pytorch_p50_ms_1x16_{count}t"] == \
            cell["models"]["teacher_pytorch"]["p50_ms"]
    assert not any(k.startswith("latency_teacher_pytorch_p50_speedup") for k in flat)


@pytest.mark.slow
def test_a_skipped_distillation_exports_the_teacher_and_says_so(distill_inputs, tmp_path):
    from components.distill.tasks import run_distill_task

    skipped = str(tmp_path / "skipped_student")
    run_distill_task(dsl.Model(uri=distill_inputs.teacher_dir),
                     dsl.Dataset(uri=distill_inputs.data_dir), dsl.Model(uri=skipped),
                     dsl.Metrics(uri=str(tmp_path / "distill_metrics")), None)
    result, serving_model, flat = run_task(
        skipped, distill_inputs, tmp_path, latency_batch_sizes=[1], latency_seq_lengths=[8],
        latency_runs=1, latency_seconds_per_cell=0.0)
    assert serving_model.metadata == {**made_from(distill_inputs), EXPORTED: "teacher"}
    assert result["exported"] == {
        "role": "teacher", "why": "distillation was skipped (distill_num_train_steps is 0), so "
                                  "the teacher is exported in the student's place"}
    manifest = json.loads(open(os.path.join(serving_model.path, "manifest.json")).read())
    assert manifest["model"]["weights_sha256"] == lineage.weights_sha256(
        distill_inputs.teacher_dir)
    assert result["latency"]["baseline"] == "pytorch"
    assert list(result["latency"]["models"]) == ["pytorch", "onnx_fp32", "onnx_int8"]
    assert result["latency"]["models"]["pytorch"]["label"] == "teacher, PyTorch"
    assert flat["exported_teacher"] == 1


@pytest.mark.slow
def test_a_student_of_another_teacher_is_refused(student_dir, tmp_path, capsys):
    """The student given as its own teacher: its manifest names other weights."""
    with pytest.raises(SystemExit) as stop:
        main(["--model_dir", student_dir, "--teacher_dir", student_dir, "--output_dir",
              str(tmp_path / "out")])
    assert_one_line_user_error(stop.value.code, capsys.readouterr().err,
                               ["another teacher", "--teacher_dir", student_dir])
    assert os.listdir(tmp_path) == []


@pytest.mark.slow
def test_a_latency_sequence_longer_than_the_positions_is_refused(distill_inputs, tmp_path,
                                                                 capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--model_dir", distill_inputs.teacher_dir, "--output_dir", str(tmp_path / "out"),
              "--latency_seq_lengths", "32", "256"])
    assert_one_line_user_error(stop.value.code, capsys.readouterr().err,
                               ["--latency_seq_lengths 256", "128 positions", "--model_dir"])
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("flag", ["--latency_batch_sizes", "--latency_seq_lengths"])
def test_a_latency_size_below_1_is_one_line(flag, tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--model_dir", str(tmp_path), "--output_dir", str(tmp_path / "out"), flag, "4",
              "0"])
    assert_one_line_user_error(stop.value.code, capsys.readouterr().err, [flag, "4 0"])


def test_a_cell_calls_the_models_in_turn_after_their_warm_up():
    calls = []

    def model(name):
        return lambda arrays: calls.append((name, arrays))

    models = {"a": model("a"), "b": model("b")}
    timed = latency.time_cell(models, "x", min_runs=3, max_runs=100, seconds=0.0)
    warm_up = latency.WARMUP_CALLS
    assert [name for name, _ in calls] == ["a"] * warm_up + ["b"] * warm_up + ["a", "b"] * 3
    assert all(arrays == "x" for _, arrays in calls)
    assert {name: len(values) for name, values in timed.items()} == {"a": 3, "b": 3}
    calls.clear()
    timed = latency.time_cell(models, "x", min_runs=1, max_runs=4, seconds=3600.0)
    assert len(calls) == 2 * (warm_up + 4) and len(timed["a"]) == 4


def test_a_summary_is_percentiles_throughput_and_speed_ups():
    summary = latency.summarize([0.010] * 99 + [1.0], batch=8)
    assert summary["p50_ms"] == pytest.approx(10.0) and summary["p95_ms"] == pytest.approx(10.0)
    assert 10.0 < summary["p99_ms"] <= 1000.0 and summary["runs"] == 100
    assert summary["sequences_per_second"] == pytest.approx(8 * 100 / (0.99 + 1.0))
    models = latency.against({"base": {"p50_ms": 30.0, "sequences_per_second": 10.0},
                              "fast": {"p50_ms": 10.0, "sequences_per_second": 25.0}}, "base")
    assert (models["base"]["p50_speedup"], models["base"]["throughput_speedup"]) == (1.0, 1.0)
    assert (models["fast"]["p50_speedup"], models["fast"]["throughput_speedup"]) == (3.0, 2.5)


def test_the_headline_is_the_goals_cell_or_the_smallest_batch_at_the_longest_sequence():
    def figures(batches, sequences):
        cells = [{"batch": b, "sequence": s, "threads": t} for t in (1, 4) for b in batches
                 for s in sequences]
        return {"settings": {"batch_sizes": batches, "seq_lengths": sequences}, "cells": cells}

    picked = latency.headline_cells(figures([1, 8], [32, 128, 512]))
    assert [(c["batch"], c["sequence"], c["threads"]) for c in picked] == [(1, 128, 1),
                                                                           (1, 128, 4)]
    picked = latency.headline_cells(figures([4, 2], [16, 64]))
    assert [(c["batch"], c["sequence"]) for c in picked] == [(2, 64), (2, 64)]


@pytest.mark.parametrize("cpu_max, expected", [("max 100000", None), ("150000 100000", 1),
                                               ("100000000 100000", None)])
def test_all_threads_are_the_cores_the_cgroup_quota_allows(cpu_max, expected, tmp_path,
                                                          monkeypatch):
    """A pod's CPU limit (cgroup v2 cpu.max, quota and period) caps the cores: 1.5 CPUs is one
    thread; no quota, or one above the cores, leaves the process's affinity."""
    path = tmp_path / "cpu.max"
    path.write_text(cpu_max + "\n")
    monkeypatch.setattr(latency, "_CGROUP_V2_MAX", str(path))
    affinity = len(os.sched_getaffinity(0))
    assert latency.usable_cores() == (expected or affinity)
    assert latency.thread_settings() == sorted({1, expected or affinity})
