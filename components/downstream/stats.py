"""Accuracy, macro-F1, and the differences and shares between models over seeds, with intervals.

Seeds are paired: seed s of model B is compared with seed s of model A (the same classifier-head
initialisation stream, dropout and data order), so the interval is the t-interval of the per-seed
differences, which removes the seed-to-seed variance the two runs share. No scipy here: the
t quantile comes from the closed-form t distribution for integer degrees of freedom.
"""

import collections
import math

CONFIDENCE = 0.95
METRICS = ("accuracy", "macro_f1")
METHOD = ("paired by seed: per seed, model minus reference; mean of those differences and its "
          "two-sided 95 % Student t confidence interval (n - 1 degrees of freedom, n seeds); "
          "none with one seed")


def accuracy(gold, predicted):
    return sum(g == p for g, p in zip(gold, predicted, strict=True)) / len(gold)


def macro_f1(gold, predicted):
    """Unweighted mean of the per-class F1 over the classes in `gold` or `predicted` (as
    scikit-learn's f1_score(average="macro")); a class with no true positive scores 0."""
    true_positive, gold_count, predicted_count = (collections.Counter() for _ in range(3))
    for g, p in zip(gold, predicted, strict=True):
        gold_count[g] += 1
        predicted_count[p] += 1
        true_positive[g] += g == p
    scores = [2 * true_positive[c] / (gold_count[c] + predicted_count[c])
              for c in set(gold_count) | set(predicted_count)]
    return sum(scores) / len(scores)


def majority_baseline(train_labels, eval_labels):
    """Always predicting the most frequent training label (the first in sorted order on a tie):
    {label, accuracy, macro_f1} on the evaluation labels."""
    counts = collections.Counter(train_labels)
    label = min(counts, key=lambda c: (-counts[c], c))
    constant = [label] * len(eval_labels)
    return {"label": label, "accuracy": accuracy(eval_labels, constant),
            "macro_f1": macro_f1(eval_labels, constant)}


def mean_std(values):
    """(mean, sample standard deviation); the deviation is None for one value."""
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, None
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def t_two_sided_probability(t, dof):
    """P(|T| < t) of Student's t with integer `dof` degrees of freedom (Abramowitz & Stegun
    26.7.3 and 26.7.4)."""
    theta = math.atan(t / math.sqrt(dof))
    cos2 = math.cos(theta) ** 2
    if dof % 2:
        term, total = 1.0, 1.0 if dof > 1 else 0.0
        for k in range(1, (dof - 3) // 2 + 1):
            term *= cos2 * (2 * k) / (2 * k + 1)
            total += term
        return 2 / math.pi * (theta + math.sin(theta) * math.cos(theta) * total)
    term = total = 1.0
    for k in range(1, (dof - 2) // 2 + 1):
        term *= cos2 * (2 * k - 1) / (2 * k)
        total += term
    return math.sin(theta) * total


def t_quantile(confidence, dof):
    """The t with P(|T| < t) = `confidence` (bisection on `t_two_sided_probability`)."""
    low, high = 0.0, 1.0
    while t_two_sided_probability(high, dof) < confidence:
        high *= 2
    for _ in range(100):
        middle = (low + high) / 2
        if t_two_sided_probability(middle, dof) < confidence:
            low = middle
        else:
            high = middle
    return (low + high) / 2


def _over_seeds(per_seed):
    """{mean, std, ci95_low, ci95_high, per_seed} of per-seed values: their mean and its
    two-sided t-interval (none for one seed)."""
    mean, std = mean_std(per_seed)
    if std is None:
        low = high = None
    else:
        half = t_quantile(CONFIDENCE, len(per_seed) - 1) * std / math.sqrt(len(per_seed))
        low, high = mean - half, mean + half
    return {"mean": mean, "std": std, "ci95_low": low, "ci95_high": high, "per_seed": per_seed}


def paired_difference(values, reference):
    """{mean, std, ci95_low, ci95_high, per_seed} of `values` minus `reference`, seed by seed."""
    return _over_seeds([v - r for v, r in zip(values, reference, strict=True)])


def paired_ratio(values, reference):
    """{mean, std, ci95_low, ci95_high, per_seed} of `values` divided by `reference`, seed by
    seed (a share, e.g. the student's accuracy as a fraction of its teacher's); None when a
    reference value is 0."""
    if not all(reference):
        return None
    return _over_seeds([v / r for v, r in zip(values, reference, strict=True)])


def _per_seed(models, name, reference, key):
    """(`name`'s values of `key`, `reference`'s), seed by seed in the reference's order."""
    seeds = models[reference]["per_seed"]
    return ([models[name]["per_seed"][s][key] for s in seeds], [seeds[s][key] for s in seeds])


def difference(models, name, reference):
    """{metric: `paired_difference`} of model `name` minus model `reference`
    (`run_downstream`'s models) for accuracy and macro-F1."""
    return {key: paired_difference(*_per_seed(models, name, reference, key)) for key in METRICS}


def compare(models, names):
    """{name: difference from the first model, and its name as "reference"} for every other
    model of `models` (`run_downstream`'s)."""
    return {name: {"reference": names[0], **difference(models, name, names[0])}
            for name in names[1:]}


def share(models, name, reference):
    """{metric: `paired_ratio`} of model `name` over model `reference` (`run_downstream`'s
    models) for accuracy and macro-F1."""
    return {key: paired_ratio(*_per_seed(models, name, reference, key)) for key in METRICS}
