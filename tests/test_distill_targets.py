"""What the student is compared with: its embeddings before their dropout (transformers'
hidden_states[0] is after it), checked against the plain formulas on tiny models."""

import pytest
import torch
import transformers

from components.distill.loss import HiddenProjection, forward_masked, hidden_loss
from tests.test_distill_steps import synthetic_batch

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

