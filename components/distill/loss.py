"""The distillation loss: what the student is taught to match, at which positions.

Like the TF trainer, the vocabulary projection (the largest matrix product of an MLM step) runs
only at the masked positions: the last hidden state is gathered there before the MLM head, so
logits are [B, P, V], not [B, T, V] -- unless KD is taken at every token. The parts, each with a
weight (`LossWeights`):
- kd: T² · KL(teacher_T ‖ student_T) of the distributions over the vocabulary at temperature T,
  averaged over the real masked positions (masked_lm_weights > 0), or with kd_positions "all"
  over every real token (input_mask; DistilBERT); T² keeps its gradient's scale independent of
  T (Hinton et al.);
- hard: the masked-LM cross-entropy of the student on the true tokens (DistilBERT's L_mlm);
- hidden: the MSE of student and teacher hidden states over the layer pairs (the embeddings and
  each student layer with its teacher layer), over real tokens (input_mask) and hidden units,
  summed over the pairs, the student's projected to the teacher's size where they differ, as
  TextBrewer's `hidden_mse` matches (MiniRBT, TinyBERT). The embeddings are compared before
  their dropout (`forward_masked`);
- attention: KL(teacher ‖ student) of the attention distributions of the last pair's layers
  (MiniLM), per head and real query token; when the head counts differ, of the distributions
  averaged over heads. It needs eager attention (PyTorch's fused kernel returns none).
"""

import dataclasses
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

# Probabilities are floored here before a log: a padded key's attention is exactly 0.
_FLOOR = 1e-12
# Elements of one block of `SoftTargetKL` on a CPU: 1 MiB of float32.
_CPU_BLOCK = 2**18


@dataclasses.dataclass
class LossWeights:
    """Weights of the loss parts and the temperature (their defaults are the flags',
    `DistillArguments`)."""
    temperature: float
    kd: float
    hard: float
    hidden: float
    attention: float
    kd_positions: str  # "masked", or "all": the KL over every real token


def kd_at_every_token(weights):
    return weights.kd > 0 and weights.kd_positions == "all"


class MaskedOutput(NamedTuple):
    logits: torch.Tensor                     # [B, P, V] at masked_lm_positions
    hidden_states: tuple | None = None       # L + 1 of [B, T, H] (0: embeddings before dropout)
    attentions: tuple | None = None          # L of [B, heads, T, T]
    token_logits: torch.Tensor | None = None  # [B, T, V] at every position (KD at every token)


class KeptOutput:
    """A forward hook that keeps its module's output of one call, asked for by `expect`, until
    `take` hands it over: no tensor outlives the call (nor a CUDA graph's replay), and other
    calls of the model keep nothing."""

    def __init__(self):
        self.expected, self.output = False, None

    def __call__(self, module, args, output):
        if self.expected:
            self.output = output

    def expect(self):
        self.expected = True

    def take(self):
        output, self.output, self.expected = self.output, None, False
        return output


def _embeddings_before_dropout(model):
    """The hook on `model`'s embedding LayerNorm, registered on the first call (an eager one:
    registering it inside torch.compile would break the graph, `steps.install_output_hooks`).

    transformers' hidden_states[0] is the embeddings after their dropout: in train mode the
    student's are x·mask/(1-p), the eval-mode teacher's x, and their MSE is p/(1-p)·E[x²]
    (0.12 at BERT's p=0.1) with the same weights, least where the student's embeddings shrink
    to (1-p)·x. Before the dropout both are x."""
    kept = getattr(model, "embeddings_before_dropout", None)
    if kept is None:
        kept = model.embeddings_before_dropout = KeptOutput()
        model.bert.embeddings.LayerNorm.register_forward_hook(kept)
    return kept


