"""The training loop: the next batch is drawn and placed on the device while the step runs,
saves record exactly the consumed input, and throughput leaves out the first (tracing) step."""

import json
import statistics
import subprocess
import sys
import textwrap
import time

import pytest
import tensorflow as tf
from helpers_train import SAMPLE_DIR, read_train_log, write_pretraining_data

from components.train.arguments import TrainArguments
from components.train.feed import DeviceFeed, batch_placer, compute_devices
from components.train.loop import run_steps, train
from components.train.monitor import TrainMonitor
from components.train.state import TrainingInterrupted

OUTPUT_KEYS = ("weighted_nll", "weight", "correct", "grad_norm", "learning_rate")


class CountingIterator:
    """Batch n holds the value n; notes every draw."""

    def __init__(self, events):
        self.events = events
        self.drawn = 0

    def __next__(self):
        self.drawn += 1
        self.events.append(("draw", self.drawn))
        return {"input_ids": tf.fill([2, 4], self.drawn),
                "masked_lm_weights": tf.ones([2, 3], tf.float32)}


class StepOutput:
    """A step's output as the loop sees it: summed with `+`, and read (waited for) with
    `float`, which is when a real device output would make the loop wait for the step."""

    def __init__(self, events, step, value=1.0):
        self.events, self.step, self.value = events, step, value

    def __add__(self, other):
        return StepOutput(self.events, other.step, self.value + other.value)

    def __float__(self):
        self.events.append(("read", self.step))
        return self.value


class Stop:
    def __init__(self):
        self.requested = False


def run_fake_loop(tmp_path, events, last_step, log_every, save_every, stop_after=None,
                  save_seconds=0.0):
    """run_steps with a step that notes into `events` which batch it got and a save that
    takes `save_seconds`; returns the devices its batches lived on and the compute device."""
    stop = Stop()
    iterator = CountingIterator(events)
    device = compute_devices(tf.distribute.get_strategy())[0]
    placed_on = set()

    def train_step(batch):
        placed_on.update(device_of(t.device) for t in batch.values())
        n = int(batch["input_ids"][0, 0])
        events.append(("step", n))
        if n == stop_after:
            stop.requested = True  # as SIGTERM's handler does, while the step runs
        return {k: StepOutput(events, n) for k in OUTPUT_KEYS}

    def save(step):
        events.append(("save", step, iterator.drawn))
        time.sleep(save_seconds)

    monitor = TrainMonitor(str(tmp_path), 2, 8, 1.0, None, 0)
    feed = DeviceFeed(iterator, batch_placer(tf.distribute.get_strategy()))
    try:
        run_steps(train_step, feed, monitor, save, 0, last_step, last_step, save_every,
                  log_every, stop, str(tmp_path))
    finally:
        monitor.close()
    return placed_on, device_of(device)


def device_of(name):
    spec = tf.DeviceSpec.from_string(name)
    return spec.device_type, spec.device_index


def collapsed(events):
    """The events without repeats (a log interval reads each of the step's outputs)."""
    return [e for i, e in enumerate(events) if i == 0 or e != events[i - 1]]


def test_the_next_batch_is_drawn_while_the_step_runs_and_saves_see_only_consumed_ones(
        tmp_path):
    events = []
    placed_on, device = run_fake_loop(tmp_path, events, last_step=6, log_every=3,
                                      save_every=4)
    assert collapsed(events) == [
        ("draw", 1), ("step", 1), ("read", 1),  # the first step is timed on its own
        ("draw", 2), ("step", 2),
        ("draw", 3), ("step", 3), ("read", 3),  # a log interval waits for its last step
        ("draw", 4), ("step", 4), ("read", 4), ("save", 4, 4),  # the save waits for the step
        # and precedes the look-ahead ...
        ("draw", 5), ("step", 5),  # ... which is drawn while step 4 may still run
        ("draw", 6), ("step", 6), ("read", 6), ("save", 6, 6),  # nothing drawn past the end
    ]
    assert placed_on == {device}
    assert [r["step"] for r in read_train_log(tmp_path)] == [3, 6]


