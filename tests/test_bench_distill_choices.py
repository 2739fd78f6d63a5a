"""bench/distill_choices.py without distilling or fine-tuning: its variants, and how it
judges each student against the teacher and against the reference variant."""

import pathlib
import sys

import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "bench"))

import distill_choices as choices  # noqa: E402


def per_seed(**accuracies):
    return {str(s): {name: {"accuracy": values[s - 1], "macro_f1": values[s - 1] - 0.01}
                     for name, values in accuracies.items()} for s in (1, 2, 3)}


def test_variants_keep_their_order_and_flags():
    assert choices.parse_variants(["defaults=", "kd_all=--kd_positions all",
                                   "t2=--temperature 2 --hidden_weight 0"]) == [
        ("defaults", []), ("kd_all", ["--kd_positions", "all"]),
        ("t2", ["--temperature", "2", "--hidden_weight", "0"])]


@pytest.mark.parametrize("items", [[], ["no_equals_sign"], ["a=", "a=--temperature 2"],
                                   ["teacher="]])
def test_a_bad_variant_list_is_one_error_line(items):
    with pytest.raises(SystemExit) as stop:
        choices.parse_variants(items)
    assert str(stop.value.code).startswith("error: ") and "\n" not in str(stop.value.code)


def test_each_variant_is_judged_against_the_first_by_its_interval():
    summary = choices.summarize(per_seed(teacher=[0.80, 0.82, 0.81],
                                         defaults=[0.60, 0.62, 0.61],
                                         better=[0.70, 0.71, 0.72],
                                         worse=[0.50, 0.52, 0.51],
                                         noisy=[0.55, 0.70, 0.62]),
                                ["defaults", "better", "worse", "noisy"])

    verdicts = {name: line["verdict"] for name, line in summary["versus_reference"].items()}
    assert verdicts == {"better": "better", "worse": "worse", "noisy": "too small to show"}
    assert summary["versus_reference"]["better"]["mean"] == pytest.approx(0.10)
    assert summary["student_accuracy_share"]["defaults"]["mean"] == pytest.approx(
        (0.60 / 0.80 + 0.62 / 0.82 + 0.61 / 0.81) / 3)
    assert summary["models"]["teacher"]["accuracy_mean"] == pytest.approx(0.81)


def test_the_markdown_names_each_student_its_flags_and_verdict():
    variants = {"defaults": [], "kd_all": ["--kd_positions", "all"]}
    result = {"teacher_dir": "/t", "distill_args": "--num_train_steps 300", "per_class": 32,
              "variants": variants,
              "summary": choices.summarize(per_seed(teacher=[0.8, 0.8, 0.8],
                                                    defaults=[0.6, 0.6, 0.61],
                                                    kd_all=[0.7, 0.71, 0.7]), list(variants))}

    text = choices.markdown(result)

    assert "| defaults | (defaults) | 0.6033 ± 0.0058 |" in text
    assert "| kd_all | --kd_positions all |" in text
    assert "- kd_all − defaults accuracy: +0.1000 (95 % CI" in text and "**better**" in text


@pytest.mark.slow
def test_a_run_distills_each_variant_fine_tunes_all_and_keeps_students_on_a_rerun(
        distill_inputs, tmp_path, capsys):
    argv = ["--teacher_dir", distill_inputs.teacher_dir, "--input_dir", distill_inputs.data_dir,
            "--output_dir", str(tmp_path / "out"), "--variant", "defaults=",
            "--variant", "t2=--temperature 2",
            "--distill_args", "--student_num_hidden_layers 1 --num_train_steps 4 "
            "--num_warmup_steps 1 --train_batch_size 8 --save_checkpoints_steps 4 "
            "--log_every_n_steps 2 --torch_compile False --do_eval False",
            "--per_class", "2", "--eval_per_class", "3", "--seeds", "1,2",
            "--num_train_epochs", "1", "--train_batch_size", "8", "--max_seq_length", "32"]

    result = choices.main(argv)

    summary = result["summary"]
    assert set(summary["models"]) == {"teacher", "defaults", "t2"}
    assert summary["seeds"] == ["1", "2"]
    assert all(0 <= summary["models"][name]["per_seed"][s]["accuracy"] <= 1
               for name in summary["models"] for s in summary["seeds"])
    assert summary["versus_reference"]["t2"]["verdict"] in {"better", "worse",
                                                            "too small to show"}
    config = (tmp_path / "out" / "students" / "t2" / "config.json").read_text()
    assert '"num_hidden_layers": 1' in config
    assert (tmp_path / "out" / "results.md").read_text(encoding="utf-8") == \
        choices.markdown(result)
    capsys.readouterr()

    again = choices.main(argv)

    assert "defaults: kept the student" in capsys.readouterr().out
    assert again["summary"]["models"] == summary["models"]