def forward_masked(model, batch, *, hidden=False, attention=False, every_position=False):
    """Run a `BertForMaskedLM` on `batch` (tensors named as `records.FEATURES`), projecting to
    the vocabulary only at the masked positions, or with `every_position` at every position
    (`token_logits`, the masked ones gathered from them). With `hidden`, hidden_states[0] is the
    embeddings before their dropout (`_embeddings_before_dropout`)."""
    kept = _embeddings_before_dropout(model) if hidden else None
    if kept:
        kept.expect()
    encoded = model.bert(input_ids=batch["input_ids"], attention_mask=batch["input_mask"],
                         token_type_ids=batch["segment_ids"], output_hidden_states=hidden,
                         output_attentions=attention)
    embeddings = kept.take() if kept else None
    sequence = encoded.last_hidden_state                                  # [B, T, H]
    positions = batch["masked_lm_positions"]                              # [B, P]
    token_logits = model.cls(sequence) if every_position else None       # [B, T, V]
    source = sequence if token_logits is None else token_logits
    logits = source.gather(1, positions.unsqueeze(-1).expand(-1, -1, source.shape[-1]))
    if token_logits is None:
        logits = model.cls(logits)                                        # [B, P, V]
    attentions = encoded.attentions if attention else None
    if attention and not attentions:
        raise ValueError("the model returned no attentions: load it with "
                         "attn_implementation='eager' for the attention loss")
    states = (embeddings, *encoded.hidden_states[1:]) if hidden else None
    return MaskedOutput(logits, states, attentions, token_logits)


class HiddenProjection(nn.Module):
    """Maps each student hidden state of the layer pairs to the teacher's size: one learned
    Linear per pair (TinyBERT's W_h), or nothing when the sizes are equal."""

    def __init__(self, student_hidden, teacher_hidden, num_pairs):
        super().__init__()
        self.maps = nn.ModuleList(
            [] if student_hidden == teacher_hidden
            else [nn.Linear(student_hidden, teacher_hidden) for _ in range(num_pairs)])

    def forward(self, pair, student_state):
        return self.maps[pair](student_state) if len(self.maps) else student_state


def _full(x):
    """`x` in at least float32: bf16 autocast outputs are upcast before softmax and squares."""
    return x if x.dtype in (torch.float32, torch.float64) else x.float()


def _real_mean(values, real):
    """Mean of `values` over the positions where `real` is 1 (0 when there are none)."""
    return (values * real).sum() / real.sum().clamp(min=1.0)


