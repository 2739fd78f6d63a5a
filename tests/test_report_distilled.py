"""The model report's "Distilled student" section, from a real tiny teacher and a student the
distill library made from it: rendered in headless Chromium it shows the teacher-vs-student table
with the speed-up, the distillation curves and figures, the two models' fill-mask columns, with
labels instead of keys and no path of this machine; the student's numbers join the headline
metrics; a skipped stage is one sentence; a student of another teacher is refused."""

import json
import os

import pytest
from helpers_report import (
    all_keys,
    external_references,
    machine_paths,
    raw_keys,
    render,
    visible_text,
)

from components.common.artifacts import read_manifest
from components.common.errors import UserError
from components.report import labels
from components.report.__main__ import main
from components.report.distilled import read_student
from components.report.model import write_model_report
from tests.helpers_distill import copy_dir, teacher_and_data

pytestmark = pytest.mark.slow  # the session's teacher and data (~30 s once), a 4-step student

STUDENT_KEYS = ("distill_steps", "student_masked_lm_accuracy", "student_top1_agreement",
                "student_accuracy_share", "student_num_parameters", "student_speedup",
                "student_latency_speedup", "fill_mask_top5_student")


@pytest.fixture(scope="session")
def distill_inputs(tmp_path_factory):
    return teacher_and_data(tmp_path_factory)


@pytest.fixture(scope="module")
def student_dir(distill_inputs, tmp_path_factory):
    """A 2-layer student after 4 steps, compared with its teacher as the stage does (with a
    smaller, quicker speed measurement) into its metrics.json."""
    from components.distill.arguments import CompareArguments, DistillArguments
    from components.distill.compare import compare_models
    from components.distill.loop import distill

    out = str(tmp_path_factory.mktemp("distilled") / "student")
    distill(DistillArguments(
        teacher_dir=distill_inputs.teacher_dir, input_dir=distill_inputs.data_dir,
        output_dir=out, student_num_hidden_layers=2, num_train_steps=4, num_warmup_steps=1,
        train_batch_size=8, learning_rate=1e-3, log_every_n_steps=2, do_eval=False))
    compare_models(CompareArguments(
        teacher_dir=distill_inputs.teacher_dir, student_dir=out, input_dir=distill_inputs.data_dir,
        output_file=os.path.join(out, "metrics.json"), max_eval_examples=16,
        speed_batch_size=4, speed_seq_length=32, speed_repeats=1))
    return out


def _report_inputs(distill_inputs, tmp_path):
    """The model report's inputs, the teacher standing in for both the base and the trained
    model (it is the trained model's conversion the student learns from)."""
    google = os.path.join(os.path.dirname(distill_inputs.teacher_dir), "google_teacher")
    with open(os.path.join(distill_inputs.teacher_dir, "parity.json"), encoding="utf-8") as f:
        parity = json.load(f)
    return {"pretraining_data_dir": distill_inputs.data_dir,
            "data_metrics": read_manifest(distill_inputs.data_dir),
            "trained_model_dir": google, "train_metrics": read_manifest(google),
            "base_eval": {}, "trained_eval": {}, "base_hf_model_dir": distill_inputs.teacher_dir,
            "hf_model_dir": distill_inputs.teacher_dir, "parity": parity, "base_parity": parity,
            "html_file": str(tmp_path / "report.html"),
            "markdown_file": str(tmp_path / "summary.md"), "fill_mask_examples": 2}


def _section(text):
    return text[text.index("Distilled student"):]


