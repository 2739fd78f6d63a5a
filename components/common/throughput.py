"""What the trainer and the distiller measure every log interval, and the log they keep of it
(neither TensorFlow nor torch).

Each interval is one JSON object a line in the stage's log (`train_log.jsonl`,
`distill_log.jsonl`): the stage's own figures (loss and the like) and the throughput of the
interval's timed steps: examples/s, tokens/s (sequence positions), model TFLOP/s from the
analytic FLOP count of a step, MFU against the peak of the devices (when known), and the share of
time the loop waited for input. The loops time the interval without its checkpoint writes, and
the process's first step (tracing and compiling) apart, recorded once as `compile_seconds`.
"""

import json
import os

from components.common.artifacts import write_text_atomic


def bert_forward_flops(config, seq_length, predictions_per_seq):
    """Matmul FLOPs of one example's forward pass through a masked-LM BERT whose head runs at the
    masked positions only (Google's gathered head); a backward pass costs twice as much."""
    T, H, I, V = seq_length, config.hidden_size, config.intermediate_size, config.vocab_size  # noqa: E741
    per_layer = 2 * T * (4 * H * H + 2 * H * I) + 2 * 2 * T * T * H  # projections + attention
    head = 2 * predictions_per_seq * (H * H + H * V)                 # transform + vocab
    return config.num_hidden_layers * per_layer + head


class IntervalLog:
    """The JSON-lines log at `path`: one record an interval, with its throughput."""

    def __init__(self, path, examples_per_step, tokens_per_step, flops_per_example, peak_tflops,
                 resume_step):
        self.path = path
        self.examples_per_step = examples_per_step
        self.tokens_per_step = tokens_per_step
        self.flops_per_example = flops_per_example
        self.peak_tflops = peak_tflops
        self._drop_records_after(resume_step)

    def _drop_records_after(self, step):
        """A resumed run repeats the steps after its checkpoint: forget their old records."""
        if not os.path.exists(self.path):
            return
        kept = []
        with open(self.path, encoding="utf-8") as f:
            for line in f:
                try:
                    if json.loads(line)["step"] <= step:
                        kept.append(line)
                except (ValueError, KeyError):
                    continue  # the half-written last line of a killed run
        write_text_atomic(self.path, "".join(kept))

    def append(self, step, values, timed_steps, seconds, input_seconds, compile_seconds=None):
        """Append and return the record of the interval ending at `step`: `values`, and the
        throughput of its last `timed_steps` steps, which took `seconds` (`input_seconds` of them
        waiting for input). `compile_seconds`: the process's first step, when it is in this
        interval (and then not among the timed steps)."""
        entry = {"step": step, **values}
        if timed_steps:
            entry.update(self._throughput(timed_steps, seconds, input_seconds))
        if compile_seconds is not None:
            entry["compile_seconds"] = compile_seconds
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry, sort_keys=True) + "\n")
        return entry

    def _throughput(self, steps, seconds, input_seconds):
        examples = steps * self.examples_per_step
        tflops = self.flops_per_example * examples / seconds / 1e12
        values = {
            "examples_per_sec": examples / seconds,
            "tokens_per_sec": steps * self.tokens_per_step / seconds,
            "model_tflops": tflops,
            "input_wait_fraction": input_seconds / seconds,
        }
        if self.peak_tflops:
            values["mfu"] = tflops / self.peak_tflops
        return values


def describe_throughput(entry):
    """The end of an interval's log line: its throughput, or why it has none."""
    if "examples_per_sec" not in entry:
        return "; no throughput for an interval of only the first step"
    mfu = f", MFU {entry['mfu']:.1%}" if "mfu" in entry else ""
    return (f", {entry['examples_per_sec']:.1f} examples/s, {entry['model_tflops']:.3g} "
            f"TFLOP/s{mfu}, input wait {100 * entry['input_wait_fraction']:.0f}%")
