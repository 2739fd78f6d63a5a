"""The distiller's parts: the loss against NumPy and the student's initialisation
(`test_distill_inputs.py` has the record reader and the refusals of bad input)."""

import re

import numpy as np
import pytest
import torch

from components.common.errors import UserError
from components.distill import records
from components.distill.loss import (
    HiddenProjection,
    LossWeights,
    MaskedOutput,
    SoftTargetKL,
    distill_loss,
    forward_masked,
)
from components.distill.student import (
    StudentShape,
    copies_teacher_layers,
    hidden_layer_pairs,
    init_student,
    load_teacher,
    student_config,
    teacher_layer_map,
)
from tests.helpers_distill import MAX_PREDICTIONS

DEFAULT_WEIGHTS = LossWeights(temperature=8.0, kd=1.0, hard=0.0, hidden=1.0, attention=0.0,
                              kd_positions="masked")


@pytest.fixture(scope="module")
def teacher(distill_inputs):
    return load_teacher(distill_inputs.teacher_dir)


# --- the loss against NumPy ----------------------------------------------------------------

def _np_log_softmax(x):
    x = x - x.max(-1, keepdims=True)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


def _np_loss(s_logits, t_logits, labels, weights, s_hidden, t_hidden, input_mask, pairs, maps,
             s_attention, t_attention, w):
    real = weights > 0
    log_s = _np_log_softmax(s_logits / w.temperature)
    log_t = _np_log_softmax(t_logits / w.temperature)
    kl = (np.exp(log_t) * (log_t - log_s)).sum(-1)
    kd = w.temperature ** 2 * kl[real].mean()
    log_probs = _np_log_softmax(s_logits)
    rows, slots = np.nonzero(real)
    hard = -log_probs[rows, slots, labels[rows, slots]].mean()
    tokens = input_mask > 0
    hidden = 0.0
    for (s, t), (kernel, bias) in zip(pairs, maps, strict=True):
        projected = s_hidden[s] @ kernel.T + bias
        hidden += ((projected - t_hidden[t]) ** 2)[tokens].mean()
    att_kl = (t_attention * (np.log(t_attention) - np.log(s_attention))).sum(-1).mean(1)
    attention = att_kl[tokens].mean()
    parts = {"kd": kd, "hard": hard, "hidden": hidden, "attention": attention}
    total = sum(getattr(w, name) * value for name, value in parts.items())
    return total, parts


def _random_outputs(rng, batch, seq, preds, vocab, hidden, layers, heads):
    def softmax(x):
        e = np.exp(x - x.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)

    logits = rng.normal(0, 3, (batch, preds, vocab))
    states = [rng.normal(0, 1, (batch, seq, hidden)) for _ in range(layers + 1)]
    attentions = [softmax(rng.normal(0, 2, (batch, heads, seq, seq))) for _ in range(layers)]
    return logits, states, attentions


def test_distill_loss_equals_numpy_computation():
    rng = np.random.default_rng(0)
    batch, seq, preds, vocab, heads = 3, 7, 4, 13, 2
    s_logits, s_hidden, s_att = _random_outputs(rng, batch, seq, preds, vocab, 6, 2, heads)
    t_logits, t_hidden, t_att = _random_outputs(rng, batch, seq, preds, vocab, 10, 4, heads)
    weights = np.ones((batch, preds), np.float32)
    weights[1, 2:] = 0
    weights[2, 1:] = 0
    input_mask = np.ones((batch, seq), np.int64)
    input_mask[1, 5:] = 0
    input_mask[2, 3:] = 0
    labels = rng.integers(0, vocab, (batch, preds))
    pairs = hidden_layer_pairs([1, 3])
    assert pairs == [(0, 0), (1, 2), (2, 4)]
    torch.manual_seed(0)
    projection = HiddenProjection(6, 10, len(pairs)).double()
    maps = [(m.weight.detach().numpy(), m.bias.detach().numpy()) for m in projection.maps]
    lw = LossWeights(temperature=2.5, kd=1.0, hard=0.7, hidden=0.3, attention=0.2,
                     kd_positions="masked")
    torch_batch = {"masked_lm_weights": torch.from_numpy(weights),
                   "masked_lm_ids": torch.from_numpy(labels),
                   "input_mask": torch.from_numpy(input_mask)}

    def as_output(logits, states, attentions):
        return MaskedOutput(torch.from_numpy(logits), tuple(map(torch.from_numpy, states)),
                            tuple(map(torch.from_numpy, attentions)))

    with torch.no_grad():
        total, parts = distill_loss(as_output(s_logits, s_hidden, s_att),
                                    as_output(t_logits, t_hidden, t_att), torch_batch, lw, pairs,
                                    projection)
    want_total, want = _np_loss(s_logits, t_logits, labels, weights, s_hidden, t_hidden,
                                input_mask, pairs, maps, s_att[-1], t_att[3], lw)
    assert set(parts) == {"kd", "hard", "hidden", "attention"}
    for name, value in want.items():
        assert float(parts[name]) == pytest.approx(value, abs=1e-6, rel=1e-6), name
    assert float(total) == pytest.approx(want_total, abs=1e-6, rel=1e-6)
    assert want["kd"] > 0.1 and want["hidden"] > 0.1  # not trivially equal at 0

    only_kd = LossWeights(temperature=1.0, kd=1.0, hard=0.0, hidden=0.0, attention=0.0,
                              kd_positions="masked")
    total, parts = distill_loss(as_output(s_logits, s_hidden, s_att),
                                as_output(t_logits, t_hidden, t_att), torch_batch, only_kd,
                                pairs, projection)
    assert set(parts) == {"kd"}
    log_s, log_t = _np_log_softmax(s_logits), _np_log_softmax(t_logits)
    kl = (np.exp(log_t) * (log_t - log_s)).sum(-1)
    assert float(total) == pytest.approx(kl[weights > 0].mean(), abs=1e-6)


