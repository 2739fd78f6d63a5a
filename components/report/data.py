"""The data report: what extract kept and dropped, and what the pretraining data looks like."""

import glob
import logging
import os

from components.common.artifacts import read_manifest
from components.report import html, plots

log = logging.getLogger(__name__)

# Passages read for the passage-length histogram; every other number is exact (manifests).
SAMPLE_PASSAGES = 200_000


def passage_lengths(corpus_dir, limit=SAMPLE_PASSAGES):
    """Characters per passage of the corpus shards (at most `limit` passages)."""
    lengths = []
    for path in sorted(glob.glob(os.path.join(corpus_dir, "part-*.txt"))):
        with open(path, encoding="utf-8") as f:
            for line in f:
                lengths.append(len(line.rstrip("\n")))
                if len(lengths) >= limit:
                    return lengths
    return lengths


def _scalars(manifest, skip=("kind",)):
    """(key, value) rows of a manifest's top-level numbers and short strings."""
    rows = []
    for key, value in manifest.items():
        if key in skip or isinstance(value, dict | list):
            continue
        if isinstance(value, str) and len(value) > 80:
            value = value[:77] + "..."
        rows.append((key, value))
    return rows


def _flat(mapping, prefix=""):
    """(dotted key, value) rows of a nested dict; histograms as comma-separated counts."""
    rows = []
    for key, value in mapping.items():
        if isinstance(value, dict):
            rows += _flat(value, f"{prefix}{key}.")
        elif isinstance(value, list):
            rows.append((f"{prefix}{key}", ", ".join(str(v) for v in value)))
        else:
            rows.append((f"{prefix}{key}", value))
    return rows


def _fractions(manifest):
    """The manifest's `*_fraction` numbers (masked, [UNK], padding, ...), nested ones included."""
    found = {}
    for key, value in manifest.items():
        if isinstance(value, dict):
            found.update({f"{key}.{k}": v for k, v in _fractions(value).items()})
        elif key.endswith("fraction") and isinstance(value, int | float) and not isinstance(
                value, bool):
            found[key] = value
    return found


def build_data_report(corpus_dir, pretraining_data_dir):
    corpus = read_manifest(corpus_dir, kind="corpus")
    data = read_manifest(pretraining_data_dir, kind="pretraining_data")
    sections = []

    dropped = corpus.get("rows_dropped") or {}
    corpus_rows = [("rows read", corpus.get("rows_read")), ("rows kept", corpus.get("rows_kept"))]
    corpus_rows += [(f"dropped: {reason}", n) for reason, n in dropped.items()]
    corpus_rows += [("characters kept", corpus.get("characters")),
                    ("shards", corpus.get("num_shards")), ("source", corpus.get("source"))]
    lengths = passage_lengths(corpus_dir)
    figures = [plots.histogram({"passages": lengths}, "Passage length", "characters")]
    if dropped:
        figures.append(plots.bars(list(dropped), list(dropped.values()),
                                  "Rows dropped per reason", "rows"))
    sections.append(("Corpus (extract)", html.table(("", "value"), corpus_rows, (1,))
                     + _plots(figures)))

    counts = data.get("counts", {})
    edges = data.get("histogram_edges", {})
    figures = []
    if "instance_real_tokens" in edges:
        figures.append(plots.binned(
            edges["instance_real_tokens"],
            {split: counts.get(split, {}).get("instance_real_tokens_histogram", [])
             for split in ("train", "heldout")},
            "Instance length", "real tokens (of max_seq_length)"))
    if "passage_tokens" in edges and "passage_tokens_histogram" in counts:
        figures.append(plots.binned(edges["passage_tokens"],
                                    {"passages": counts["passage_tokens_histogram"]},
                                    "Passage length", "tokens"))
    fractions = _fractions(data)
    if fractions:
        figures.append(plots.bars([k.replace("_fraction", "") for k in fractions],
                                  list(fractions.values()), "Token fractions", "fraction"))
    sections.append(("Pretraining data", html.table(("", "value"), _scalars(data), (1,))
                     + _plots(figures)
                     + "<p class=\"sub\">alternative_padding_fraction: the padding the other "
                     "setting of pack would give on the same data.</p>"))
    nested = [(key, html.Markup(html.table(("", "value"), _flat(value), (1,))))
              for key, value in data.items() if isinstance(value, dict)]
    if nested:
        sections.append(("Pretraining data: details", html.table(("", ""), nested)))
    return html.page("edu-mlm data report", f"corpus {corpus_dir}, pretraining data "
                     f"{pretraining_data_dir}", sections)


def _plots(figures):
    return '<div class="plots">' + "".join(html.png(f) for f in figures) + "</div>"


def write_data_report(corpus_dir, pretraining_data_dir, output_file):
    """Write the data report (HTML) to `output_file`; return its path."""
    log.info("data report for %s and %s", corpus_dir, pretraining_data_dir)
    html.write_text_atomic(output_file, build_data_report(corpus_dir, pretraining_data_dir))
    log.info("wrote %s", output_file)
    return output_file
