"""The model report's "Downstream task" section: the words a reader gets for the DAPT gain and
the student's share (their numbers from `components.downstream.stats`, within seed noise or
not), the skipped step in one sentence, a result made from another run's models refused; and,
slow, a real downstream step's output through the report CLI rendered in headless Chromium."""

import json
import os

import pytest
from helpers_report import machine_paths, raw_keys, visible_text

from components.common import lineage
from components.common.errors import UserError
from components.downstream import stats
from components.downstream.layout import ADAPTED, BASE, MANIFEST_KIND, STUDENT
from components.report import downstream, labels

SEEDS = [1, 2, 3]


def _model_dir(root, name, weights):
    """A model directory as far as lineage reads one: its weights file."""
    directory = root / name
    directory.mkdir()
    (directory / "model.safetensors").write_bytes(weights)
    return str(directory)


def _result(root, accuracies, dirs, left_out=None):
    """A downstream output directory with these per-seed accuracies ({name: [one per seed]}),
    made as `run_downstream` makes its metrics.json and manifest."""
    models = {}
    for name, values in accuracies.items():
        per_seed = {str(s): {"accuracy": a, "macro_f1": a - 0.05} for s, a in zip(
            SEEDS, values, strict=True)}
        models[name] = {"model_dir": dirs[name], "per_seed": per_seed}
        for key in stats.METRICS:
            models[name][f"{key}_mean"], models[name][f"{key}_std"] = stats.mean_std(
                [seed[key] for seed in per_seed.values()])
    names = list(accuracies)
    metrics = {
        "task": {"label_column": "subject", "labels": ["a", "b", "c"], "train_examples": 90,
                 "eval_examples": 30, "eval_split": "hash of the text, fraction 0.2",
                 "train_file": "/data/labelled.jsonl"},
        "recipe": {"seeds": SEEDS, "num_train_epochs": 3.0, "learning_rate": 2e-5,
                   "train_batch_size": 32, "max_seq_length": 128, "device": "cuda",
                   "precision": "bf16"},
        "majority_baseline": {"label": "a", "accuracy": 0.4, "macro_f1": 0.19},
        "model_names": names, "models": models, "differences": stats.compare(models, names),
        "left_out": left_out or {}}
    out = root / "downstream"
    out.mkdir()
    (out / "metrics.json").write_text(json.dumps(metrics))
    (out / "manifest.json").write_text(json.dumps({
        "kind": MANIFEST_KIND, "labelled": {"train": {"path": "/data/labelled.jsonl"},
                                            "eval": None},
        "models": {name: lineage.model_record(dirs[name]) for name in names},
        "left_out": left_out or {}}))
    return downstream.read_downstream(str(out))


@pytest.fixture
def dirs(tmp_path):
    return {name: _model_dir(tmp_path, name, name.encode() * 10)
            for name in (BASE, ADAPTED, STUDENT)}


def _text(section_html):
    from bs4 import BeautifulSoup

    return " ".join(BeautifulSoup(section_html, "html.parser").get_text(" ").split())


