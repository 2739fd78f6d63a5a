"""The train step's input: batches drawn from the checkpointed host iterator, placed on the
compute devices one step ahead.

Why not TensorFlow's own device prefetch (`strategy.experimental_distribute_dataset`,
`tf.data.experimental.prefetch_to_device`): their iterators cannot be saved in a checkpoint, and
a resumed run must continue at the exact record. So the input stays a plain `iter(dataset)`,
saved with the training state, and the loop (`loop.run_steps`) keeps a look-ahead of one batch:

1. dispatch step k on the batch already on the device (on a GPU the call returns once the
   step's kernels are queued; the loop reads its outputs only at log intervals, and after the
   process's first step, which it times alone);
2. save if a save is due (every `save_checkpoints_steps`, on SIGTERM, at the end): the host
   iterator has then drawn exactly the k batches the steps consumed, so the saved position is
   the next unconsumed record;
3. only then draw batch k + 1 and copy it to the device, while step k still runs.

`DeviceFeed.input_seconds` is the time spent blocked on the host iterator, nothing else. On one
device the copy is a `tf.identity` under that device (a no-op on a CPU); on several local
replicas each replica's rows are cut on the host and copied to its own device, and the step
receives them as per-replica values. On a GPU TensorFlow keeps int32 tensors "on" the GPU in
host memory (its convention for int32; tensorflow/tensorflow#34071), so what is copied ahead
there is the float weights and the per-replica split; the int32 ids cross inside the step.
"""

import time

import tensorflow as tf


def compute_devices(strategy):
    """This worker's compute devices, one per local replica."""
    if strategy.num_replicas_in_sync > 1:
        return list(strategy.extended.worker_devices)
    # The default strategy runs on the first GPU when there is one.
    gpus = tf.config.list_logical_devices("GPU")
    return [(gpus or tf.config.list_logical_devices("CPU"))[0].name]


def batch_placer(strategy):
    """A function: this worker's host batch → the train step's input on the compute devices.

    One replica: the batch (a dict of tensors) on the device. Several: per-replica values, each
    replica's rows of the worker's batch on that replica's device (replica ids are numbered
    worker-major, so a replica's local index is its id modulo the local replicas).
    """
    devices = compute_devices(strategy)

    def place_on_one_device(batch):
        with tf.device(devices[0]):
            return {k: tf.identity(t) for k, t in batch.items()}

    def place_per_replica(batch):
        size = batch["input_ids"].shape[0] // len(devices)

        def replica_rows(ctx):
            index = ctx.replica_id_in_sync_group % len(devices)
            rows = {}
            for k, t in batch.items():
                with tf.device(t.device):  # cut where the batch lives, copy only the rows
                    part = t[index * size:(index + 1) * size]
                with tf.device(devices[index]):
                    rows[k] = tf.identity(part)
            return rows

        return strategy.experimental_distribute_values_from_function(replica_rows)

    return place_per_replica if strategy.num_replicas_in_sync > 1 else place_on_one_device


class DeviceFeed:
    """Draws the next batch from the host iterator (timing the wait) and places it."""

    def __init__(self, iterator, place):
        self.iterator = iterator
        self.place = place
        self.input_seconds = 0.0

    def next(self):
        waited = time.perf_counter()
        batch = next(self.iterator)
        self.input_seconds += time.perf_counter() - waited
        return self.place(batch)
