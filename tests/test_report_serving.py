"""The model report's "Serving" section: the parity figures and the goal in the words a reader
gets, the latency as a table (one row per cell, a column per model, the speed-ups) and a chart
per thread setting, the headline metrics with their labels, a teacher exported in the student's
place saying why, an export of other weights refused; and, slow, the pipeline task's real export
through the report CLI, rendered in headless Chromium. The fast tests' latency figures are made
by the stage's own `latency.summarize` and `latency.against` from fixed call times."""

import html
import json
import os
import re

import pytest
from helpers_report import machine_paths, raw_keys, visible_text

from components.common import lineage
from components.common.errors import UserError
from components.report import labels, serving
from components.serve_export import latency

MODELS = {"teacher_pytorch": "teacher, PyTorch", "pytorch": "student, PyTorch",
          "onnx_fp32": "student, fp32 ONNX", "onnx_int8": "student, int8 ONNX"}
GRID = ((1, 32), (1, 128), (8, 128))


def _figures(p50, threads=(1, 2), teacher=True):
    """The stage's latency figures with these p50s ({threads: {model: ms}}, the same in every
    cell of a thread setting), ten equal calls each."""
    names = [name for name in MODELS if teacher or name != "teacher_pytorch"]
    baseline = "teacher_pytorch" if teacher else "pytorch"
    cells = [{"batch": batch, "sequence": sequence, "threads": count,
              "models": latency.against({name: latency.summarize([p50[count][name] / 1000] * 10,
                                                                 batch) for name in names},
                                        baseline)}
             for count in threads for batch, sequence in GRID]
    label = {name: MODELS[name] if teacher else MODELS[name].replace("student", "teacher")
             for name in names}
    return {"machine": {"processor": "Test CPU", "cpu_count": 2, "usable_cores": max(threads),
                        "torch": "2.13.0"},
            "baseline": baseline, "cells": cells,
            "models": {name: {"label": label[name], "num_hidden_layers": 4, "hidden_size": 64}
                       for name in names},
            "settings": {"batch_sizes": [1, 8], "seq_lengths": [32, 128], "threads": list(threads),
                         "min_runs": 10, "max_runs": 200, "seconds_per_cell": 2.0,
                         "warmup_calls": 2, "dtype": "float32",
                         "graphs": "the exported graphs without the MLM head"}}


def _parity(agreement=0.99, source="heldout"):
    return {"data": {"source": source, "examples": 51, "masked_positions": 480},
            "pytorch": {"masked_lm_accuracy": 0.40},
            "fp32": {"max_abs_diff_last_hidden_state": 2.4e-6, "max_abs_diff_logits": 3.1e-6,
                     "top1_agreement": 1.0, "masked_lm_accuracy": 0.40, "accuracy_drop": 0.0,
                     "goal_max_abs_diff": 1e-4, "meets_goal": True},
            "int8": {"max_abs_diff_last_hidden_state": 0.02, "max_abs_diff_logits": 0.05,
                     "top1_agreement": agreement, "masked_lm_accuracy": 0.395,
                     "accuracy_drop": 0.005, "goal_min_top1_agreement": 0.98,
                     "meets_goal": agreement >= 0.98}}


def _export(root, weights=b"student weights", figures=None, parity=None, exported=None):
    """A serve_export output directory as `run_serve_export` writes its manifest and metrics."""
    model_dir = root / "distill" / "student"
    model_dir.mkdir(parents=True, exist_ok=True)
    (model_dir / "model.safetensors").write_bytes(weights)
    metrics = {"model_dir": str(model_dir), "exported": exported or {"role": "student"},
               "head": "mlm", "opset": 18, "quantize": "int8",
               "graphs": {"fp32": {"file": "model.onnx", "bytes": 44_000_000},
                          "int8": {"file": "model.int8.onnx", "bytes": 11_500_000}},
               "parity": parity or _parity(),
               "versions": {"torch": "2.13.0", "onnxruntime": "1.32.0"}}
    if figures is not None:
        metrics["latency"] = figures
    out = root / "serving_model"
    out.mkdir()
    # Sorted keys, as the stage writes them (write_json_atomic).
    (out / "metrics.json").write_text(json.dumps(metrics, sort_keys=True), encoding="utf-8")
    (out / "manifest.json").write_text(json.dumps({
        "kind": serving.MANIFEST_KIND, "model": lineage.model_record(str(model_dir))}))
    return serving.read_export(str(out))