class SoftTargetKL(torch.autograd.Function):
    """KL(teacher_T ‖ student_T) per position, [B, P, V] logits -> [B, P] (or [B, T, V] ->
    [B, T]), differentiable in the student's logits only.

    One function rather than autograd over log_softmax, sub, mul and sum because at [B, P, V]
    every elementwise pass over the vocabulary costs as much as a layer of a small student. The
    gradient, (softmax(student / T) - softmax(teacher / T)) / T, is made by the forward pass and
    the backward pass is one multiplication. On a CPU the positions go through in blocks of
    about a megabyte, which stay in cache; only the gradient is written at full size."""

    @staticmethod
    def forward(ctx, student_logits, teacher_logits, temperature):
        inverse = 1.0 / temperature
        vocab = student_logits.shape[-1]
        students = student_logits.reshape(-1, vocab)                           # [B*P, V]
        teachers = teacher_logits.reshape(-1, vocab)
        dtype = torch.float64 if student_logits.dtype == torch.float64 else torch.float32
        residual = torch.empty(students.shape, dtype=dtype, device=students.device)
        count = students.shape[0]
        kl = torch.empty(count, dtype=dtype, device=students.device)
        block = count if students.is_cuda else max(1, _CPU_BLOCK // vocab)
        for lo in range(0, count, block):
            hi = min(lo + block, count)
            teacher_log = F.log_softmax(teachers[lo:hi].to(dtype) * inverse, dim=-1)
            teacher_prob = teacher_log.exp()
            student_log = F.log_softmax(students[lo:hi].to(dtype) * inverse, dim=-1)
            kl[lo:hi] = teacher_log.sub_(student_log).mul_(teacher_prob).sum(-1)
            torch.sub(student_log.exp_(), teacher_prob, out=residual[lo:hi])
        ctx.save_for_backward(residual)
        ctx.inverse, ctx.dtype, ctx.spent = inverse, student_logits.dtype, False
        return kl.view(student_logits.shape[:-1])

    @staticmethod
    def backward(ctx, grad_kl):
        # In place: a fresh [B*P, V] tensor would cost its page faults again.
        if ctx.spent:
            raise RuntimeError("SoftTargetKL's backward runs once: it scales its saved "
                               "gradient in place (no retain_graph)")
        ctx.spent = True
        (residual,) = ctx.saved_tensors                                        # [B*P, V]
        grad = residual.mul_(grad_kl.reshape(-1, 1) * ctx.inverse)
        return grad.view(grad_kl.shape + residual.shape[-1:]).to(ctx.dtype), None, None


def kd_loss(student_logits, teacher_logits, real, temperature):
    """T² · KL(teacher_T ‖ student_T) averaged over the positions where `real` ([B, P] or
    [B, T]) is 1."""
    kl = SoftTargetKL.apply(student_logits, teacher_logits.detach(), temperature)  # [B, P]
    return temperature ** 2 * _real_mean(kl, real)


def hard_loss(student_logits, labels, real):
    """Cross-entropy on the true tokens averaged over real masked positions."""
    nll = F.cross_entropy(_full(student_logits).flatten(0, 1), labels.flatten(),
                          reduction="none").view_as(real)                # [B, P]
    return _real_mean(nll, real)


def hidden_loss(student_states, teacher_states, input_mask, pairs, projection):
    """Sum over the pairs of the MSE over real tokens and hidden units."""
    tokens = input_mask.unsqueeze(-1).float()                             # [B, T, 1]
    count = tokens.sum().clamp(min=1.0) * teacher_states[0].shape[-1]
    total = 0.0
    for k, (s, t) in enumerate(pairs):
        diff = _full(projection(k, student_states[s])) - _full(teacher_states[t])
        total = total + (diff.square() * tokens).sum() / count
    return total


def attention_loss(student_attention, teacher_attention, input_mask):
    """KL(teacher ‖ student) of the attention distributions [B, heads, T, T], averaged over
    heads and real query tokens."""
    student_attention, teacher_attention = _full(student_attention), _full(teacher_attention)
    if student_attention.shape[1] != teacher_attention.shape[1]:
        student_attention = student_attention.mean(1, keepdim=True)
        teacher_attention = teacher_attention.mean(1, keepdim=True)
    teacher_log = teacher_attention.clamp(min=_FLOOR).log()
    student_log = student_attention.clamp(min=_FLOOR).log()
    kl = (teacher_attention * (teacher_log - student_log)).sum(-1).mean(1)   # [B, T]
    return _real_mean(kl, input_mask.float())


def distill_loss(student_out, teacher_out, batch, weights, pairs, projection):
    """(total, parts): the weighted sum of the parts whose weight is not 0, and those parts
    (0-d float32 tensors, unweighted) by name."""
    real = (batch["masked_lm_weights"] > 0).float()                       # [B, P]
    parts = {}
    if kd_at_every_token(weights):
        parts["kd"] = kd_loss(student_out.token_logits, teacher_out.token_logits,
                              batch["input_mask"].float(), weights.temperature)
    elif weights.kd:
        parts["kd"] = kd_loss(student_out.logits, teacher_out.logits, real, weights.temperature)
    if weights.hard:
        parts["hard"] = hard_loss(student_out.logits, batch["masked_lm_ids"], real)
    if weights.hidden:
        parts["hidden"] = hidden_loss(student_out.hidden_states, teacher_out.hidden_states,
                                      batch["input_mask"], pairs, projection)
    if weights.attention:
        s, t = pairs[-1]
        parts["attention"] = attention_loss(student_out.attentions[s - 1],
                                            teacher_out.attentions[t - 1], batch["input_mask"])
    total = sum(getattr(weights, name) * value for name, value in parts.items())
    return total, parts


@torch.no_grad()
def masked_lm_metrics(logits, batch):
    """Sums over the real masked positions: cross-entropy (loss_sum), top-1 hits (correct) and
    the positions (count), as Python numbers."""
    real = batch["masked_lm_weights"] > 0
    labels = batch["masked_lm_ids"]
    nll = F.cross_entropy(logits.float().flatten(0, 1), labels.flatten(),
                          reduction="none").view_as(labels)
    return {"loss_sum": float(nll[real].sum()),
            "correct": int((logits.argmax(-1) == labels)[real].sum()),
            "count": int(real.sum())}


@torch.no_grad()
def top1_agreement(student_logits, teacher_logits, batch):
    """(positions where the student's top-1 token is the teacher's, real masked positions)."""
    real = batch["masked_lm_weights"] > 0
    same = student_logits.argmax(-1) == teacher_logits.argmax(-1)
    return int(same[real].sum()), int(real.sum())
