"""What the student is compared with: its embeddings before their dropout (transformers'
hidden_states[0] is after it), and KD at every real token (--kd_positions all) beside the masked
positions, checked against the plain formulas on tiny models; the step's weighting and the
resume check with it."""

import pytest
import torch
import torch.nn.functional as F
import transformers

from components.distill.loss import (
    HiddenProjection,
    LossWeights,
    distill_loss,
    forward_masked,
    hidden_loss,
)
from components.distill.steps import DistillStep, micro_batch_shares
from tests.test_distill_steps import synthetic_batch
from tests.test_distill_train import flags, main

VOCAB = 100


def tiny_bert(seed, dropout=0.1):
    torch.manual_seed(seed)
    config = transformers.BertConfig(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2,
                                     num_attention_heads=2, intermediate_size=64,
                                     max_position_embeddings=64, hidden_dropout_prob=dropout,
                                     attention_probs_dropout_prob=dropout,
                                     initializer_range=0.2)  # peaked logits: KL far from 0
    return transformers.BertForMaskedLM(config)


def same_model_in_train_mode(teacher):
    student = tiny_bert(1, dropout=teacher.config.hidden_dropout_prob)
    student.load_state_dict(teacher.state_dict())
    return student.train()


def test_the_embedding_pair_compares_the_embeddings_before_dropout():
    p = 0.5
    teacher = tiny_bert(0, dropout=p).eval()
    student = same_model_in_train_mode(teacher)
    batch = synthetic_batch(torch.Generator().manual_seed(0), 8, padded=3)
    with torch.no_grad():
        clean = forward_masked(teacher, batch, hidden=True).hidden_states
        ours = forward_masked(student, batch, hidden=True).hidden_states
        dropped = student.bert(input_ids=batch["input_ids"], attention_mask=batch["input_mask"],
                               token_type_ids=batch["segment_ids"],
                               output_hidden_states=True).hidden_states
    mask = batch["input_mask"]
    projection = HiddenProjection(32, 32, 1)
    # transformers' hidden_states[0] in train mode: the dropped-out embeddings, an MSE of
    # p/(1-p)·E[x²] to the same weights' clean ones (1 at p=0.5: the bias this removes).
    biased = float(hidden_loss(dropped, clean, mask, [(0, 0)], projection))
    expected = p / (1 - p) * float(clean[0][mask.bool()].square().mean())
    assert biased == pytest.approx(expected, rel=0.15)
    assert torch.equal(ours[0], clean[0])
    assert float(hidden_loss(ours, clean, mask, [(0, 0)], projection)) == 0.0
    assert len(ours) == len(dropped) == 3
    # Nothing is kept past the call (a CUDA graph's output must not outlive its replay).
    assert student.embeddings_before_dropout.output is None
    # The layers' states are transformers' own (in eval mode: deterministic).
    with torch.no_grad():
        reference = teacher.bert(input_ids=batch["input_ids"], attention_mask=mask,
                                 token_type_ids=batch["segment_ids"],
                                 output_hidden_states=True).hidden_states
    for ours_state, reference_state in zip(clean, reference, strict=True):
        torch.testing.assert_close(ours_state, reference_state, rtol=0, atol=0)


@pytest.mark.slow  # torch.compile on a CPU: about 10 s
def test_the_embeddings_before_dropout_under_torch_compile():
    teacher = tiny_bert(0, dropout=0.5).eval()
    student = same_model_in_train_mode(teacher)
    batch = synthetic_batch(torch.Generator().manual_seed(1), 4)
    with torch.no_grad():
        clean = forward_masked(teacher, batch, hidden=True).hidden_states[0]
        forward_masked(student, batch, hidden=True)  # eager first: the hook is registered

        def embeddings(batch):
            return forward_masked(student, batch, hidden=True).hidden_states[0]

        compiled = torch.compile(embeddings, fullgraph=True)
        torch.testing.assert_close(compiled(batch), clean)
    assert student.embeddings_before_dropout.output is None


def plain_kl(student, teacher, batch, temperature):
    """KL(teacher_T ‖ student_T) [B, T] of the models' own full logits at every position."""
    inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["input_mask"],
              "token_type_ids": batch["segment_ids"]}
    with torch.no_grad():
        teacher_log = F.log_softmax(teacher(**inputs).logits / temperature, dim=-1)
    student_log = F.log_softmax(student(**inputs).logits / temperature, dim=-1)
    return (teacher_log.exp() * (teacher_log - student_log)).sum(-1)


