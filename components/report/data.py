"""The data report: what extract kept and dropped, and what the pretraining data looks like."""

import glob
import logging
import os

from components.common.artifacts import read_manifest, write_text_atomic
from components.records import layout
from components.report import html, plots
from components.report.labels import (
    DROP_REASONS,
    HISTOGRAMS,
    SPLITS,
    artifact_name,
    file_names,
    label,
    rows,
    value,
    without_absolute_paths,
)

log = logging.getLogger(__name__)

# Passages read for the passage-length histogram; every other number is exact (manifests).
SAMPLE_PASSAGES = 200_000

# What the pretraining-data section shows up front, and the settings it was made with.
DATA_FIGURES = ("train_instances", "heldout_instances", "mean_real_tokens_per_instance",
                "masked_token_fraction", "unk_fraction")
DATA_SETTINGS = ("max_seq_length", "max_predictions_per_seq", "masked_lm_prob",
                 "do_whole_word_mask", "segmenter", "user_dict", "do_lower_case", "dupe_factor",
                 "short_seq_prob", "heldout_fraction", "pack", "random_seed", "vocab_size",
                 "wall_seconds", "num_workers")
CLEANING = ("min_chars", "max_chars", "dedup", "normalize_punctuation", "errors",
            "max_bad_fraction")
CORPUS_DETAILS = ("format", "limit", "first_bad_row")
# Counts per split, in the order the table lists them.
SPLIT_COUNTS = ("passages", "instances", "real_tokens", "masked_tokens", "replaced_by_mask",
                "replaced_by_random", "kept_original")
WHOLE_COUNTS = ("passages", "characters", "text_tokens", "unk_tokens", "passages_without_tokens",
                "alternative_instances", "alternative_real_tokens")


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


def token_fractions(manifest):
    """Padding, masked, [UNK] fractions and how masked tokens were replaced (80/10/10)."""
    fractions = {name: manifest[key] for key, name in (
        ("padding_fraction", "padding"), ("alternative_padding_fraction", "padding, other pack"),
        ("masked_token_fraction", "masked"), ("unk_fraction", "[UNK]")) if key in manifest}
    counts = manifest.get("counts", {})
    masked = sum(counts.get(s, {}).get("masked_tokens", 0) for s in SPLITS)
    for key, name in (("replaced_by_mask", "masked: [MASK]"),
                      ("replaced_by_random", "masked: random"),
                      ("kept_original", "masked: kept")):
        if masked:
            fractions[name] = sum(counts.get(s, {}).get(key, 0) for s in SPLITS) / masked
    return fractions


def describe_source(source):
    """Where the corpus came from, with file names instead of the machine's paths."""
    if not isinstance(source, dict):
        return without_absolute_paths(source)
    if "files" in source:
        return f"text files: {file_names(source['files'])}"
    parts = [source.get("url") or source.get("connection"), source.get("query")]
    if source.get("text_column"):
        parts.append(f"column {source['text_column']}")
    return without_absolute_paths("; ".join(str(p) for p in parts if p))


def _table(rows_):
    return html.table(("", "value"), rows_)


def _corpus_section(corpus_dir, corpus):
    dropped = corpus.get("rows_dropped") or {}
    shown = [(f"dropped: {DROP_REASONS.get(reason, label(reason))}", value("rows_read", n))
             for reason, n in dropped.items() if n]
    if not shown:
        shown = [("dropped", "none")]
    table = _table(rows(("rows_read", "rows_kept"), corpus) + shown
                   + rows(("characters", "num_shards"), corpus)
                   + [("source", describe_source(corpus.get("source")))])
    figures = [plots.histogram({"passages": passage_lengths(corpus_dir)}, "Passage length",
                               "characters")]
    if any(dropped.values()):
        reasons = [r for r, n in dropped.items() if n]
        figures.append(plots.bars([DROP_REASONS.get(r, label(r)) for r in reasons],
                                  [dropped[r] for r in reasons], "Rows dropped per reason",
                                  "rows"))
    shards = [(s.get("file", ""), value("rows_kept", s.get("passages")),
               value("characters", s.get("characters")), f"{s.get('bytes', 0):,} bytes")
              for s in corpus.get("shards", [])]
    details = html.details("Cleaning settings", _table(
        rows(CLEANING, corpus.get("cleaning") or {}) + rows(CORPUS_DETAILS, corpus)))
    if shards:
        details += html.details(f"Corpus files ({len(shards)})", html.table(
            ("file", "passages", "characters", "size"), shards))
    return table + _plots(figures) + details


