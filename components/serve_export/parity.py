"""The exported graphs against PyTorch, on the run's held-out records (or synthetic sequences).

Each batch goes through the model in PyTorch (float32, its default attention kernel: what a
PyTorch server runs), the fp32 graph and, when there is one, the int8 graph in ONNX Runtime.
- fp32: the largest |difference| from PyTorch in `last_hidden_state` and in `logits` over the
  real tokens (input_mask 1: a padded position is computed, but no client reads it), and the
  top-1 agreement at the masked positions;
- int8: the top-1 agreement with PyTorch at the real masked positions (masked_lm_weights > 0),
  its masked-LM accuracy and the drop from PyTorch's, and (for information) its largest
  |difference| in `last_hidden_state`: int8 weights move hidden states by about 1e-2; what a
  service feels is whether the predictions move.
Dynamic quantization scales a MatMul's input by its largest value in the whole call, so a
record's int8 outputs depend on the records batched with it: the int8 figures are those of
batches of `--parity_batch_size`.
For the encoder head, whose graph has no logits, the predictions at the masked positions are
the model's PyTorch MLM head applied to the graph's hidden states.
A graph that misses its goal (`--max_abs_diff`, `--min_int8_agreement`) is a `UserError` that
names the figure and the limit.
"""

import logging
import os

import numpy as np
import torch

from components.bert.vocab import load_vocab
from components.common import lineage
from components.common.errors import UserError
from components.common.logs import progress
from components.distill import records
from components.distill.loss import masked_lm_metrics, top1_agreement
from components.serve_export.graph import HIDDEN_OUTPUT, LOGITS_OUTPUT, run_session

log = logging.getLogger(__name__)

# The synthetic check without --input_dir: random tokens, masked like the pretraining data.
SYNTHETIC_EXAMPLES = 64
SYNTHETIC_SEQUENCE = 128
SYNTHETIC_MASKED_SHARE = 0.15
SYNTHETIC_SEED = 0


class ParityData:
    """The records of the check, as numpy batches named as `records.FEATURES`, and what they
    are (`describe`, for metrics.json)."""

    def __init__(self, describe, batch_of, count, batch_size):
        self.describe, self._batch_of, self.count = describe, batch_of, count
        self.batch_size = batch_size

    def batches(self):
        for start in range(0, self.count, self.batch_size):
            yield self._batch_of(np.arange(start, min(start + self.batch_size, self.count)))


def heldout_data(input_dir, model_dir, max_examples, batch_size):
    """The first `max_examples` held-out records of `input_dir`, checked against the model (its
    vocab, its positions)."""
    index = records.open_split(input_dir, "heldout")
    records.check_data_matches_teacher(index, model_dir)
    count = min(max_examples, len(index))
    describe = {"source": "heldout", "input_dir": os.path.abspath(input_dir),
                lineage.DATA: lineage.data_fingerprint(input_dir), "examples": count,
                "seq_length": index.seq_length}
    return ParityData(describe, index.batch, count, batch_size)


