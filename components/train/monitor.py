"""What the trainer reports every log interval: loss, accuracy, learning rate and throughput.

Each interval goes to `train_log.jsonl` (one JSON object per line), to TensorBoard events under
`tensorboard/` and to the log. Throughput is measured over the interval's wall time, less the
checkpoint writes in it (the log says how long each took): examples/s,
tokens/s (sequence positions), model TFLOP/s from the analytic FLOP count of the step, MFU
against `peak_tflops`, and the share of time the loop waited for input.

The first step of every process run traces the step function (and compiles it with XLA), which
can take longer than a whole interval of steps. It is timed on its own and reported once, as
`compile_seconds` in the first interval's record; that interval's throughput is over the steps
after it, and an interval made of the first step alone has no throughput.
"""

import json
import logging
import os

import tensorflow as tf
from tensorflow.core.framework import summary_pb2

from components.common.artifacts import write_text_atomic
from components.common.gpus import peak_tflops_for
from components.common.run_state import TENSORBOARD_DIR

log = logging.getLogger(__name__)

# What `tensorboard.summary.scalar` writes; spelled out so the trainer image needs no tensorboard.
SCALAR_METADATA = summary_pb2.SummaryMetadata(
    plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars"))

LOG_FILE = "train_log.jsonl"


def training_flops_per_example(config, seq_length, predictions_per_seq):
    """Matmul FLOPs of forward + backward (3× forward) for one example, Google's gathered head."""
    T, H, I, V = seq_length, config.hidden_size, config.intermediate_size, config.vocab_size  # noqa: E741
    per_layer = 2 * T * (4 * H * H + 2 * H * I) + 2 * 2 * T * T * H  # projections + attention
    head = 2 * predictions_per_seq * (H * H + H * V)                 # transform + vocab
    return 3 * (config.num_hidden_layers * per_layer + head)


def default_peak_tflops(precision, replicas):
    """The peak of the `replicas` GPUs the strategy trains on (all of the first visible GPU's
    kind), for `precision`; None on a CPU or an unknown GPU. Per replica, not per visible GPU:
    `--num_gpus` may train on fewer GPUs than the machine shows, and a TFJob's replicas span
    several machines."""
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return None
    name = tf.config.experimental.get_device_details(gpus[0]).get("device_name", "")
    peak = peak_tflops_for(name, precision)
    if peak is None:
        log.info("no peak TFLOP/s known for %r; pass --peak_tflops to see MFU", name)
        return None
    return peak * replicas


class TrainMonitor:
    """Appends interval records to train_log.jsonl and TensorBoard."""

    def __init__(self, output_dir, examples_per_step, tokens_per_step, flops_per_example,
                 peak_tflops, resume_step):
        self.path = os.path.join(output_dir, LOG_FILE)
        self.examples_per_step = examples_per_step
        self.tokens_per_step = tokens_per_step
        self.flops_per_example = flops_per_example
        self.peak_tflops = peak_tflops
        self._drop_records_after(resume_step)
        self.writer = tf.summary.create_file_writer(os.path.join(output_dir, TENSORBOARD_DIR))

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

    def record(self, step, sums, steps, timed_steps, seconds, input_seconds,
               compile_seconds=None):
        """Write one interval: `sums` are the summed loss terms over its `steps` steps; the
        throughput is over its last `timed_steps` steps, which took `seconds` (`input_seconds`
        of them blocked on input). `compile_seconds`: the process's first step, when it is in
        this interval (and then not among the timed steps)."""
        weight = max(sums["weight"], 1e-12)
        entry = {
            "step": step,
            "loss": sums["weighted_nll"] / (sums["weight"] + 1e-5 * steps),
            "masked_lm_accuracy": sums["correct"] / weight,
            "learning_rate": sums["learning_rate"],
            "grad_norm": sums["grad_norm"] / steps,
        }
        if timed_steps:
            entry.update(self._throughput(timed_steps, seconds, input_seconds))
        if compile_seconds is not None:
            entry["compile_seconds"] = compile_seconds
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry, sort_keys=True) + "\n")
        with self.writer.as_default(step=step):
            for key, value in entry.items():
                if key != "step":
                    tf.summary.write(key, tf.constant(value, tf.float32),
                                     metadata=SCALAR_METADATA)
        self.writer.flush()
        log.info("step %d: loss %.4f, masked-LM accuracy %.4f, lr %.3g%s%s", step, entry["loss"],
                 entry["masked_lm_accuracy"], entry["learning_rate"], self._describe(entry),
                 "" if compile_seconds is None
                 else f"; first step {compile_seconds:.1f} s (tracing and compiling included)")
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

    @staticmethod
    def _describe(entry):
        if "examples_per_sec" not in entry:
            return "; no throughput for an interval of only the first step"
        mfu = f", MFU {entry['mfu']:.1%}" if "mfu" in entry else ""
        return (f", {entry['examples_per_sec']:.1f} examples/s, {entry['model_tflops']:.3g} "
                f"TFLOP/s{mfu}, input wait {100 * entry['input_wait_fraction']:.0f}%")

    def close(self):
        self.writer.close()
