"""Helpers the KFP component bodies share (pipeline engineer's module).

A KFP `Output[Metrics]` normally lives only in the run's metadata. We also write the values as JSON
to the artifact's file: the local runner treats a cached task whose output file is missing as a
cache miss, and `pipeline.py rerun` re-imports a past run's metrics from that file.
"""

import json
import math
import os


def log_metrics(metrics, values, lineage=None):
    """Log every finite number in `values` to the Metrics artifact and write them to its file;
    `lineage` ({key: fingerprint}, `common/lineage.py`) goes to both as it is."""
    logged = {}
    for key, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if isinstance(value, float) and not math.isfinite(value):
            continue
        metrics.log_metric(key, value)
        logged[key] = value
    for key, fingerprint in (lineage or {}).items():
        metrics.metadata[key] = fingerprint
        logged[key] = fingerprint
    os.makedirs(os.path.dirname(metrics.path), exist_ok=True)
    with open(metrics.path, "w", encoding="utf-8") as f:
        json.dump(logged, f, indent=2, sort_keys=True)
    return logged


def read_metrics_file(path):
    """The values `log_metrics` wrote, or {} when the file is absent (a metadata-only artifact)."""
    if not os.path.isfile(path):
        return {}
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def split_list(text):
    """A comma- or newline-separated pipeline parameter → list of non-empty items."""
    return [item.strip() for item in text.replace("\n", ",").split(",") if item.strip()]
