"""Counts a shard reports and the manifest's statistics computed from their sums.

Everything is kept as sums (tokens, rows, histogram counts) so partial outputs of a fan-out can be
merged by adding them up; fractions are derived at the end.
"""

import numpy as np

PASSAGE_CHAR_EDGES = [0, 25, 50, 100, 150, 200, 300, 500, 1000, 2000, 5000]
PASSAGE_TOKEN_EDGES = [0, 16, 32, 64, 96, 126, 192, 256, 512, 1024, 2048]


def instance_length_edges(max_seq_length):
    return list(range(0, max_seq_length + 1, 8))


def histogram(values, edges):
    """Counts of values in [edges[i], edges[i+1]); the last bin is open above."""
    bins = np.searchsorted(np.asarray(edges), np.asarray(values), side="right") - 1
    return np.bincount(bins, minlength=len(edges)).tolist()


def add_counts(total, part):
    """Add a dict of counts (numbers, lists of numbers, nested dicts) into `total`."""
    for key, value in part.items():
        if isinstance(value, dict):
            add_counts(total.setdefault(key, {}), value)
        elif isinstance(value, list):
            old = total.get(key)
            total[key] = value[:] if old is None else [
                a + b for a, b in zip(old, value, strict=True)]
        else:
            total[key] = total.get(key, 0) + value
    return total


def _fraction(numerator, denominator):
    return round(numerator / denominator, 6) if denominator else 0.0


def summary(counts, max_seq_length, pack):
    """The manifest's derived statistics from summed counts.

    `alternative_padding_fraction` is the padding the other layout (packed when `pack` is off,
    unpacked when on) gives on the same passages; `padding_fraction_packed` and
    `padding_fraction_unpacked` name both explicitly.
    """
    train, heldout = counts.get("train", {}), counts.get("heldout", {})
    rows = train.get("instances", 0) + heldout.get("instances", 0)
    real = train.get("real_tokens", 0) + heldout.get("real_tokens", 0)
    slots = rows * max_seq_length
    alt_rows = counts.get("alternative_instances", 0)
    alt_real = counts.get("alternative_real_tokens", 0)
    padding = _fraction(slots - real, slots)
    alternative = _fraction(alt_rows * max_seq_length - alt_real, alt_rows * max_seq_length)
    return {
        "padding_fraction_packed": padding if pack else alternative,
        "padding_fraction_unpacked": alternative if pack else padding,
        "train_instances": train.get("instances", 0),
        "heldout_instances": heldout.get("instances", 0),
        "mean_real_tokens_per_instance": _fraction(real, rows),
        "padding_fraction": padding,
        "masked_token_fraction": _fraction(
            train.get("masked_tokens", 0) + heldout.get("masked_tokens", 0), real),
        "unk_fraction": _fraction(counts.get("unk_tokens", 0), counts.get("text_tokens", 0)),
        "alternative_padding_fraction": alternative,
    }