def test_the_gain_and_the_share_in_words(tmp_path, dirs):
    result = _result(tmp_path, {BASE: [0.70, 0.72, 0.71], ADAPTED: [0.75, 0.78, 0.76],
                                STUDENT: [0.70, 0.72, 0.71]}, dirs)
    roles = downstream.check_models(result, dirs[BASE], dirs[ADAPTED], dirs[STUDENT])
    assert roles == {BASE: BASE, ADAPTED: ADAPTED, STUDENT: STUDENT}
    section, values = downstream.downstream_section(result, roles)
    text = _text(section)

    gain = stats.difference(result.metrics["models"], ADAPTED, BASE)["accuracy"]
    assert gain["ci95_low"] > 0  # these seeds show a gain beyond the noise
    half = 100 * (gain["ci95_high"] - gain["mean"])
    assert (f"The adapted model is {100 * gain['mean']:+.1f} ± {half:.1f} accuracy points over "
            "the base model on 'subject', 3 seeds: domain-adaptive pretraining helped this task "
            "by more than the seed noise.") in text
    share = stats.share(result.metrics["models"], STUDENT, ADAPTED)["accuracy"]
    assert share["ci95_high"] < 1
    assert (f"The student keeps {100 * share['mean']:.1f} ± "
            f"{100 * (share['ci95_high'] - share['mean']):.1f} % of the adapted model's accuracy "
            "on 'subject', 3 seeds") in text
    adapted = result.metrics["models"][ADAPTED]
    assert (f"adapted model ({labels.artifact_name(dirs[ADAPTED])}) "
            f"{100 * adapted['accuracy_mean']:.1f} ± "
            f"{100 * adapted['accuracy_std']:.1f} %") in text
    assert "always 'a', the most frequent training label 40.0 %" in text
    assert "3 epochs, learning rate 2e-05, batch 32, at most 128 tokens, on a GPU (bf16)" in text
    assert "not above always answering" not in text
    assert values["downstream_adapted_minus_base_accuracy"] == gain["mean"]
    assert values["downstream_student_share_accuracy_ci95_low"] == share["ci95_low"]
    assert values["downstream_adapted_accuracy"] == adapted["accuracy_mean"]
    assert set(values) <= set(labels.LABELS)
    assert raw_keys(text, set(values) | set(result.metrics)) == []


def test_a_difference_within_the_seed_noise_says_so(tmp_path, dirs):
    result = _result(tmp_path, {BASE: [0.30, 0.45, 0.38], ADAPTED: [0.35, 0.40, 0.41]}, dirs,
                     left_out={STUDENT: "distillation was skipped (distill_num_train_steps "
                                        "is 0)"})
    roles = downstream.check_models(result, dirs[BASE], dirs[ADAPTED], None)
    text = _text(downstream.downstream_section(result, roles)[0])
    gain = stats.difference(result.metrics["models"], ADAPTED, BASE)["accuracy"]
    assert gain["ci95_low"] < 0 < gain["ci95_high"]
    assert (f"within seed noise (the 95 % interval, {100 * gain['ci95_low']:+.1f} to "
            f"{100 * gain['ci95_high']:+.1f}, includes no difference)") in text
    assert ("The student was left out: distillation was skipped (distill_num_train_steps is "
            "0).") in text
    assert "The base model is not above always answering the most frequent label." in text


def test_one_seed_gives_no_interval_and_says_so():
    one = {"accuracy": stats.paired_difference([0.8], [0.7]),
           "macro_f1": stats.paired_difference([0.7], [0.7])}
    assert downstream.gain_words(one, "subject", 1) == (
        "The adapted model is +10.0 accuracy points over the base model on 'subject', 1 seed: "
        "one seed gives no interval, so this cannot be told from seed noise (run 3 seeds or "
        "more).")


def test_a_skipped_step_is_one_sentence(tmp_path):
    out = tmp_path / "downstream"
    out.mkdir()
    (out / "manifest.json").write_text(json.dumps(
        {"kind": MANIFEST_KIND, "skipped": True, "reason": "no labelled rows were given"}))
    result = downstream.read_downstream(str(out))
    assert downstream.check_models(result, "unused", "unused", None) == {}
    section, values = downstream.downstream_section(result, {})
    assert _text(section).startswith("The downstream step was skipped: no labelled rows were "
                                     "given. It fine-tunes")
    assert values == {}


def test_a_result_of_other_models_is_refused(tmp_path, dirs):
    result = _result(tmp_path, {BASE: [0.7] * 3, ADAPTED: [0.8] * 3, "small": [0.7] * 3},
                     {**dirs, "small": dirs[STUDENT]})
    # Another name: its role comes from its weights.
    assert downstream.check_models(result, dirs[BASE], dirs[ADAPTED], dirs[STUDENT])[
        "small"] == STUDENT
    retrained = _model_dir(tmp_path, "retrained", b"other weights")
    with pytest.raises(UserError, match="'adapted' was fine-tuned from other weights than this "
                       "report's adapted model") as refused:
        downstream.check_models(result, dirs[BASE], retrained, dirs[STUDENT])
    assert "rerun" in refused.value.one_line() and str(result.directory) in \
        refused.value.one_line()
    with pytest.raises(UserError, match="'small' was fine-tuned from other weights"):
        downstream.check_models(result, dirs[BASE], dirs[ADAPTED], retrained)


