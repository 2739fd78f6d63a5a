"""Student-vs-teacher evaluation: consistent numbers on a real teacher, and its CLI."""

import json
import math
import shutil
import subprocess
import sys

import pytest

from components.distill.arguments import CompareArguments
from components.distill.compare import compare_models, flat_metrics
from components.distill.evaluate import main
from components.distill.student import (
    StudentShape,
    init_student,
    load_teacher,
    student_config,
    teacher_layer_map,
)
from tests.helpers_distill import MAX_PREDICTIONS, MAX_SEQ_LENGTH
from tests.helpers_pretraining_data import parse_dir

pytestmark = pytest.mark.slow  # builds the session's teacher and data (~30 s once)


@pytest.fixture(scope="module")
def heldout(distill_inputs):
    return parse_dir(distill_inputs.data_dir, "heldout", MAX_SEQ_LENGTH, MAX_PREDICTIONS)


@pytest.fixture(scope="module")
def student_dir(distill_inputs, tmp_path_factory):
    """A 2-layer student made from the teacher's layers 1 and 3, saved as the stage saves it."""
    teacher = load_teacher(distill_inputs.teacher_dir)
    config = student_config(teacher.config, StudentShape(num_hidden_layers=2))
    student = init_student(teacher, config, teacher_layer_map(4, 2), seed=0)
    out = tmp_path_factory.mktemp("student") / "student"
    student.save_pretrained(out)
    shutil.copyfile(f"{distill_inputs.teacher_dir}/vocab.txt", out / "vocab.txt")
    return str(out)


def _args(distill_inputs, student, **overrides):
    return CompareArguments(**{"teacher_dir": distill_inputs.teacher_dir, "student_dir": student,
                               "input_dir": distill_inputs.data_dir, "eval_batch_size": 16,
                               "speed_repeats": 0, **overrides})


def test_teacher_against_itself(distill_inputs, heldout):
    result = compare_models(_args(distill_inputs, distill_inputs.teacher_dir, speed_repeats=1,
                                  speed_batch_size=4, speed_seq_length=16))
    assert result["examples"] == len(heldout["input_ids"])
    assert result["masked_positions"] == int((heldout["masked_lm_weights"] > 0).sum())
    assert result["student_top1_agreement"] == 1.0
    assert result["student_accuracy_share"] == 1.0
    assert result["teacher"] == result["student"]
    teacher = result["teacher"]
    assert 0 < teacher["masked_lm_accuracy"] < 1
    assert teacher["perplexity"] == pytest.approx(math.exp(teacher["masked_lm_loss"]))
    assert teacher["num_parameters"] == 263_429
    assert result["parameter_ratio"] == 1.0
    cpu = result["speed"]["cpu"]
    assert cpu["measured"]["teacher"]["sequences_per_second"] > 0
    assert cpu["measured"]["student"]["latency_ms_p50"] > 0
    assert cpu["throughput"] > 0 and cpu["latency"] > 0
    assert result["speed_settings"]["batch_size"] == 4
    flat = flat_metrics(result)
    assert flat["student_top1_agreement"] == 1.0
    assert flat["teacher_cpu_sequences_per_second"] > 0
    assert all(isinstance(v, int | float) for v in flat.values())


def test_teacher_against_a_smaller_student(distill_inputs, heldout, student_dir):
    result = compare_models(_args(distill_inputs, student_dir, max_eval_examples=20))
    assert result["examples"] == 20
    assert result["masked_positions"] == int((heldout["masked_lm_weights"][:20] > 0).sum())
    student, teacher = result["student"], result["teacher"]
    assert (student["num_hidden_layers"], teacher["num_hidden_layers"]) == (2, 4)
    assert student["num_parameters"] < teacher["num_parameters"]
    assert result["parameter_ratio"] == pytest.approx(
        student["num_parameters"] / teacher["num_parameters"])
    assert 0 <= result["student_top1_agreement"] < 1
    assert result["student_accuracy_share"] == pytest.approx(
        student["masked_lm_accuracy"] / teacher["masked_lm_accuracy"])
    # Top-1 hits are whole positions out of the counted ones.
    for model in (student, teacher):
        hits = model["masked_lm_accuracy"] * result["masked_positions"]
        assert hits == pytest.approx(round(hits))
    assert "speed" not in result


def test_cli_writes_json(distill_inputs, student_dir, tmp_path, capsys):
    out = tmp_path / "metrics" / "compare.json"
    returned = main(["--teacher_dir", distill_inputs.teacher_dir, "--student_dir", student_dir,
                     "--input_dir", distill_inputs.data_dir, "--output_file", str(out),
                     "--speed_repeats", "0", "--max_eval_examples", "8"])
    written = json.loads(out.read_text())
    assert written == json.loads(json.dumps(returned))
    assert written["examples"] == 8
    assert "student top-1 agreement" in capsys.readouterr().out
    assert [p.name for p in out.parent.iterdir()] == ["compare.json"]


def test_cli_refuses_a_missing_directory_with_one_line(distill_inputs, tmp_path):
    missing = tmp_path / "no_student"
    out = tmp_path / "metrics.json"
    done = subprocess.run(
        [sys.executable, "-m", "components.distill.evaluate", "--teacher_dir",
         distill_inputs.teacher_dir, "--student_dir", str(missing), "--input_dir",
         distill_inputs.data_dir, "--output_file", str(out)],
        capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and str(missing) in errors[0] and "does not exist" in errors[0]
    assert "Traceback" not in done.stderr
    assert not out.exists()


def test_models_with_other_vocabs_than_the_data_are_refused(distill_inputs, student_dir,
                                                            tmp_path, capsys):
    other = tmp_path / "student"
    shutil.copytree(student_dir, other)
    vocab = (other / "vocab.txt").read_text(encoding="utf-8").split("\n")
    vocab[100], vocab[101] = vocab[101], vocab[100]
    (other / "vocab.txt").write_text("\n".join(vocab), encoding="utf-8")
    with pytest.raises(SystemExit) as exit_info:
        main(["--teacher_dir", distill_inputs.teacher_dir, "--student_dir", str(other),
              "--input_dir", distill_inputs.data_dir])
    assert exit_info.value.code == 2
    assert "another vocab" in capsys.readouterr().err
