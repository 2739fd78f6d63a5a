"""The data report: what extract kept and dropped, and what the pretraining data looks like."""

import glob
import logging
import os

from components.common.artifacts import read_manifest, write_text_atomic
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


def token_fractions(manifest):
    """Padding, masked, [UNK] fractions and how masked tokens were replaced (80/10/10)."""
    fractions = {label: manifest[key] for key, label in (
        ("padding_fraction", "padding"), ("alternative_padding_fraction", "padding, other pack"),
        ("masked_token_fraction", "masked"), ("unk_fraction", "[UNK]")) if key in manifest}
    counts = manifest.get("counts", {})
    masked = sum(counts.get(s, {}).get("masked_tokens", 0) for s in ("train", "heldout"))
    for key, label in (("replaced_by_mask", "masked: [MASK]"),
                       ("replaced_by_random", "masked: random"),
                       ("kept_original", "masked: kept")):
        if masked:
            fractions[label] = sum(counts.get(s, {}).get(key, 0)
                                   for s in ("train", "heldout")) / masked
    return fractions


def describe_source(source):
    if not isinstance(source, dict):
        return source
    return "; ".join(f"{k}: {v}" for k, v in source.items() if v not in (None, "", []))


def build_data_report(corpus_dir, pretraining_data_dir):
    corpus = read_manifest(corpus_dir, kind="corpus")
    data = read_manifest(pretraining_data_dir, kind="pretraining_data")
    sections = []

    dropped = corpus.get("rows_dropped") or {}
    corpus_rows = [("rows read", corpus.get("rows_read")), ("rows kept", corpus.get("rows_kept"))]
    corpus_rows += [(f"dropped: {reason}", n) for reason, n in dropped.items()]
    corpus_rows += [("characters kept", corpus.get("characters")),
                    ("shards", corpus.get("num_shards")),
                    ("source", describe_source(corpus.get("source")))]
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
    fractions = token_fractions(data)
    if fractions:
        figures.append(plots.bars(list(fractions), list(fractions.values()),
                                  "Token fractions", "fraction of tokens"))
    sections.append(("Pretraining data", html.table(("", "value"), _scalars(data), (1,))
                     + _plots(figures)
                     + "<p class=\"sub\">\"padding, other pack\": the padding the other setting "
                     "of pack would give on the same data; \"masked: …\" are fractions of the "
                     "masked tokens (Google: 80% [MASK], 10% random, 10% kept).</p>"))
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
    write_text_atomic(output_file, build_data_report(corpus_dir, pretraining_data_dir))
    log.info("wrote %s", output_file)
    return output_file