def test_a_result_without_the_student_of_a_run_that_has_one_is_refused(tmp_path, dirs):
    result = _result(tmp_path, {BASE: [0.7] * 3, ADAPTED: [0.8] * 3}, dirs,
                     left_out={STUDENT: "distillation was skipped (distill_num_train_steps "
                                        "is 0)"})
    with pytest.raises(UserError, match="left the student out .* but this report has a "
                       "student"):
        downstream.check_models(result, dirs[BASE], dirs[ADAPTED], dirs[STUDENT])


@pytest.mark.slow
def test_the_report_cli_shows_the_downstream_step(tmp_path, tmp_path_factory, repo_root,
                                                  capsys, monkeypatch):
    """The pipeline step's real output (the distiller's tiny teacher as both base and adapted
    model: the same weights and seeds, so no gain, within the noise) in the report CLI."""
    from kfp import dsl

    from components.common.artifacts import read_manifest
    from components.downstream.arguments import FineTuneArguments
    from components.downstream.tasks import run_downstream_task
    from components.report.__main__ import main
    from tests.helpers_distill import skipped_student, teacher_and_data

    monkeypatch.setenv("EDU_MLM_NO_PROGRESS", "1")
    inputs = teacher_and_data(tmp_path_factory)
    skipped = skipped_student(tmp_path / "student")
    teacher = dsl.Model(uri=inputs.teacher_dir)
    run_downstream_task(teacher, teacher, dsl.Model(uri=str(skipped)),
                        dsl.Artifact(uri=str(tmp_path / "downstream")),
                        dsl.Metrics(uri=str(tmp_path / "downstream_metrics")),
                        FineTuneArguments(train_file=str(repo_root / "data/sample/labelled.jsonl"),
                                          seeds="1,2", num_train_epochs=1, learning_rate=2e-3,
                                          train_batch_size=16, max_seq_length=32,
                                          max_train_examples=32))
    google = os.path.join(os.path.dirname(inputs.teacher_dir), "google_teacher")
    for name in ("base_eval", "trained_eval"):
        (tmp_path / f"{name}.json").write_text("{}", encoding="utf-8")
    assert read_manifest(google)  # the Google-format model the teacher was converted from
    main(["model", "--pretraining_data_dir", inputs.data_dir, "--trained_model_dir", google,
          "--base_hf_model_dir", inputs.teacher_dir, "--hf_model_dir", inputs.teacher_dir,
          "--base_eval", str(tmp_path / "base_eval.json"),
          "--trained_eval", str(tmp_path / "trained_eval.json"),
          "--output_file", str(tmp_path / "report.html"),
          "--markdown_file", str(tmp_path / "summary.md"), "--fill_mask_examples", "1",
          "--student_dir", str(skipped), "--downstream_dir", str(tmp_path / "downstream")])
    values = json.loads(capsys.readouterr().out)
    text = " ".join(visible_text(tmp_path / "report.html").split())
    section = text[text.index("Downstream task"):]
    assert ("The adapted model is +0.0 ± 0.0 accuracy points over the base model on 'label', "
            "2 seeds: within seed noise") in section
    assert "The student was left out: distillation was skipped (distill_num_train_steps is 0)." \
        in section
    assert "from 32 labelled rows of sample/labelled.jsonl" in section
    assert values["downstream_adapted_minus_base_accuracy"] == 0
    summary = (tmp_path / "summary.md").read_text(encoding="utf-8")
    assert "`downstream_adapted_minus_base_accuracy`" in summary
    assert machine_paths(text, tmp_path_factory, repo_root) == []