def test_kd_at_every_token_equals_the_plain_formula_with_its_gradient():
    teacher = tiny_bert(0).eval()
    student = tiny_bert(1).eval()  # no dropout: both computations see the same student
    batch = synthetic_batch(torch.Generator().manual_seed(2), 6, padded=5)
    weights = LossWeights(temperature=2.0, kd=1.0, hard=0.0, hidden=0.0, attention=0.0,
                          kd_positions="all")
    with torch.no_grad():
        teacher_out = forward_masked(teacher, batch, every_position=True)
    student_out = forward_masked(student, batch, every_position=True)
    assert student_out.token_logits.shape == (6, 16, VOCAB)
    _, parts = distill_loss(student_out, teacher_out, batch, weights, [], None)
    parts["kd"].backward()
    ours = {n: p.grad.clone() for n, p in student.named_parameters() if p.grad is not None}
    student.zero_grad()
    kl = plain_kl(student, teacher, batch, temperature=2.0)                    # [B, T]
    plain = 2.0 ** 2 * kl[batch["input_mask"].bool()].mean()   # T² · mean over real tokens
    plain.backward()
    assert float(plain.detach()) > 0.1  # not trivially equal at 0
    torch.testing.assert_close(parts["kd"], plain, rtol=1e-5, atol=1e-6)
    assert ours.keys() == {n for n, p in student.named_parameters() if p.grad is not None}
    for name, grad in ours.items():
        torch.testing.assert_close(grad, student.get_parameter(name).grad, rtol=1e-4,
                                   atol=1e-7, msg=name)
    # The masked positions' logits are gathered from the every-token ones: the same as the
    # masked-only forward pass's, for the hard loss and the agreement statistics; masked-only
    # KD is the same KL averaged over the real masked positions instead.
    with torch.no_grad():
        masked_only = forward_masked(student, batch)
        assert masked_only.token_logits is None
        torch.testing.assert_close(student_out.logits, masked_only.logits)
        masked = LossWeights(temperature=2.0, kd=1.0, hard=0.0, hidden=0.0, attention=0.0,
                              kd_positions="masked")
        _, masked_parts = distill_loss(masked_only, forward_masked(teacher, batch), batch,
                                       masked, [], None)
        at_masked = kl.detach().gather(1, batch["masked_lm_positions"])         # [B, P]
        real = batch["masked_lm_weights"] > 0
        torch.testing.assert_close(masked_parts["kd"], 2.0 ** 2 * at_masked[real].mean(),
                                   rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kd_positions", ["masked", "all"])
def test_a_step_split_into_micro_batches_is_the_whole_batchs_loss(kd_positions):
    """KD at every token is a mean over tokens, weighted by the micro-batch's token share, not
    its masked-position share (they differ here: the second half has padding)."""
    teacher = tiny_bert(0).eval()
    student = tiny_bert(1).eval()
    weights = LossWeights(temperature=1.0, kd=1.0, hard=0.5, hidden=0.0, attention=0.0,
                          kd_positions=kd_positions)
    step = DistillStep(student, HiddenProjection(32, 32, 0), weights, [])
    generator = torch.Generator().manual_seed(3)
    halves = [synthetic_batch(generator, 3), synthetic_batch(generator, 5, padded=6)]
    whole = {k: torch.cat([h[k] for h in halves]) for k in halves[0]}
    every = kd_positions == "all"
    with torch.no_grad():
        def loss(batches):
            shares, _ = micro_batch_shares(batches, False, world=1)
            return sum(step(b, forward_masked(teacher, b, every_position=every), shares[j])[0]
                       for j, b in enumerate(batches))

        torch.testing.assert_close(loss(halves), loss([whole]), rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_a_resumed_run_with_other_kd_positions_is_refused(distill_inputs, tmp_path, capsys):
    output_dir = tmp_path / "student"
    common = ["--do_eval", False, "--save_checkpoints_steps", 1]
    main(flags(distill_inputs, output_dir, 4, *common, "--kd_positions", "all",
               "--stop_at_step", 2))
    log = (output_dir / "distill_log.jsonl").read_text().splitlines()
    assert '"loss_kd"' in log[-1]
    capsys.readouterr()
    with pytest.raises(SystemExit) as refused:
        main(flags(distill_inputs, output_dir, 4, *common))
    assert refused.value.code == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "kd_positions: 'all' then, 'masked' now" in errors[0]