def test_checkpoint_writes_are_left_out_of_the_throughput(tmp_path):
    """A save in the middle of the interval 4-6 takes 1 s, the fake steps next to nothing:
    counted in, it would bring that interval under 6 examples/s."""
    run_fake_loop(tmp_path, [], last_step=6, log_every=3, save_every=4, save_seconds=1.0)
    interval = {r["step"]: r for r in read_train_log(tmp_path)}[6]
    assert interval["examples_per_sec"] > 3 * 2 / 0.5


def test_sigterm_saves_the_consumed_input_and_draws_no_look_ahead(tmp_path):
    events = []
    with pytest.raises(TrainingInterrupted, match="stopped at step 2"):
        run_fake_loop(tmp_path, events, last_step=6, log_every=3, save_every=4, stop_after=2)
    assert collapsed(events) == [("draw", 1), ("step", 1), ("read", 1),
                                 ("draw", 2), ("step", 2), ("read", 2), ("save", 2, 2)]


PLACE_SCRIPT = textwrap.dedent("""
    import json
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from components.train.feed import batch_placer
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    batch = {"input_ids": tf.reshape(tf.range(8 * 3), [8, 3]),
             "masked_lm_weights": tf.reshape(tf.range(8 * 2, dtype=tf.float32), [8, 2])}
    placed = batch_placer(strategy)(batch)
    print(json.dumps([{k: [tf.DeviceSpec.from_string(t.device).device_index, t.numpy().tolist()]
                       for k, t in part.items()}
                      for part in strategy.experimental_local_results(placed)]))
""")


def test_each_replica_gets_its_rows_on_its_own_device(repo_root):
    result = subprocess.run([sys.executable, "-c", PLACE_SCRIPT], cwd=repo_root,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    parts = json.loads(result.stdout.strip().splitlines()[-1])
    ids = [list(range(i * 3, i * 3 + 3)) for i in range(8)]
    weights = [[2.0 * i, 2.0 * i + 1] for i in range(8)]
    assert parts == [{"input_ids": [0, ids[:4]], "masked_lm_weights": [0, weights[:4]]},
                     {"input_ids": [1, ids[4:]], "masked_lm_weights": [1, weights[4:]]}]


@pytest.mark.slow
def test_throughput_leaves_out_the_first_step_of_each_run(tmp_path):
    data = tmp_path / "ptd"
    write_pretraining_data(data)
    out = tmp_path / "out"
    common = dict(bert_config_file=str(SAMPLE_DIR / "bert_config.json"),
                  vocab_file=str(SAMPLE_DIR / "vocab.txt"), train_batch_size=16,
                  max_seq_length=32, max_predictions_per_seq=5, num_train_steps=40,
                  num_warmup_steps=5, learning_rate=1e-3, log_every_n_steps=10,
                  save_checkpoints_steps=1000)
    train(TrainArguments(str(data), str(out), stop_at_step=19, **common))
    # Resumes at 19: its first step is 20.
    summary = train(TrainArguments(str(data), str(out), **common))
    log = {r["step"]: r for r in read_train_log(out)}
    assert sorted(log) == [10, 19, 20, 30, 40]
    assert {s for s, r in log.items() if "compile_seconds" in r} == {10, 20}
    assert summary["compile_seconds"] == log[20]["compile_seconds"]

    # Step 20 was the resumed run's first step alone: no throughput rather than a wrong one.
    assert "examples_per_sec" not in log[20] and "mfu" not in log[20]
    assert log[20]["loss"] > 0

    # Tracing took far longer than a step: counted in, it would have ruined the first interval.
    later = statistics.median(log[s]["examples_per_sec"] for s in (19, 30, 40))
    first = log[10]
    step_seconds = 16 / first["examples_per_sec"]
    assert first["compile_seconds"] > 10 * step_seconds
    with_tracing = 10 * 16 / (first["compile_seconds"] + 9 * step_seconds)
    assert with_tracing < later / 2
    assert later / 2 < first["examples_per_sec"] < later * 2
    assert first["tokens_per_sec"] == pytest.approx(first["examples_per_sec"] * 32)
