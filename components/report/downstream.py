"""The model report's "Downstream task" section: the base, the adapted (trained) model and the
student fine-tuned on one labelled task, side by side; the gain of domain-adaptive pretraining
(adapted minus base) and the student's share of the adapted model, with their 95 % intervals over
the seeds, in words; and their headline metrics.

It reads the downstream stage's output (`components/downstream/layout.py`: metrics.json and the
manifest; a skipped step leaves only a manifest saying why). Which model is which comes from the
weights: every model of the result must have the weights of this report's model of its name
(`base`, `adapted`, `student`, as the pipeline step names them) or, under another name, of one of
them; a result made from models of another run is refused, in one line.
"""

import math
from typing import NamedTuple

from components.common import lineage
from components.common.artifacts import read_json_output, read_manifest
from components.common.errors import UserError
from components.downstream import stats
from components.downstream.layout import ADAPTED, BASE, MANIFEST_KIND, METRICS_FILE, STUDENT
from components.report import html
from components.report.labels import artifact_name, without_absolute_paths
from components.report.lineage import FIX

ROLE_WORDS = {BASE: "base model", ADAPTED: "adapted model", STUDENT: "student"}
DEVICES = {"cpu": "the CPU", "cuda": "a GPU"}
SKIPPED = ("The downstream step was skipped: {reason}. It fine-tunes the base, the adapted model "
           "and the student on a labelled task when labelled rows are given: a JSONL, CSV or TSV "
           "file, or a query on a database.")


class Downstream(NamedTuple):
    directory: str
    manifest: dict
    metrics: dict | None  # metrics.json; None when the step was skipped


def read_downstream(downstream_dir):
    """The downstream stage's output as a `Downstream`."""
    manifest = read_manifest(downstream_dir, kind=MANIFEST_KIND)
    if manifest.get("skipped"):
        return Downstream(downstream_dir, manifest, None)
    return Downstream(downstream_dir, manifest, read_json_output(
        downstream_dir, METRICS_FILE, "the downstream result", "downstream"))


def check_models(downstream, base_hf_model_dir, hf_model_dir, student_dir):
    """{model name in the result: its role (base, adapted, student)}, from the weights; refuse
    a model of other weights than this report's, and a result that left out the student of a
    run that has one."""
    if downstream.metrics is None:
        return {}
    weights = {BASE: lineage.weights_sha256(base_hf_model_dir),
               ADAPTED: lineage.weights_sha256(hf_model_dir),
               STUDENT: lineage.weights_sha256(student_dir) if student_dir else None}
    roles = {}
    for name, record in downstream.manifest["models"].items():
        found = record.get("weights_sha256")
        if name in weights:
            if weights[name] is None:
                raise UserError(f"the downstream result has a {ROLE_WORDS[name]} but this "
                                "report has none", where=downstream.directory, fix=FIX)
            matches = [name] if found == weights[name] else []
        else:
            matches = [role for role, sha in weights.items() if sha and sha == found]
        if not matches:
            which = ROLE_WORDS.get(name, "models (base, adapted, student)")
            raise UserError(f"the downstream result's model {name!r} was fine-tuned from other "
                            f"weights than this report's {which}", where=downstream.directory,
                            fix=FIX)
        roles[name] = matches[0]
    left_out = downstream.manifest.get("left_out", {}).get(STUDENT)
    if left_out and weights[STUDENT]:
        raise UserError(f"the downstream result left the student out ({left_out}), but this "
                        "report has a student", where=downstream.directory, fix=FIX)
    return roles


def _percent(value):
    return f"{100 * value:.1f} %"


def _spread(model, key):
    """'83.3 ± 1.2 %' (mean ± sample standard deviation over the seeds)."""
    mean, std = model[f"{key}_mean"], model[f"{key}_std"]
    return _percent(mean) if std is None else f"{100 * mean:.1f} ± {100 * std:.1f} %"


def _seeds(count):
    return f"{count} seed{'s' if count > 1 else ''}"


def _task_words(metrics, manifest):
    task, recipe = metrics["task"], metrics["recipe"]
    split = {"eval_file": "an evaluation file", "eval_query": "an evaluation query"}.get(
        task["eval_split"], "held out by a hash of the text")
    device = DEVICES.get(recipe["device"], recipe["device"])
    source = manifest.get("labelled", {}).get("train") or {}
    if "query" in source:
        origin = f"a query on {without_absolute_paths(source['source_url'])}"
    else:
        origin = artifact_name(source.get("path", task["train_file"] or "the labelled file"))
    return (f"Each model is fine-tuned to predict {task['label_column']!r} "
            f"({len(task['labels'])} labels) from {task['train_examples']:,} labelled rows of "
            f"{origin}, and evaluated on {task['eval_examples']:,} other rows ({split}). One "
            f"recipe for all: {recipe['num_train_epochs']:g} epochs, learning rate "
            f"{recipe['learning_rate']:g}, batch {recipe['train_batch_size']}, at most "
            f"{recipe['max_seq_length']} tokens, on {device} "
            f"({recipe['precision']}); seeds {', '.join(map(str, recipe['seeds']))}, the same "
            "for every model.")


def _table(metrics, roles):
    rows = []
    for name in metrics["model_names"]:
        model = metrics["models"][name]
        rows.append((f"{ROLE_WORDS[roles[name]]} ({artifact_name(model['model_dir'])})",
                     _spread(model, "accuracy"), _spread(model, "macro_f1"),
                     ", ".join(_percent(model["per_seed"][str(seed)]["accuracy"])
                               for seed in metrics["recipe"]["seeds"])))
    baseline = metrics["majority_baseline"]
    rows.append((f"always {baseline['label']!r}, the most frequent training label",
                 _percent(baseline["accuracy"]), _percent(baseline["macro_f1"]), "–"))
    return html.table(("model", "accuracy (mean ± std over seeds)", "macro-F1",
                       "accuracy per seed"), rows)