def test_kd_gradient_equals_autograd_of_the_plain_formula():
    """`SoftTargetKL` makes its gradient itself (in blocks on a CPU): it must be the gradient
    autograd takes of KL(softmax(t / T) ‖ softmax(s / T)), in float64 and in float32, over
    more positions than one block holds."""
    torch.manual_seed(0)
    for dtype, positions, tolerance in ((torch.float64, 5, 1e-12), (torch.float32, 70, 1e-5)):
        student = (3 * torch.randn(2, positions, 9000, dtype=dtype)).requires_grad_()
        teacher = 3 * torch.randn(2, positions, 9000, dtype=dtype)
        upstream = torch.rand(2, positions, dtype=dtype)
        kl = SoftTargetKL.apply(student, teacher, 2.5)
        (kl * upstream).sum().backward()
        plain = student.detach().clone().requires_grad_()
        teacher_log = torch.log_softmax(teacher / 2.5, -1)
        want = (teacher_log.exp() * (teacher_log - torch.log_softmax(plain / 2.5, -1))).sum(-1)
        (want * upstream).sum().backward()
        assert torch.allclose(kl, want, atol=0, rtol=tolerance)
        assert torch.allclose(student.grad, plain.grad, atol=tolerance * 1e-3, rtol=tolerance)
        assert student.grad.abs().max() > 10 * tolerance
    student = torch.randn(1, 2, 5, requires_grad=True)
    kl = SoftTargetKL.apply(student, torch.randn(1, 2, 5), 1.0)
    kl.sum().backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="runs once"):
        kl.sum().backward()


def test_kd_of_identical_logits_is_zero_and_projection_is_identity_for_equal_sizes():
    projection = HiddenProjection(8, 8, 3)
    assert len(list(projection.parameters())) == 0
    x = torch.randn(2, 5, 8)
    assert projection(1, x) is x
    logits = torch.randn(2, 3, 11)
    out = MaskedOutput(logits, (x,), None)
    batch = {"masked_lm_weights": torch.ones(2, 3), "input_mask": torch.ones(2, 5)}
    total, parts = distill_loss(out, out, batch, DEFAULT_WEIGHTS, [(0, 0)], projection)
    assert float(parts["kd"]) == pytest.approx(0.0, abs=1e-6)
    assert float(parts["hidden"]) == 0.0


# --- the student -------------------------------------------------------------------------------

def test_teacher_layer_map_defaults_and_bad_maps():
    assert teacher_layer_map(12, 4) == [2, 5, 8, 11]
    assert teacher_layer_map(12, 6) == [1, 3, 5, 7, 9, 11]
    assert teacher_layer_map(12, 3) == [3, 7, 11]
    assert teacher_layer_map(4, 2) == [1, 3]
    assert teacher_layer_map(4, 4) == [0, 1, 2, 3]
    assert teacher_layer_map(4, 1) == [3]
    assert teacher_layer_map(4, 2, chosen=[0, 2]) == [0, 2]
    with pytest.raises(UserError, match="out of range"):
        teacher_layer_map(4, 2, chosen=[0, 4])
    with pytest.raises(UserError, match="out of range"):
        teacher_layer_map(4, 2, chosen=[-1, 2])
    with pytest.raises(UserError, match="names 3 layers"):
        teacher_layer_map(4, 2, chosen=[0, 1, 2])
    with pytest.raises(UserError, match="cannot map 5"):
        teacher_layer_map(4, 5)


def _layer_of(name):
    match = re.match(r"bert\.encoder\.layer\.(\d+)\.(.*)", name)
    return (int(match.group(1)), match.group(2)) if match else None