def _text(body):
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", body)).split())


FAST = {1: {"teacher_pytorch": 200.0, "pytorch": 66.0, "onnx_fp32": 60.0, "onnx_int8": 20.0},
        2: {"teacher_pytorch": 140.0, "pytorch": 35.0, "onnx_fp32": 36.0, "onnx_int8": 28.0}}


def test_the_section_says_parity_and_the_goal_in_words(tmp_path):
    body, values = serving.serving_section(_export(tmp_path, figures=_figures(FAST)))
    text = _text(body)
    assert ("The student distill/student as an online service loads it: model.onnx (44.0 MB) and "
            "model.int8.onnx (11.5 MB), returning the last hidden state and the vocabulary "
            "logits") in text
    assert ("On 51 held-out records (480 masked positions) the fp32 graph's outputs stay within "
            "2.4e-06 (last hidden state), 3.1e-06 (logits) of PyTorch's at every real token, "
            "within the limit 0.0001.") in text
    assert ("The int8 graph makes PyTorch's top-1 prediction at 99 % of the masked positions "
            "(the goal: at least 98 %); its masked-LM accuracy is 39.5 % against PyTorch's "
            "40 % (-0.5 percentage points).") in text
    # 200/20 = 10x with one thread, 140/28 = 5x with two.
    assert ("It is 10× with 1 thread and 5× with 2 threads, agreeing at 99 %: the goal is met."
            ) in text
    assert values == {"serving_fp32_max_abs_diff": 3.1e-6, "serving_int8_top1_agreement": 0.99,
                      "serving_int8_accuracy_drop": 0.005, "serving_p50_ms_1_thread": 20.0,
                      "serving_p50_speedup_1_thread": 10.0,
                      "serving_p50_ms_all_threads": 28.0,
                      "serving_p50_speedup_all_threads": 5.0}
    assert all(key in labels.LABELS for key in values)


@pytest.mark.parametrize("agreement, int8_two_threads", [(0.97, 28.0), (0.99, 40.0)])
def test_the_goal_is_missed_by_either_figure(agreement, int8_two_threads, tmp_path):
    p50 = {**FAST, 2: {**FAST[2], "onnx_int8": int8_two_threads}}
    body, _ = serving.serving_section(_export(tmp_path, figures=_figures(p50),
                                              parity=_parity(agreement)))
    assert "the goal is missed" in _text(body)


def test_the_latency_is_a_table_and_a_chart_per_thread_setting(tmp_path):
    body, _ = serving.serving_section(_export(tmp_path, figures=_figures(FAST)))
    p50_table = body[body.index("<table>"):body.index("</table>")]
    assert [_text(row) for row in p50_table.split("<tr>")[2:]] == [
        f"{b} × {s} {t} thread{'s' if t > 1 else ''} " + " ".join(
            f"{FAST[t][m]:.3g}" + ("" if m == "teacher_pytorch" else
                                   f" ({FAST[t]['teacher_pytorch'] / FAST[t][m]:.3g}×)")
            for m in MODELS)
        for t in (1, 2) for b, s in GRID]
    assert [_text(h) for h in re.findall(r"<th>(.*?)</th>", p50_table)][2:] == [
        f"{label}: p50 ms" for label in MODELS.values()]
    assert body.count('<img alt="plot" src="data:image/png;base64,') == 2
    every = body[body.index("<details>"):]
    assert every.count("<tr>") == 1 + 2 * len(GRID) * len(MODELS)
    assert "on the export's machine: Test CPU, 2 threads usable." in _text(body)


def test_synthetic_parity_data_and_no_teacher_are_said(tmp_path):
    figures = _figures({1: FAST[1]}, threads=(1,), teacher=False)
    export = _export(tmp_path, figures=figures, parity=_parity(source="synthetic"),
                     exported={"role": "teacher", "why": "distillation was skipped "
                               "(distill_num_train_steps is 0), so the teacher is exported in "
                               "the student's place"})
    body, values = serving.serving_section(export)
    text = _text(body)
    assert "On 51 synthetic sequences of random tokens" in text and "mean nothing" in text
    assert ("Distillation was skipped (distill_num_train_steps is 0), so the teacher is "
            "exported in the student's place.") in text
    assert "speed-ups are over the teacher, PyTorch in the same cell" in text
    assert "No teacher was timed beside the model" in text
    assert "serving_p50_speedup_1_thread" not in values
    assert values["serving_p50_ms_1_thread"] == 20.0