def synthetic_data(model_dir, config, max_examples, batch_size):
    """`SYNTHETIC_EXAMPLES` sequences of random whole-word tokens of the model's vocab, the
    first of the full length, the others of random lengths down to half (the rest padding),
    `SYNTHETIC_MASKED_SHARE` of each replaced by [MASK]."""
    vocab = load_vocab(os.path.join(model_dir, "vocab.txt"), flag="--model_dir")
    words = np.array([i for i, token in enumerate(vocab.tokens[:config.vocab_size])
                      if not token.startswith(("[", "##"))])
    if not len(words):
        raise UserError("the vocab has no ordinary tokens to make synthetic sequences of",
                        where=os.path.join(model_dir, "vocab.txt"),
                        fix="pass --input_dir (pretraining data) for the parity check")
    count = min(max_examples, SYNTHETIC_EXAMPLES)
    length = min(SYNTHETIC_SEQUENCE, config.max_position_embeddings)
    predictions = max(1, round(SYNTHETIC_MASKED_SHARE * length))
    rng = np.random.default_rng(SYNTHETIC_SEED)
    arrays = {"input_ids": np.zeros((count, length), np.int64),
              "input_mask": np.zeros((count, length), np.int64),
              "segment_ids": np.zeros((count, length), np.int64),
              "masked_lm_positions": np.zeros((count, predictions), np.int64),
              "masked_lm_ids": np.zeros((count, predictions), np.int64),
              "masked_lm_weights": np.zeros((count, predictions), np.float32)}
    for row in range(count):
        used = length if row == 0 else int(rng.integers(max(3, length // 2), length + 1))
        tokens = np.concatenate([[vocab.id_of("[CLS]")], rng.choice(words, used - 2),
                                 [vocab.id_of("[SEP]")]])
        masked = min(predictions, max(1, round(SYNTHETIC_MASKED_SHARE * (used - 2))))
        positions = np.sort(rng.choice(np.arange(1, used - 1), masked, replace=False))
        arrays["masked_lm_positions"][row, :masked] = positions
        arrays["masked_lm_ids"][row, :masked] = tokens[positions]
        arrays["masked_lm_weights"][row, :masked] = 1.0
        tokens[positions] = vocab.id_of("[MASK]")
        arrays["input_ids"][row, :used] = tokens
        arrays["input_mask"][row, :used] = 1
    describe = {"source": "synthetic", "examples": count, "seq_length": length,
                "seed": SYNTHETIC_SEED,
                "note": "random tokens (no --input_dir): the differences and the agreement are "
                        "measured, the accuracies mean nothing"}
    return ParityData(describe, lambda rows: {k: v[rows] for k, v in arrays.items()}, count,
                      batch_size)


def graph_inputs(batch):
    """The graphs' inputs from a batch of records."""
    return {"input_ids": batch["input_ids"], "attention_mask": batch["input_mask"],
            "token_type_ids": batch["segment_ids"]}


def _at_masked(values, positions):
    """values [B, T, D] at positions [B, P] → [B, P, D]."""
    return values.gather(1, positions.unsqueeze(-1).expand(-1, -1, values.shape[-1]))


class _Tally:
    """Running figures of one graph against PyTorch."""

    def __init__(self):
        self.hidden = self.logits = 0.0
        self.agree = self.correct = 0

    def add(self, outputs, reference, masked_logits, batch):
        real = batch["input_mask"].bool()
        self.hidden = max(self.hidden, _max_abs(outputs[HIDDEN_OUTPUT], reference[HIDDEN_OUTPUT],
                                                real))
        if LOGITS_OUTPUT in outputs:
            self.logits = max(self.logits, _max_abs(outputs[LOGITS_OUTPUT],
                                                    reference[LOGITS_OUTPUT], real))
        self.agree += top1_agreement(masked_logits, reference["masked_logits"], batch)[0]
        self.correct += masked_lm_metrics(masked_logits, batch)["correct"]


def _max_abs(values, reference, real):
    return float((values - reference).abs()[real].max()) if bool(real.any()) else 0.0


@torch.inference_mode()
def check_graphs(model, head, sessions, data):
    """{"data", "pytorch", "fp32" and, with an int8 session, "int8"} figures of `sessions`
    ({"fp32": session, "int8": session}) against `model` on `data` (a `ParityData`)."""
    tallies = {name: _Tally() for name in sessions}
    positions_total = pytorch_correct = 0
    with progress(total=data.count, desc="parity", unit="ex") as bar:
        for arrays in data.batches():
            batch = {name: torch.from_numpy(value) for name, value in arrays.items()}
            hidden = model.bert(input_ids=batch["input_ids"], attention_mask=batch["input_mask"],
                                token_type_ids=batch["segment_ids"]).last_hidden_state
            positions = batch["masked_lm_positions"]
            reference = {HIDDEN_OUTPUT: hidden,
                         "masked_logits": model.cls(_at_masked(hidden, positions))}
            if head == "mlm":
                reference[LOGITS_OUTPUT] = model.cls(hidden)
            positions_total += int((batch["masked_lm_weights"] > 0).sum())
            pytorch_correct += masked_lm_metrics(reference["masked_logits"], batch)["correct"]
            for name, session in sessions.items():
                outputs = {key: torch.from_numpy(value) for key, value in
                           run_session(session, graph_inputs(arrays)).items()}
                masked_logits = (_at_masked(outputs[LOGITS_OUTPUT], positions)
                                 if LOGITS_OUTPUT in outputs
                                 else model.cls(_at_masked(outputs[HIDDEN_OUTPUT], positions)))
                tallies[name].add(outputs, reference, masked_logits, batch)
            bar.update(len(arrays["input_ids"]))
    def share(count):
        return count / max(positions_total, 1)

    result = {"data": {**data.describe, "masked_positions": positions_total},
              "pytorch": {"masked_lm_accuracy": share(pytorch_correct)}}
    for name, tally in tallies.items():
        figures = {"max_abs_diff_last_hidden_state": tally.hidden,
                   "top1_agreement": share(tally.agree),
                   "masked_lm_accuracy": share(tally.correct),
                   "accuracy_drop": share(pytorch_correct) - share(tally.correct)}
        if head == "mlm":
            figures["max_abs_diff_logits"] = tally.logits
        result[name] = figures
    return result


def check_goals(result, max_abs_diff, min_int8_agreement):
    """Add each graph's goal and whether it meets it to `result`; raise a UserError for the
    first graph that misses."""
    fp32 = result["fp32"]
    worst_name, worst = max(((key, value) for key, value in fp32.items()
                             if key.startswith("max_abs_diff")), key=lambda item: item[1])
    fp32.update(goal_max_abs_diff=max_abs_diff, meets_goal=worst <= max_abs_diff)
    int8 = result.get("int8")
    if int8 is not None:
        int8.update(goal_min_top1_agreement=min_int8_agreement,
                    meets_goal=int8["top1_agreement"] >= min_int8_agreement)
    output = worst_name[len("max_abs_diff_"):]
    if not fp32["meets_goal"]:
        raise UserError(f"the fp32 graph misses its parity goal: max |Δ| of {output} is "
                        f"{worst:.3g}, above the limit {max_abs_diff:g}", where="--max_abs_diff",
                        fix="check the exporter and runtime versions, or pass a larger "
                        "--max_abs_diff if the model's scale warrants it")
    if int8 is not None and not int8["meets_goal"]:
        raise UserError(f"the int8 graph misses its goal: top-1 agreement with PyTorch at the "
                        f"masked positions is {int8['top1_agreement']:.4f}, below the limit "
                        f"{min_int8_agreement:g}", where="--min_int8_agreement",
                        fix="serve the fp32 graph (--quantize none), or accept it with a lower "
                        "--min_int8_agreement")
