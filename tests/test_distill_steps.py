"""The distiller's step as a GPU runs it, checked on the CPU: the micro-batches' shares counted on
the host, the compiled student step and teacher forward pass each one graph, the train records
read once for every process (spawned or torchrun's), and a student that cannot copy the
teacher's layers refused."""

import os
import subprocess
import sys

import pytest
import torch
import transformers

from components.common.errors import UserError
from components.distill import loop
from components.distill.arguments import DistillArguments
from components.distill.launch import Process
from components.distill.loss import HiddenProjection, LossWeights, forward_masked
from components.distill.steps import (
    DistillStep,
    compile_step,
    make_train_step,
    micro_batch_shares,
)
from components.distill.student import (
    StudentShape,
    hidden_layer_pairs,
    init_student,
    student_config,
    teacher_layer_map,
)
from tests.test_distill_train import assert_same_weights, flags, run_cli, student_weights


def synthetic_batch(generator, size, seq_length=16, predictions=3, vocab=100, padded=0):
    """A batch named as the records, `padded` tokens and masked slots of each example padding."""
    input_mask = torch.ones(size, seq_length, dtype=torch.long)
    weights = torch.ones(size, predictions)
    if padded:
        input_mask[:, -padded:] = 0
        weights[:, -1] = 0
    return {"input_ids": torch.randint(5, vocab, (size, seq_length), generator=generator),
            "input_mask": input_mask,
            "segment_ids": torch.zeros(size, seq_length, dtype=torch.long),
            "masked_lm_positions": torch.randint(0, seq_length - padded, (size, predictions),
                                                 generator=generator),
            "masked_lm_ids": torch.randint(5, vocab, (size, predictions), generator=generator),
            "masked_lm_weights": weights}


def test_shares_are_counted_on_the_host_from_the_batches():
    generator = torch.Generator().manual_seed(0)
    batches = [synthetic_batch(generator, 2), synthetic_batch(generator, 3, padded=4)]
    shares, stopping = micro_batch_shares(batches, False, world=1)
    # Masked positions: 2 x 3 and 3 x 2 real; tokens: 2 x 16 and 3 x 12.
    torch.testing.assert_close(shares, torch.tensor([[6 / 12, 32 / 68], [6 / 12, 36 / 68]]),
                               rtol=0, atol=0)
    assert shares.device.type == "cpu" and stopping is False
    shares, stopping = micro_batch_shares(batches[:1], True, world=1)
    assert shares.tolist() == [[1.0, 1.0]] and stopping is True


def tiny_models(heads=2):
    torch.manual_seed(0)
    config = transformers.BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2,
                                     num_attention_heads=heads, intermediate_size=64,
                                     max_position_embeddings=64)
    teacher = transformers.BertForMaskedLM(config).eval().requires_grad_(False)
    student_cfg = student_config(teacher.config, StudentShape(1))
    layer_map = teacher_layer_map(2, 1)
    return teacher, init_student(teacher, student_cfg, layer_map, seed=1), layer_map


@pytest.mark.slow  # torch.compile on a CPU: about 20 s each
@pytest.mark.parametrize("kd_positions", ["masked", "all"])
def test_compiled_student_step_and_teacher_forward_are_one_graph_each(kd_positions):
    from torch._dynamo.utils import counters

    teacher, student, layer_map = tiny_models()
    weights = LossWeights(temperature=1.0, kd=1.0, hard=0.0, hidden=1.0, attention=0.0,
                          kd_positions=kd_positions)
    pairs = hidden_layer_pairs(layer_map)
    projection = HiddenProjection(32, 32, len(pairs))
    settings = DistillArguments(teacher_dir="-", input_dir="-", output_dir="-",
                                num_train_steps=10, num_warmup_steps=1, train_batch_size=4)
    device = torch.device("cpu")

    def teacher_forward(batch):
        return forward_masked(teacher, batch, hidden=True,
                              every_position=kd_positions == "all")

    torch._dynamo.reset()
    counters.clear()
    step_module, teacher_forward = compile_step(
        DistillStep(student, projection, weights, pairs), teacher_forward, teacher, student,
        weights, device)
    student.train()
    train_step = make_train_step(step_module, None, teacher_forward,
                                 torch.optim.AdamW(student.parameters(), lr=1e-3),
                                 list(student.parameters()), settings, Process(0, 1, device),
                                 torch.autocast("cpu", enabled=False))
    generator = torch.Generator().manual_seed(0)
    for step in range(3):
        sums, _ = train_step(step, [synthetic_batch(generator, 4)], False)
        assert torch.isfinite(sums).all()
    assert dict(counters["graph_break"]) == {}
    # The student's step (forward; its backward is compiled with it) and the teacher's forward
    # pass, compiled once: no break, no recompilation over the steps.
    assert counters["stats"]["unique_graphs"] == 2
    assert counters["frames"]["total"] == counters["frames"]["ok"] == 2