def test_an_export_without_latency_says_it_was_not_timed(tmp_path):
    body, values = serving.serving_section(_export(tmp_path))
    assert "The export was not timed (--latency_runs 0)." in _text(body)
    assert "<img" not in body and not any(key.startswith("serving_p50") for key in values)


def test_an_export_of_other_weights_is_refused(tmp_path):
    export = _export(tmp_path)
    student, teacher = tmp_path / "report_student", tmp_path / "teacher"
    for directory, weights in ((student, b"student weights"), (teacher, b"teacher weights")):
        directory.mkdir()
        (directory / "model.safetensors").write_bytes(weights)
    serving.check_model(export, str(teacher), str(student))
    with pytest.raises(UserError, match="other weights than this report's transformers model"):
        serving.check_model(export, str(teacher), None)
    skipped = tmp_path / "skipped"  # a skipped distillation: a manifest, no weights
    skipped.mkdir()
    (skipped / "manifest.json").write_text('{"kind": "distilled_model", "skipped": true}')
    with pytest.raises(UserError, match="transformers model"):
        serving.check_model(export, str(teacher), str(skipped))
    (student / "model.safetensors").write_bytes(b"other student")
    with pytest.raises(UserError, match="other weights than this report's student"):
        serving.check_model(export, str(teacher), str(student))


@pytest.mark.slow
def test_the_report_cli_shows_the_pipeline_tasks_export(tmp_path, tmp_path_factory, repo_root,
                                                       capsys, monkeypatch):
    """The pipeline task's real export of a run without a student (the teacher in its place,
    timed on a small grid) in the report CLI: the section in Chromium, labels instead of keys,
    no path of this machine."""
    from kfp import dsl

    from components.report.__main__ import main
    from components.serve_export.arguments import ExportArguments
    from components.serve_export.tasks import run_serve_export_task
    from tests.helpers_distill import skipped_student, teacher_and_data

    monkeypatch.setenv("EDU_MLM_NO_PROGRESS", "1")
    inputs = teacher_and_data(tmp_path_factory)
    skipped = skipped_student(tmp_path / "student")
    export = tmp_path / "serving_model"
    run_serve_export_task(dsl.Model(uri=str(skipped)), dsl.Model(uri=inputs.teacher_dir),
                          dsl.Dataset(uri=inputs.data_dir), dsl.Model(uri=str(export)),
                          dsl.Metrics(uri=str(tmp_path / "serve_metrics")),
                          ExportArguments(quantize="int8", min_int8_agreement=0.0,
                                          max_parity_examples=16, latency_batch_sizes=[1],
                                          latency_seq_lengths=[16, 128], latency_runs=2,
                                          latency_seconds_per_cell=0.0))
    google = os.path.join(os.path.dirname(inputs.teacher_dir), "google_teacher")
    for name in ("base_eval", "trained_eval"):
        (tmp_path / f"{name}.json").write_text("{}", encoding="utf-8")
    main(["model", "--pretraining_data_dir", inputs.data_dir, "--trained_model_dir", google,
          "--base_hf_model_dir", inputs.teacher_dir, "--hf_model_dir", inputs.teacher_dir,
          "--base_eval", str(tmp_path / "base_eval.json"),
          "--trained_eval", str(tmp_path / "trained_eval.json"),
          "--output_file", str(tmp_path / "report.html"),
          "--markdown_file", str(tmp_path / "summary.md"), "--fill_mask_examples", "1",
          "--student_dir", str(skipped), "--serve_export_dir", str(export)])
    values = json.loads(capsys.readouterr().out)
    text = " ".join(visible_text(tmp_path / "report.html").split())
    section = text[text.index("Serving"):]
    assert "The teacher serving_model" not in section  # the model, not the export, is named
    assert "The teacher distill_inputs/teacher as an online service loads it" in section
    assert "so the teacher is exported in the student's place." in section
    assert re.search(r"On \d+ held-out records \(\d+ masked positions\) the fp32 graph", section)
    assert "No teacher was timed beside the model" in section
    assert "1 × 128 1 thread" in section
    assert 0 < values["serving_p50_ms_1_thread"] and "serving_int8_top1_agreement" in values
    assert "`serving_int8_top1_agreement`" in (tmp_path / "summary.md").read_text()
    assert raw_keys(section, values) == []
    assert machine_paths(text, tmp_path_factory, repo_root) == []