def _padding_rows(data):
    """Padding once as made and once with the other `pack` setting (the manifest also names
    both by layout: the same two numbers)."""
    pack = bool(data.get("pack"))
    made, other = ("on", "off") if pack else ("off", "on")
    found = []
    if "padding_fraction" in data:
        found.append((f"padding (pack {made}, as made)", value("padding_fraction",
                                                              data["padding_fraction"])))
    if "alternative_padding_fraction" in data:
        found.append((f"padding had pack been {other}",
                      value("alternative_padding_fraction", data["alternative_padding_fraction"])))
    return found


def _histogram_tables(data):
    counts, edges = data.get("counts", {}), data.get("histogram_edges", {})
    tables = ""
    for name, bins in edges.items():
        what, unit = HISTOGRAMS.get(name, (label(name), ""))
        series = {"all": counts.get(f"{name}_histogram")}
        series.update({SPLITS[s]: counts.get(s, {}).get(f"{name}_histogram") for s in SPLITS})
        series = {k: v for k, v in series.items() if v}
        if not series:
            continue
        bounds = [f"{a:,}–{b:,}" for a, b in zip(bins, bins[1:], strict=False)]
        bounds.append(f"{bins[-1]:,} or more")
        table_rows = [(bound, *(f"{v[i]:,}" if i < len(v) else "" for v in series.values()))
                      for i, bound in enumerate(bounds)]
        tables += (f"<p>{html.esc(what.capitalize())} ({html.esc(unit)}):</p>"
                   + html.table((unit, *series), table_rows, range(1, len(series) + 1)))
    return tables


def _data_details(data):
    counts = data.get("counts", {})
    per_split = [(label(k), *(value(k, counts.get(s, {}).get(k)) for s in SPLITS))
                 for k in SPLIT_COUNTS]
    parts = html.details("Counts per split", html.table(
        ("", *(SPLITS[s] for s in SPLITS)), per_split)
        + "<p>The whole corpus:</p>" + _table(rows(WHOLE_COUNTS, counts)
                 + [(f"passages dropped: {label(k)}", value("passages", n))
                    for k, n in (counts.get("bad_passages") or {}).items()]))
    histograms = _histogram_tables(data)
    if histograms:
        parts += html.details("Length histograms (the counts behind the plots)", histograms)
    phases = data.get("phase_cpu_seconds") or {}
    if phases:
        parts += html.details("CPU time per phase", _table(
            [(label(phase), value("wall_seconds", s)) for phase, s in phases.items()]))
    part = data.get("part") or {}
    parts += html.details("Files", _table(
        [("training files", file_names(data.get("train_files", []))),
         ("held-out files", file_names(data.get("heldout_files", []))),
         ("corpus files read", file_names(data.get("input_files", [])))]
        + rows(("merged_parts", "input_shards"), part) + rows(("vocab_sha256",), data)))
    return parts


def _data_section(data):
    figures = []
    counts, edges = data.get("counts", {}), data.get("histogram_edges", {})
    if "instance_real_tokens" in edges:
        figures.append(plots.binned(
            edges["instance_real_tokens"],
            {split: counts.get(split, {}).get("instance_real_tokens_histogram", [])
             for split in SPLITS},
            "Instance length", f"real tokens (of {data.get('max_seq_length', '?')})"))
    fractions = token_fractions(data)
    if fractions:
        figures.append(plots.bars(list(fractions), list(fractions.values()),
                                  "Token fractions", "fraction of tokens"))
    return ("<p>What the data holds:</p>"
            + _table(rows(DATA_FIGURES, data) + _padding_rows(data))
            + "<p>How it was made:</p>" + _table(rows(DATA_SETTINGS, data))
            + _plots(figures)
            + "<p class=\"sub\">\"padding, other pack\": the padding the other setting of pack "
            "would give on the same data; \"masked: …\" are fractions of the masked tokens "
            "(Google: 80% [MASK], 10% random, 10% kept).</p>"
            + _data_details(data))


def build_data_report(corpus_dir, pretraining_data_dir):
    corpus = read_manifest(corpus_dir, kind="corpus")
    data = layout.read_data_manifest(pretraining_data_dir)
    sections = [("Corpus (extract)", _corpus_section(corpus_dir, corpus)),
                ("Pretraining data", _data_section(data))]
    return html.page("edu-mlm data report", f"corpus {artifact_name(corpus_dir)}, pretraining "
                     f"data {artifact_name(pretraining_data_dir)}", sections)


def _plots(figures):
    return '<div class="plots">' + "".join(html.png(f) for f in figures) + "</div>"


def write_data_report(corpus_dir, pretraining_data_dir, output_file):
    """Write the data report (HTML) to `output_file`; return its path."""
    log.info("data report for %s and %s", corpus_dir, pretraining_data_dir)
    write_text_atomic(output_file, build_data_report(corpus_dir, pretraining_data_dir))
    log.info("wrote %s", output_file)
    return output_file