def gain_words(difference, label_column, count):
    """The adapted model against the base (`stats.paired_difference` of accuracy and of
    macro-F1), in words."""
    accuracy, f1 = difference["accuracy"], difference["macro_f1"]
    if accuracy["ci95_low"] is None:
        return (f"The adapted model is {100 * accuracy['mean']:+.1f} accuracy points over the "
                f"base model on {label_column!r}, {_seeds(count)}: one seed gives no interval, so "
                "this cannot be told from seed noise (run 3 seeds or more).")
    found = (f"The adapted model is {_points(accuracy)} accuracy points over the base model on "
             f"{label_column!r}, {_seeds(count)}")
    if accuracy["ci95_low"] <= 0 <= accuracy["ci95_high"]:
        found += (f": within seed noise (the 95 % interval, {100 * accuracy['ci95_low']:+.1f} to "
                  f"{100 * accuracy['ci95_high']:+.1f}, includes no difference).")
    else:
        found += (f": domain-adaptive pretraining {'helped' if accuracy['mean'] > 0 else 'hurt'} "
                  "this task by more than the seed noise.")
    noise = ", within seed noise" if f1["ci95_low"] <= 0 <= f1["ci95_high"] else ""
    return found + f" Macro-F1: {_points(f1)} points{noise}."


def _points(figure):
    """'+1.8 ± 0.6': the mean and the half-width of its 95 % interval, in percentage points."""
    return f"{100 * figure['mean']:+.1f} ± {100 * (figure['ci95_high'] - figure['mean']):.1f}"


def share_words(share, label_column, count):
    """The student's share of the adapted model (`stats.paired_ratio` of accuracy), in words."""
    accuracy = share["accuracy"]
    if accuracy is None:
        return ("The student's share of the adapted model's accuracy is not known: the adapted "
                "model scored 0 on a seed.")
    found = f"The student keeps {100 * accuracy['mean']:.1f}"
    if accuracy["ci95_low"] is None:
        return (found + f" % of the adapted model's accuracy on {label_column!r}, "
                f"{_seeds(count)}: one seed gives no interval (run 3 seeds or more).")
    found += (f" ± {100 * (accuracy['ci95_high'] - accuracy['mean']):.1f} % of the adapted "
              f"model's accuracy on {label_column!r}, {_seeds(count)}")
    if accuracy["ci95_low"] <= 1 <= accuracy["ci95_high"]:
        return found + (f": within seed noise of the adapted model's (the 95 % interval, "
                        f"{_percent(accuracy['ci95_low'])} to {_percent(accuracy['ci95_high'])}, "
                        "includes 100 %).")
    return found + (f" (the 95 % interval: {_percent(accuracy['ci95_low'])} to "
                    f"{_percent(accuracy['ci95_high'])}).")


def _above(accuracy, baseline):
    """Whether a mean accuracy is above the baseline's (a mean of equal values may differ from
    them in the last bit)."""
    return accuracy > baseline and not math.isclose(accuracy, baseline)


def _headline(metrics, name_of, gain, share):
    values = {"downstream_majority_baseline_accuracy":
              metrics["majority_baseline"]["accuracy"]}
    for role, name in name_of.items():
        values[f"downstream_{role}_accuracy"] = metrics["models"][name]["accuracy_mean"]
    for key, figure in (("downstream_adapted_minus_base_accuracy", gain and gain["accuracy"]),
                        ("downstream_student_share_accuracy", share and share["accuracy"])):
        for suffix, part in (("", "mean"), ("_ci95_low", "ci95_low"),
                             ("_ci95_high", "ci95_high")):
            if figure and figure[part] is not None:
                values[key + suffix] = figure[part]
    return values


def downstream_section(downstream, roles):
    """(the section's HTML, its headline metrics) of a `Downstream` whose model `roles` come
    from `check_models`."""
    if downstream.metrics is None:
        return f"<p>{html.esc(SKIPPED.format(reason=downstream.manifest['reason']))}</p>", {}
    metrics = downstream.metrics
    name_of = {}  # the first model of each role
    for name, role in roles.items():
        name_of.setdefault(role, name)
    label_column, count = metrics["task"]["label_column"], len(metrics["recipe"]["seeds"])
    words = []
    gain = share = None
    if BASE in name_of and ADAPTED in name_of:
        gain = stats.difference(metrics["models"], name_of[ADAPTED], name_of[BASE])
        words.append(gain_words(gain, label_column, count))
    if STUDENT in name_of and ADAPTED in name_of:
        share = stats.share(metrics["models"], name_of[STUDENT], name_of[ADAPTED])
        words.append(share_words(share, label_column, count))
    for name, reason in metrics.get("left_out", {}).items():
        words.append(f"The {ROLE_WORDS.get(name, name)} was left out: {reason}.")
    baseline = metrics["majority_baseline"]["accuracy"]
    words += [f"The {ROLE_WORDS[roles[name]]} is not above always answering the most frequent "
              "label." for name in metrics["model_names"]
              if not _above(metrics["models"][name]["accuracy_mean"], baseline)]
    body = (f"<p>{html.esc(_task_words(metrics, downstream.manifest))}</p>"
            + _table(metrics, roles) + "".join(f"<p>{html.esc(w)}</p>" for w in words))
    return body, _headline(metrics, name_of, gain, share)
