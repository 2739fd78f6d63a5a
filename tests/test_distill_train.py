"""The distillation stage end to end on a tiny teacher: it learns, it resumes exactly, it survives
SIGTERM and SIGKILL, two gloo processes equal one, its output is a working transformers model
(its bad inputs are in the fault table, tests/test_faults.py)."""

import json
import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
import transformers
from safetensors.torch import load_file
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from components.distill.__main__ import main
from components.distill.loss import forward_masked
from components.distill.records import open_split
from components.distill.student import init_student, load_teacher, teacher_layer_map

STUDENT = ["--student_num_hidden_layers", 2, "--train_batch_size", 8, "--learning_rate", 1e-3,
           "--num_warmup_steps", 2, "--random_seed", 5]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Every run here on one thread (as `run_cli`'s): exact comparisons need the same thread
    count, and a tiny model on a busy machine runs faster that way."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def flags(inputs, output_dir, steps, *extra):
    return [str(a) for a in ["--teacher_dir", inputs.teacher_dir, "--input_dir", inputs.data_dir,
                             "--output_dir", output_dir, "--num_train_steps", steps, *STUDENT,
                             *extra]]


def student_weights(output_dir):
    return load_file(os.path.join(output_dir, "model.safetensors"))


def read_log(output_dir):
    """The complete records of distill_log.jsonl (a killed run may leave half a line)."""
    path = os.path.join(output_dir, "distill_log.jsonl")
    records = []
    if os.path.exists(path):
        for line in open(path, encoding="utf-8").read().splitlines():
            try:
                records.append(json.loads(line))
            except ValueError:
                continue
    return records


def assert_same_weights(left, right, atol=0.0):
    assert left.keys() == right.keys()
    for name in left:
        if atol:
            torch.testing.assert_close(left[name], right[name], atol=atol, rtol=0, msg=name)
        else:
            assert torch.equal(left[name], right[name]), name


def top1_agreement(teacher, student, batch):
    with torch.no_grad():
        t, s = forward_masked(teacher, batch).logits, forward_masked(student, batch).logits
    real = batch["masked_lm_weights"] > 0
    return float(((t.argmax(-1) == s.argmax(-1)) & real).sum() / real.sum())


@pytest.fixture(scope="module")
def distilled(distill_inputs, tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("distilled") / "student"
    main(flags(distill_inputs, output_dir, 60, "--log_every_n_steps", 10,
               "--save_checkpoints_steps", 30, "--peak_tflops", 1.0, "--max_eval_examples", 32,
               "--pytorch_dump_path", output_dir / "pytorch_model.bin"))
    return output_dir


@pytest.mark.slow
def test_distillation_lowers_the_loss_and_raises_agreement_with_the_teacher(distilled,
                                                                            distill_inputs):
    records = read_log(distilled)
    assert [r["step"] for r in records] == [10, 20, 30, 40, 50, 60]
    assert records[-1]["loss"] < 0.7 * records[0]["loss"]
    assert records[-1]["loss_kd"] < records[0]["loss_kd"]
    for key in ("examples_per_sec", "tokens_per_sec", "model_tflops", "mfu",
                "input_wait_fraction", "learning_rate", "teacher_agreement", "loss_hidden"):
        assert key in records[-1], key
    assert 0 <= records[-1]["input_wait_fraction"] <= 1
    assert "compile_seconds" in records[0]

    teacher = load_teacher(distill_inputs.teacher_dir)
    trained = transformers.AutoModelForMaskedLM.from_pretrained(str(distilled)).eval()
    initial = init_student(teacher, trained.config, teacher_layer_map(4, 2), seed=5).eval()
    heldout = open_split(distill_inputs.data_dir, "heldout")
    batch = {k: torch.from_numpy(v) for k, v in heldout.batch(np.arange(len(heldout))).items()}
    before, after = top1_agreement(teacher, initial, batch), top1_agreement(teacher, trained,
                                                                            batch)
    assert after > before + 0.05, (before, after)


@pytest.mark.slow
def test_output_is_a_working_transformers_model_with_its_records(distilled, distill_inputs):
    config = json.loads((distilled / "config.json").read_text())
    assert config["architectures"] == ["BertForMaskedLM"]
    assert config["num_hidden_layers"] == 2 and config["hidden_size"] == 64
    manifest = json.loads((distilled / "manifest.json").read_text())
    assert manifest["kind"] == "distilled_model" and manifest["global_step"] == 60
    assert manifest["teacher_layers"] == [1, 3]
    assert (distilled / "metrics.json").exists()
    assert (distilled / "vocab.txt").read_bytes() == \
        (open(os.path.join(distill_inputs.teacher_dir, "vocab.txt"), "rb").read())
    legacy = torch.load(distilled / "pytorch_model.bin", weights_only=True)
    assert_same_weights({k: v for k, v in legacy.items() if k in student_weights(distilled)},
                        student_weights(distilled))

    tokenizer = transformers.AutoTokenizer.from_pretrained(str(distilled))
    model = transformers.AutoModelForMaskedLM.from_pretrained(str(distilled))
    fill = transformers.pipeline("fill-mask", model=model, tokenizer=tokenizer)
    results = fill(f"我们的学{tokenizer.mask_token}很好", top_k=3)
    assert len(results) == 3 and all(0 <= r["score"] <= 1 for r in results)

    events = EventAccumulator(str(distilled / "tensorboard"))
    events.Reload()
    assert [e.step for e in events.Scalars("loss")] == [10, 20, 30, 40, 50, 60]


def run_cli(args, **popen):
    env = dict(os.environ, EDU_MLM_NO_PROGRESS="1", OMP_NUM_THREADS="1")
    return subprocess.Popen([sys.executable, "-m", "components.distill", *map(str, args)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, **popen)


NUM_STEPS, SAVE_EVERY = 24, 4
RESUME = ["--save_checkpoints_steps", SAVE_EVERY, "--log_every_n_steps", 1, "--do_eval", False]


@pytest.fixture(scope="module")
def straight(distill_inputs, tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("straight") / "student"
    main(flags(distill_inputs, output_dir, NUM_STEPS, *RESUME))
    return student_weights(output_dir)


@pytest.mark.slow
def test_stop_and_resume_gives_the_same_student_as_a_straight_run(straight, distill_inputs,
                                                                 tmp_path):
    output_dir = tmp_path / "student"
    main(flags(distill_inputs, output_dir, NUM_STEPS, *RESUME, "--stop_at_step", 10))
    assert not (output_dir / "manifest.json").exists()
    assert sorted(os.listdir(output_dir / "distill_state")) == [
        "run.json", "state-00000008.pt", "state-00000010.pt"]
    main(flags(distill_inputs, output_dir, NUM_STEPS, *RESUME))
    assert_same_weights(student_weights(output_dir), straight)
    assert [r["step"] for r in read_log(output_dir)] == list(range(1, NUM_STEPS + 1))


def saved_steps(output_dir):
    state = output_dir / "distill_state"
    names = os.listdir(state) if state.exists() else []
    return [int(n[6:14]) for n in names if n.startswith("state-") and n.endswith(".pt")]


@pytest.mark.slow
def test_sigterm_and_sigkill_lose_at_most_one_interval(straight, distill_inputs, tmp_path):
    output_dir = tmp_path / "student"
    args = flags(distill_inputs, output_dir, NUM_STEPS, *RESUME)
    rng = random.Random(0)
    # A SIGTERM saves at the step it arrives; a SIGKILL keeps the last save.
    for number, sent in enumerate([signal.SIGTERM] + [signal.SIGKILL] * 3):
        process = run_cli(args)
        target = max(saved_steps(output_dir) or [0]) + rng.randint(1, 2 * SAVE_EVERY)
        while process.poll() is None:
            records = read_log(output_dir)
            if records and records[-1]["step"] >= min(target, NUM_STEPS - 1):
                break
            time.sleep(0.02)
        time.sleep(rng.uniform(0, 0.05))
        process.send_signal(sent)
        code = process.wait()
        if code == 0:
            break  # it finished before the signal arrived
        logged = read_log(output_dir)[-1]["step"]
        saved = max(saved_steps(output_dir))
        if sent == signal.SIGTERM:
            assert code == 143, process.stderr.read()[-2000:]
            assert saved == logged
        else:
            assert code == -signal.SIGKILL
            assert logged - saved <= SAVE_EVERY, (number, logged, saved)
    process = run_cli(args)
    assert process.wait() == 0, process.stderr.read()[-3000:]
    assert_same_weights(student_weights(output_dir), straight)
    assert json.loads((output_dir / "manifest.json").read_text())["global_step"] == NUM_STEPS


@pytest.mark.slow
def test_two_gloo_processes_equal_one_with_the_same_global_batch(distill_inputs, tmp_path):
    # Dropout off: its masks depend on the process, the rest must not.
    common = ["--do_eval", False, "--student_dropout", 0, "--save_checkpoints_steps", 3]
    one, two = tmp_path / "one", tmp_path / "two"
    # One process in two micro-batches of 4, two processes of 4 each: the same global batch.
    single = run_cli(flags(distill_inputs, one, 6, *common, "--gradient_accumulation_steps", 2))
    assert single.wait() == 0, single.stderr.read()[-3000:]
    double = run_cli(flags(distill_inputs, two, 6, *common, "--num_processes", 2,
                           "--train_batch_size", 4))
    assert double.wait() == 0, double.stderr.read()[-3000:]
    assert json.loads((two / "manifest.json").read_text())["processes"] == 2
    assert_same_weights(student_weights(one), student_weights(two), atol=1e-5)