def test_report_shows_the_distilled_student(distill_inputs, student_dir, tmp_path, capsys,
                                            tmp_path_factory, repo_root):
    inputs = _report_inputs(distill_inputs, tmp_path)
    for which in ("base_eval", "trained_eval"):
        (tmp_path / f"{which}.json").write_text("{}", encoding="utf-8")
    main(["model", "--pretraining_data_dir", inputs["pretraining_data_dir"],
          "--trained_model_dir", inputs["trained_model_dir"],
          "--base_hf_model_dir", inputs["base_hf_model_dir"],
          "--hf_model_dir", inputs["hf_model_dir"], "--base_eval", str(tmp_path / "base_eval.json"),
          "--trained_eval", str(tmp_path / "trained_eval.json"),
          "--output_file", inputs["html_file"], "--markdown_file", inputs["markdown_file"],
          "--fill_mask_examples", "2", "--student_dir", student_dir])
    values = json.loads(capsys.readouterr().out)
    page = tmp_path / "report.html"
    assert external_references(page.read_text(encoding="utf-8")) == []
    assert render(page, tmp_path / "report.png") == []
    text = " ".join(visible_text(page).split())
    section = _section(text)

    student = read_student(student_dir)
    comparison, manifest = student.comparison, student.manifest
    teacher, small = comparison["teacher"], comparison["student"]
    assert (f"masked-LM accuracy {labels.percent(teacher['masked_lm_accuracy'])} "
            f"{labels.percent(small['masked_lm_accuracy'])}") in section
    assert f"parameters {teacher['num_parameters']:,} {small['num_parameters']:,}" in section
    assert "layers 4 2 hidden size 64 64" in section
    cpu = comparison["speed"]["cpu"]
    teacher_speed = cpu["measured"]["teacher"]["sequences_per_second"]
    assert (f"throughput on the CPU, batch 4 × 32 tokens "
            f"{labels.value('sequences_per_second', teacher_speed)}") in section
    assert f"{labels.times(cpu['throughput'])} the teacher's throughput" in section
    assert (f"top-1 prediction at {labels.percent(comparison['student_top1_agreement'])} of the "
            f"masked positions, and its accuracy is "
            f"{labels.percent(comparison['student_accuracy_share'])} of the teacher's") in section
    assert f"Speed-up on the CPU: {labels.times(cpu['throughput'])} the throughput" in section
    assert "copy of the teacher's embeddings, MLM head and layers 2 and 4 of 4" in section
    assert "steps trained 4 steps" in section and "torch.compile no" in section
    assert "model FLOPs utilization (MFU) not known" in section
    assert "teacher top-5 student top-5" in section
    assert "2 held-out sentences" in section
    html_section = page.read_text(encoding="utf-8").split("<h2>Distilled student</h2>")[1]
    assert html_section.count("<img") == 3  # loss parts, agreement, learning rate

    keys = all_keys(comparison, manifest, *student.intervals, values)
    assert raw_keys(text, keys) == []
    assert machine_paths(text, tmp_path_factory, repo_root) == []
    assert values["distill_steps"] == 4
    assert values["student_top1_agreement"] == comparison["student_top1_agreement"]
    assert values["student_speedup"] == cpu["throughput"]
    assert set(STUDENT_KEYS) <= set(values)
    summary = (tmp_path / "summary.md").read_text(encoding="utf-8")
    assert "`student_top1_agreement`" in summary and "`student_speedup`" in summary
    assert f"distilled student: `{labels.artifact_name(student_dir)}`" in summary
    assert machine_paths(summary, tmp_path_factory, repo_root) == []


def test_every_distill_key_has_a_label(student_dir):
    student = read_student(student_dir)
    numbers = {k for m in (student.manifest, *student.intervals) for k, v in m.items()
               if isinstance(v, int | float)}
    numbers |= {k for k in all_keys(student.comparison)}
    numbers -= {"model_dir", "input_dir", "speed_settings", "speed", "measured", "teacher",
                "student", "cpu", "cuda"}  # paths and the nesting, never shown as numbers
    numbers |= set(STUDENT_KEYS)
    assert sorted(numbers - set(labels.LABELS)) == []


def test_skipped_distillation_is_one_sentence(distill_inputs, tmp_path):
    skipped = tmp_path / "student"
    skipped.mkdir()
    (skipped / "manifest.json").write_text(json.dumps({"kind": "distilled_model",
                                                       "skipped": True}), encoding="utf-8")
    inputs = _report_inputs(distill_inputs, tmp_path)
    inputs["fill_mask_examples"] = 1
    values = write_model_report(**inputs, student_dir=str(skipped))
    text = " ".join(visible_text(tmp_path / "report.html").split())
    assert _section(text) == ("Distilled student Distillation was skipped (its step count was "
                              "0), so there is no student; pass --param "
                              "distill_num_train_steps=N to distil one in N steps.")
    assert not set(STUDENT_KEYS) & set(values)
    assert "distilled student: none (skipped)" in (tmp_path / "summary.md").read_text()

    write_model_report(**inputs)
    assert "Distilled student" not in (tmp_path / "report.html").read_text(encoding="utf-8")


def test_a_student_of_another_teacher_is_refused(distill_inputs, student_dir, tmp_path):
    other = copy_dir(student_dir, tmp_path / "other")
    manifest = read_manifest(other)
    manifest["teacher_sha256"] = "0" * 64
    with open(os.path.join(other, "manifest.json"), "w", encoding="utf-8") as f:
        json.dump(manifest, f)
    with pytest.raises(UserError, match="distilled from another teacher"):
        write_model_report(**_report_inputs(distill_inputs, tmp_path), student_dir=other)
    assert not (tmp_path / "report.html").exists()