@pytest.mark.parametrize("given, device, world, accumulation, compiled, expected", [
    (None, "cuda", 1, 1, True, True),     # the measured case: one GPU process, compiled
    (None, "cuda", 2, 1, True, False),    # DDP's collectives stay outside graphs
    (None, "cuda", 1, 2, True, False),    # a replay would overwrite the last micro-batch's grads
    (None, "cuda", 1, 1, False, False),   # only compiled steps replay as graphs
    (None, "cpu", 1, 1, True, False),
    (True, "cpu", 1, 1, True, False),     # asked for, but there is no GPU
    (True, "cuda", 2, 1, True, True),     # asked for where the default is off
    (False, "cuda", 1, 1, True, False),
])
def test_cuda_graphs_default_to_one_compiled_gpu_process(given, device, world, accumulation,
                                                         compiled, expected):
    args = DistillArguments(teacher_dir="t", input_dir="d", output_dir="o", cuda_graphs=given,
                            gradient_accumulation_steps=accumulation)
    assert loop.uses_cuda_graphs(args, torch.device(device), world, compiled) is expected


def test_cuda_graphs_with_gradient_accumulation_are_refused():
    with pytest.raises(UserError, match="--cuda_graphs True with --gradient_accumulation"):
        DistillArguments(teacher_dir="t", input_dir="d", output_dir="o", cuda_graphs=True,
                         gradient_accumulation_steps=2)


def test_a_student_with_other_heads_than_the_teacher_layers_it_copies_is_refused():
    teacher, _, _ = tiny_models(heads=4)
    with pytest.raises(UserError) as refused:
        student_config(teacher.config, StudentShape(1, num_attention_heads=2))
    err = refused.value
    assert err.where == "--student_num_attention_heads"
    assert "2 attention heads" in err.what and "trained with 4" in err.what
    assert "pass 4" in err.fix and "\n" not in err.one_line()
    # The same heads, or a random student of another size, are fine.
    assert student_config(teacher.config, StudentShape(1, num_attention_heads=4))
    random_student = student_config(teacher.config, StudentShape(1, hidden_size=16,
                                                                 num_attention_heads=2))
    assert random_student.num_attention_heads == 2


@pytest.mark.slow
def test_started_processes_take_the_records_read_by_their_parent(distill_inputs, monkeypatch):
    args = DistillArguments(teacher_dir=distill_inputs.teacher_dir,
                            input_dir=distill_inputs.data_dir, output_dir="-",
                            student_num_hidden_layers=2)
    index = loop.load_inputs(args).index

    def read_again(*_):
        raise AssertionError("the records were read again")

    monkeypatch.setattr(loop, "open_split", read_again)
    assert loop.load_inputs(args, index=index).index is index


@pytest.mark.slow
def test_torchrun_processes_equal_spawned_ones(distill_inputs, tmp_path):
    """Under torchrun rank 0 reads the records and sends the others its index; the student
    equals the one of two processes the stage starts itself."""
    common = ["--do_eval", False, "--student_dropout", 0, "--save_checkpoints_steps", 3,
              "--train_batch_size", 4]
    spawned, torchrun = tmp_path / "spawned", tmp_path / "torchrun"
    started = run_cli(flags(distill_inputs, spawned, 4, *common, "--num_processes", 2))
    assert started.wait() == 0, started.stderr.read()[-3000:]
    env = dict(os.environ, EDU_MLM_NO_PROGRESS="1", OMP_NUM_THREADS="1")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc_per_node", "2", "-m", "components.distill",
               *flags(distill_inputs, torchrun, 4, *common)]
    finished = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert_same_weights(student_weights(spawned), student_weights(torchrun), atol=1e-6)


@pytest.mark.slow
def test_torchrun_ranks_all_stop_on_an_error_of_rank_0(distill_inputs, tmp_path, capfd):
    """A bad data directory found by rank 0 alone ends every rank with the same one line,
    instead of leaving the others waiting for the records."""
    bad = tmp_path / "no_data"
    bad.mkdir()
    env = dict(os.environ, EDU_MLM_NO_PROGRESS="1", OMP_NUM_THREADS="1")
    # Each rank's stderr in its own file: on one shared pipe the ranks' lines can interleave.
    logs = tmp_path / "logs"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc_per_node", "2", "--log-dir", str(logs), "--redirects", "2",
               "-m", "components.distill",
               *flags(distill_inputs, tmp_path / "out", 2, "--input_dir", bad)]
    finished = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert finished.returncode != 0
    rank_logs = sorted(logs.rglob("stderr.log"))
    assert len(rank_logs) == 2, finished.stderr[-3000:]
    errors = [[line for line in log.read_text(encoding="utf-8").splitlines()
               if line.startswith("error:")] for log in rank_logs]
    assert all(len(e) == 1 for e in errors) and errors[0] == errors[1], errors
    assert "no_data" in errors[0][0]
