"""What the trainer reports every log interval: loss, accuracy, learning rate and throughput.

Each interval goes to `train_log.jsonl` (one JSON object per line, with the throughput that
`components.common.throughput` measures), to TensorBoard events under `tensorboard/` and to the
log. Throughput is measured over the interval's wall time, less the checkpoint writes in it (the
log says how long each took).

The first step of every process run traces the step function (and compiles it with XLA), which
can take longer than a whole interval of steps. It is timed on its own and reported once, as
`compile_seconds` in the first interval's record; that interval's throughput is over the steps
after it, and an interval made of the first step alone has no throughput.
"""

import logging
import os

import tensorflow as tf
from tensorflow.core.framework import summary_pb2

from components.common.gpus import peak_tflops_for
from components.common.run_state import TENSORBOARD_DIR
from components.common.throughput import IntervalLog, bert_forward_flops, describe_throughput

log = logging.getLogger(__name__)

# What `tensorboard.summary.scalar` writes; spelled out so the trainer image needs no tensorboard.
SCALAR_METADATA = summary_pb2.SummaryMetadata(
    plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars"))

LOG_FILE = "train_log.jsonl"


def training_flops_per_example(config, seq_length, predictions_per_seq):
    """Matmul FLOPs of forward + backward (3× forward) for one example, Google's gathered head."""
    return 3 * bert_forward_flops(config, seq_length, predictions_per_seq)


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
        self.records = IntervalLog(os.path.join(output_dir, LOG_FILE), examples_per_step,
                                   tokens_per_step, flops_per_example, peak_tflops, resume_step)
        self.writer = tf.summary.create_file_writer(os.path.join(output_dir, TENSORBOARD_DIR))

    def record(self, step, sums, steps, timed_steps, seconds, input_seconds,
               compile_seconds=None):
        """Write one interval: `sums` are the summed loss terms over its `steps` steps; the
        throughput is over its last `timed_steps` steps, which took `seconds` (`input_seconds`
        of them blocked on input). `compile_seconds`: the process's first step, when it is in
        this interval (and then not among the timed steps)."""
        weight = max(sums["weight"], 1e-12)
        entry = self.records.append(step, {
            "loss": sums["weighted_nll"] / (sums["weight"] + 1e-5 * steps),
            "masked_lm_accuracy": sums["correct"] / weight,
            "learning_rate": sums["learning_rate"],
            "grad_norm": sums["grad_norm"] / steps,
        }, timed_steps, seconds, input_seconds, compile_seconds)
        with self.writer.as_default(step=step):
            for key, value in entry.items():
                if key != "step":
                    tf.summary.write(key, tf.constant(value, tf.float32),
                                     metadata=SCALAR_METADATA)
        self.writer.flush()
        log.info("step %d: loss %.4f, masked-LM accuracy %.4f, lr %.3g%s%s", step, entry["loss"],
                 entry["masked_lm_accuracy"], entry["learning_rate"], describe_throughput(entry),
                 "" if compile_seconds is None
                 else f"; first step {compile_seconds:.1f} s (tracing and compiling included)")
        return entry

    def close(self):
        self.writer.close()
