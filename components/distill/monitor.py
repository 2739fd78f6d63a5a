"""What the distiller reports every log interval: the loss parts, agreement, learning rate and
throughput.

Each interval goes to `distill_log.jsonl` (one JSON object per line, with the throughput that
`components.common.throughput` measures), to TensorBoard events under `tensorboard/` and to the
log, as the trainer's `train_log.jsonl` does. Its model TFLOP/s count a step as the teacher's
forward pass and the student's forward and backward; MFU is against the peak of the devices. The
process's first step (where torch.compile compiles) is timed apart and reported once as
`compile_seconds`.

The event files are written by hand (TFRecord-framed `Event` protobufs with `simple_value`
scalars, which TensorBoard reads), so the distiller image needs neither TensorFlow nor
tensorboard.
"""

import logging
import os
import socket
import struct
import time

from components.common.gpus import peak_tflops_for
from components.common.run_state import TENSORBOARD_DIR
from components.common.tfrecord_framing import frame_record, length_delimited, varint
from components.common.throughput import IntervalLog, bert_forward_flops, describe_throughput

log = logging.getLogger(__name__)

LOG_FILE = "distill_log.jsonl"


def distill_flops_per_example(teacher_config, student_config, seq_length, head_positions):
    """Teacher forward (no backward) + student forward and backward (3x forward), both with the
    head at `head_positions` per example: the masked ones (as `loss.forward_masked` gathers
    them), or every token for KD at every token."""
    return (bert_forward_flops(teacher_config, seq_length, head_positions)
            + 3 * bert_forward_flops(student_config, seq_length, head_positions))


def device_peak_tflops(device_name, precision):
    """One GPU's data-sheet peak for our precision ("bf16" or "fp32"), None when unknown."""
    return peak_tflops_for(device_name, "mixed_bfloat16" if precision == "bf16" else "fp32")


class EventWriter:
    """A TensorBoard event file of scalars: `Event{wall_time=1, step=2, file_version=3,
    summary=5}`, `Summary{value=1}`, `Summary.Value{tag=1, simple_value=2}`."""

    def __init__(self, directory):
        os.makedirs(directory, exist_ok=True)
        name = f"events.out.tfevents.{int(time.time())}.{socket.gethostname()}.{os.getpid()}.0"
        self.file = open(os.path.join(directory, name), "ab")  # noqa: SIM115 (closed in close)
        self.file.write(frame_record(struct.pack("<Bd", 0x09, time.time())
                                     + length_delimited(3, b"brain.Event:2")))

    def scalars(self, step, values):
        for tag, value in values.items():
            summary = length_delimited(1, length_delimited(1, tag.encode())
                                       + struct.pack("<Bf", 0x15, value))
            self.file.write(frame_record(struct.pack("<Bd", 0x09, time.time()) + b"\x10"
                                         + varint(step) + length_delimited(5, summary)))
        self.file.flush()

    def close(self):
        self.file.close()


class DistillMonitor:
    """Appends interval records to distill_log.jsonl and TensorBoard."""

    def __init__(self, output_dir, examples_per_step, tokens_per_step, flops_per_example,
                 peak_tflops, resume_step):
        self.records = IntervalLog(os.path.join(output_dir, LOG_FILE), examples_per_step,
                                   tokens_per_step, flops_per_example, peak_tflops, resume_step)
        self.events = EventWriter(os.path.join(output_dir, TENSORBOARD_DIR))

    def record(self, step, means, timed_steps, seconds, input_seconds, compile_seconds=None):
        """Write one interval: `means` are its loss parts, agreement, learning rate and gradient
        norm averaged over its steps; the throughput is over its last `timed_steps` steps, which
        took `seconds` (`input_seconds` of them waiting for input). `compile_seconds`: the
        process's first step, when it is in this interval (and then not among the timed
        steps)."""
        entry = self.records.append(step, means, timed_steps, seconds, input_seconds,
                                    compile_seconds)
        self.events.scalars(step, {k: v for k, v in entry.items() if k != "step"})
        parts = ", ".join(f"{key[5:]} {value:.4f}" for key, value in sorted(entry.items())
                          if key.startswith("loss_"))
        log.info("step %d: loss %.4f (%s), agreement with the teacher %.3f, lr %.3g%s", step,
                 entry["loss"], parts, entry["teacher_agreement"], entry["learning_rate"],
                 describe_throughput(entry))
        return entry

    def close(self):
        self.events.close()