@pytest.mark.parametrize("chosen", [None, [0, 2]])
def test_init_from_teacher_copies_exactly_the_chosen_layers(teacher, chosen):
    config = student_config(teacher.config, StudentShape(num_hidden_layers=2))
    layer_map = teacher_layer_map(teacher.config.num_hidden_layers, 2, chosen)
    assert layer_map == (chosen or [1, 3])
    student = init_student(teacher, config, layer_map, seed=1)
    assert copies_teacher_layers(teacher.config, config)
    teacher_params = dict(teacher.named_parameters())
    student_params = dict(student.named_parameters())
    copied_layers = set()
    for name, value in student_params.items():
        layer = _layer_of(name)
        if layer is None:  # embeddings and the MLM head keep their names
            source = name
        else:
            source = f"bert.encoder.layer.{layer_map[layer[0]]}.{layer[1]}"
            copied_layers.add(layer_map[layer[0]])
        assert torch.equal(value, teacher_params[source]), name
    assert copied_layers == set(layer_map)
    # Every teacher parameter outside the layers is in the student (embeddings, MLM head).
    outside = {n for n in teacher_params if _layer_of(n) is None}
    assert outside == {n for n in student_params if _layer_of(n) is None}
    assert any(n.startswith("bert.embeddings.") for n in outside)
    assert any(n.startswith("cls.predictions.transform.") for n in outside)
    assert "cls.predictions.bias" in outside
    # The decoder stays tied to the student's own word embeddings.
    assert student.cls.predictions.decoder.weight.data_ptr() == \
        student.bert.embeddings.word_embeddings.weight.data_ptr()
    # The layers not chosen really differ, so the comparison above can fail.
    skipped = next(i for i in range(4) if i not in layer_map)
    assert not torch.equal(student.bert.encoder.layer[0].output.dense.weight,
                           teacher.bert.encoder.layer[skipped].output.dense.weight)
    assert all(p.requires_grad for p in student.parameters())


def test_random_student_with_a_smaller_hidden_size_and_projections(teacher, distill_inputs):
    config = student_config(teacher.config, StudentShape(2, hidden_size=32,
                                                         num_attention_heads=4,
                                                         intermediate_size=64))
    assert (config.hidden_size, config.num_hidden_layers, config.intermediate_size) == (32, 2, 64)
    assert config.vocab_size == teacher.config.vocab_size
    assert not copies_teacher_layers(teacher.config, config)
    layer_map = teacher_layer_map(4, 2)
    student = init_student(teacher, config, layer_map, seed=5)
    again = init_student(teacher, config, layer_map, seed=5)
    for (name, a), b in zip(student.state_dict().items(), again.state_dict().values(),
                            strict=True):
        assert torch.equal(a, b), name
    assert student.bert.embeddings.word_embeddings.weight.shape == (1797, 32)

    index = records.open_split(distill_inputs.data_dir, "train")
    batch = {k: torch.from_numpy(v) for k, v in index.batch(np.arange(4)).items()}
    pairs = hidden_layer_pairs(layer_map)
    projection = HiddenProjection(32, 64, len(pairs))
    assert len(projection.maps) == 3
    s_out = forward_masked(student, batch, hidden=True)
    with torch.no_grad():
        t_out = forward_masked(teacher, batch, hidden=True)
    assert s_out.logits.shape == (4, MAX_PREDICTIONS, 1797)
    assert len(s_out.hidden_states) == 3 and s_out.hidden_states[0].shape == (4, 64, 32)
    total, parts = distill_loss(s_out, t_out, batch, DEFAULT_WEIGHTS, pairs, projection)
    total.backward()
    assert set(parts) == {"kd", "hidden"}
    assert all(m.weight.grad is not None and m.weight.grad.abs().sum() > 0
               for m in projection.maps)


def test_forward_masked_gives_the_full_models_logits_at_the_masked_positions(teacher,
                                                                            distill_inputs):
    index = records.open_split(distill_inputs.data_dir, "heldout")
    batch = {k: torch.from_numpy(v) for k, v in index.batch([0, 1, 2]).items()}
    with torch.no_grad():
        full = teacher(input_ids=batch["input_ids"], attention_mask=batch["input_mask"],
                       token_type_ids=batch["segment_ids"]).logits            # [B, T, V]
        masked = forward_masked(teacher, batch).logits                        # [B, P, V]
    expected = full[torch.arange(3)[:, None], batch["masked_lm_positions"]]
    torch.testing.assert_close(masked, expected, atol=1e-5, rtol=1e-5)


def test_attention_needs_eager_attention(distill_inputs):
    eager = load_teacher(distill_inputs.teacher_dir, attn_implementation="eager")
    index = records.open_split(distill_inputs.data_dir, "heldout")
    batch = {k: torch.from_numpy(v) for k, v in index.batch([0, 1]).items()}
    with torch.no_grad():
        out = forward_masked(eager, batch, attention=True)
    assert len(out.attentions) == 4 and out.attentions[0].shape == (2, 4, 64, 64)
    torch.testing.assert_close(out.attentions[-1].sum(-1), torch.ones(2, 4, 64))
