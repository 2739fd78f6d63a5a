"""The distiller's input: which records each step reads, read ahead on a thread.

The order is a function of the step alone, so a resumed run reads exactly what an unbroken run
would: epoch e visits the train records in the permutation seeded by `random_seed + e`, and step
s takes the global batch at positions [s x G, (s + 1) x G) of the concatenated epochs (G = the
global batch). Process r of W takes its slice of that batch, so W processes see the same
examples per step as one process with the whole batch.
"""

import queue
import threading
import time

import numpy as np
import torch


def epoch_order(num_records, seed, epoch):
    """The permutation of the record indices that epoch `epoch` visits."""
    return np.random.default_rng(seed + epoch).permutation(num_records)


def global_batch_indices(step, global_batch, num_records, seed):
    """Record indices of step `step`'s global batch (it may span an epoch boundary)."""
    positions = np.arange(step * global_batch, (step + 1) * global_batch)
    epochs = positions // num_records
    indices = np.empty(global_batch, dtype=np.int64)
    for epoch in np.unique(epochs):
        here = epochs == epoch
        indices[here] = epoch_order(num_records, seed, int(epoch))[positions[here] % num_records]
    return indices


class BatchFeed:
    """Reads the micro-batches of this process's share of steps [first_step, last_step) on a
    background thread, a few steps ahead of the loop; `next()` returns one step's list of
    micro-batches (dicts of int64/float32 tensors, pinned when feeding a GPU) and adds the time
    it waited to `input_seconds`."""

    AHEAD = 3

    def __init__(self, index, seed, global_batch, rank, world, micro_batches, first_step,
                 last_step, pin_memory=False):
        self.index, self.seed, self.global_batch = index, seed, global_batch
        self.rank, self.world, self.micro_batches = rank, world, micro_batches
        self.pin_memory = pin_memory
        self.input_seconds = 0.0
        self._queue = queue.Queue(self.AHEAD)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, args=(first_step, last_step),
                                        daemon=True, name="distill-feed")
        self._thread.start()

    def step_batches(self, step):
        """This process's micro-batches of step `step`."""
        indices = global_batch_indices(step, self.global_batch, len(self.index), self.seed)
        share = np.array_split(indices, self.world)[self.rank]
        batches = []
        for part in np.array_split(share, self.micro_batches):
            arrays = self.index.batch(part)
            tensors = {name: torch.from_numpy(np.ascontiguousarray(value))
                       for name, value in arrays.items()}
            if self.pin_memory:
                tensors = {name: value.pin_memory() for name, value in tensors.items()}
            batches.append(tensors)
        return batches

    def _read(self, first_step, last_step):
        try:
            for step in range(first_step, last_step):
                item = self.step_batches(step)
                while not self._stop.is_set():
                    try:
                        self._queue.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if self._stop.is_set():
                    return
        except BaseException as err:  # re-raised in the loop's thread by next()
            self._queue.put(err)

    def next(self):
        waiting = time.perf_counter()
        item = self._queue.get()
        self.input_seconds += time.perf_counter() - waiting
        if isinstance(item, BaseException):
            raise item
        return item

    def close(self):
        self._stop.set()
        self._thread.join(timeout=5)
