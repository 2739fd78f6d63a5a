"""The step timing the benchmarks share."""

import statistics
import time


def median_step_seconds(run_step, warmup, steps):
    """Median seconds of `steps` calls of `run_step` after `warmup` untimed ones (which take
    compilation and first-touch allocation out of the figure)."""
    for _ in range(warmup):
        run_step()
    times = []
    for _ in range(steps):
        started = time.perf_counter()
        run_step()
        times.append(time.perf_counter() - started)
    return statistics.median(times)
