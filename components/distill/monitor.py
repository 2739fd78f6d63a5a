"""What the distiller reports every log interval: the loss parts, agreement, learning rate and
throughput.

Each interval goes to `distill_log.jsonl` (one JSON object per line), to TensorBoard events under
`tensorboard/` and to the log, as the trainer's `train_log.jsonl` does. Throughput is over the
interval's wall time less the checkpoint writes in it: examples/s, tokens/s (sequence
positions), model TFLOP/s from the analytic FLOP count of a step (teacher forward + student
forward and backward), MFU against the peak of the devices, and the share of time the loop
waited for input. The process's first step (where torch.compile compiles) is timed apart and
reported once as `compile_seconds`.

The event files are written by hand (TFRecord-framed `Event` protobufs with `simple_value`
scalars, which TensorBoard reads), so the distiller image needs neither TensorFlow nor
tensorboard.
"""

import json
import logging
import os
import socket
import struct
import time

import google_crc32c

from components.common.artifacts import write_text_atomic
from components.common.gpus import peak_tflops_for
from components.common.run_state import TENSORBOARD_DIR

log = logging.getLogger(__name__)

LOG_FILE = "distill_log.jsonl"


def forward_flops_per_example(config, seq_length, predictions_per_seq):
    """Matmul FLOPs of one forward pass of a BertForMaskedLM whose head runs at the masked
    positions only (as `loss.forward_masked` gathers them)."""
    T, H, I, V = seq_length, config.hidden_size, config.intermediate_size, config.vocab_size  # noqa: E741
    per_layer = 2 * T * (4 * H * H + 2 * H * I) + 2 * 2 * T * T * H  # projections + attention
    head = 2 * predictions_per_seq * (H * H + H * V)                 # transform + vocab
    return config.num_hidden_layers * per_layer + head


def distill_flops_per_example(teacher_config, student_config, seq_length, predictions_per_seq):
    """Teacher forward (no backward) + student forward and backward (3x forward)."""
    return (forward_flops_per_example(teacher_config, seq_length, predictions_per_seq)
            + 3 * forward_flops_per_example(student_config, seq_length, predictions_per_seq))


def device_peak_tflops(device_name, precision):
    """One GPU's data-sheet peak for our precision ("bf16" or "fp32"), None when unknown."""
    return peak_tflops_for(device_name, "mixed_bfloat16" if precision == "bf16" else "fp32")


def _masked_crc(data):
    crc = google_crc32c.value(data)
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def _varint(value):
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _field(number, payload):
    """A length-delimited protobuf field."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


class EventWriter:
    """A TensorBoard event file of scalars: `Event{wall_time=1, step=2, file_version=3,
    summary=5}`, `Summary{value=1}`, `Summary.Value{tag=1, simple_value=2}`."""

    def __init__(self, directory):
        os.makedirs(directory, exist_ok=True)
        name = f"events.out.tfevents.{int(time.time())}.{socket.gethostname()}.{os.getpid()}.0"
        self.file = open(os.path.join(directory, name), "ab")  # noqa: SIM115 (closed in close)
        self._write(struct.pack("<Bd", 0x09, time.time()) + _field(3, b"brain.Event:2"))

    def _write(self, event):
        length = struct.pack("<Q", len(event))
        self.file.write(length + struct.pack("<I", _masked_crc(length)) + event
                        + struct.pack("<I", _masked_crc(event)))

    def scalars(self, step, values):
        for tag, value in values.items():
            summary = _field(1, _field(1, tag.encode()) + struct.pack("<Bf", 0x15, value))
            self._write(struct.pack("<Bd", 0x09, time.time()) + b"\x10" + _varint(step)
                        + _field(5, summary))
        self.file.flush()

    def close(self):
        self.file.close()


class DistillMonitor:
    """Appends interval records to distill_log.jsonl and TensorBoard."""

    def __init__(self, output_dir, examples_per_step, tokens_per_step, flops_per_example,
                 peak_tflops, resume_step):
        self.path = os.path.join(output_dir, LOG_FILE)
        self.examples_per_step = examples_per_step
        self.tokens_per_step = tokens_per_step
        self.flops_per_example = flops_per_example
        self.peak_tflops = peak_tflops
        self._drop_records_after(resume_step)
        self.events = EventWriter(os.path.join(output_dir, TENSORBOARD_DIR))

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

    def record(self, step, means, timed_steps, seconds, input_seconds, compile_seconds=None):
        """Write one interval: `means` are its loss parts, agreement, learning rate and gradient
        norm averaged over its steps; the throughput is over its last `timed_steps` steps, which
        took `seconds` (`input_seconds` of them waiting for input). `compile_seconds`: the
        process's first step, when it is in this interval (and then not among the timed
        steps)."""
        entry = {"step": step, **means}
        if timed_steps:
            entry.update(self._throughput(timed_steps, seconds, input_seconds))
        if compile_seconds is not None:
            entry["compile_seconds"] = compile_seconds
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry, sort_keys=True) + "\n")
        self.events.scalars(step, {k: v for k, v in entry.items() if k != "step"})
        parts = ", ".join(f"{key[5:]} {value:.4f}" for key, value in sorted(entry.items())
                          if key.startswith("loss_"))
        log.info("step %d: loss %.4f (%s), agreement with the teacher %.3f, lr %.3g%s", step,
                 entry["loss"], parts, entry["teacher_agreement"], entry["learning_rate"],
                 self._describe(entry))
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
        self.events.close()
