"""The model report's "Serving" section: the model as an online service runs it, from the
serve_export stage's output (`components/serve_export/run.py`: manifest.json, metrics.json):
how close its ONNX graphs come to PyTorch, in words; the encoder's latency on the export's
machine as a table and a chart, with the speed-ups and the goal at batch 1 × 128; and its
headline metrics.

The export must be of this report's student, or of its transformers model when no student was
distilled (the pipeline then exports the teacher), by the weights sha256 its manifest records:
an export of another model is refused in one line.
"""

from typing import NamedTuple

from components.common import lineage
from components.common.artifacts import read_json_output, read_manifest
from components.common.errors import UserError
from components.report import html, plots
from components.report.labels import artifact_name, percent, points, scientific
from components.report.lineage import FIX
from components.serve_export import latency

MANIFEST_KIND = "serving_export"
METRICS_FILE = "metrics.json"
HEADS = {"mlm": "returning the last hidden state and the vocabulary logits at every position "
                "(fill-mask and embeddings)",
         "encoder": "returning the last hidden state only (embeddings)"}
OUTPUTS = {"last_hidden_state": "last hidden state", "logits": "logits"}
COLUMNS = ("p50_ms", "p95_ms", "p99_ms", "sequences_per_second", "p50_speedup",
           "throughput_speedup", "runs")
COLUMN_NAMES = ("p50 ms", "p95 ms", "p99 ms", "sequences/s", "p50 speed-up",
                "throughput speed-up", "calls")


class Export(NamedTuple):
    directory: str
    manifest: dict
    metrics: dict


def read_export(export_dir):
    """The serve_export stage's output as an `Export`."""
    manifest = read_manifest(export_dir, kind=MANIFEST_KIND)
    return Export(export_dir, manifest, read_json_output(
        export_dir, METRICS_FILE, "the serving export", "serve_export"))


def check_model(export, hf_model_dir, student_dir):
    """Refuse an export of other weights than this report's student, or than its transformers
    model when it has no student (none given, or a skipped distillation: no weights)."""
    student = lineage.weights_sha256(student_dir) if student_dir else None
    expected, which = ((student, "student") if student else
                       (lineage.weights_sha256(hf_model_dir), "transformers model"))
    if export.manifest["model"]["weights_sha256"] != expected:
        raise UserError(f"the serving export is of other weights than this report's {which}",
                        where=export.directory, fix=FIX)


def _megabytes(size):
    return f"{size / 1e6:.1f} MB"


def _introduction(metrics):
    exported, graphs, versions = metrics["exported"], metrics["graphs"], metrics["versions"]
    files = " and ".join(f"{graphs[name]['file']} ({_megabytes(graphs[name]['bytes'])})"
                         for name in ("fp32", "int8") if name in graphs)
    found = (f"The {exported['role']} {artifact_name(metrics['model_dir'])} as an online "
             f"service loads it: {files}, {HEADS[metrics['head']]}, ONNX opset "
             f"{metrics['opset']}, exported by torch.onnx (torch {versions['torch']}) and run by "
             f"ONNX Runtime {versions['onnxruntime']}.")
    if "int8" in graphs:
        found += (" The int8 graph is ONNX Runtime's dynamic quantization: int8 weights of "
                  "every MatMul with a constant weight, its input quantized at each call.")
    if exported.get("why"):
        found += f" {exported['why'][0].upper()}{exported['why'][1:]}."
    return found


def parity_words(parity):
    """The graphs against PyTorch (`serve_export/parity.py`'s result), in words."""
    data, fp32 = parity["data"], parity["fp32"]
    if data["source"] == "heldout":
        found = (f"On {data['examples']:,} held-out records ({data['masked_positions']:,} masked "
                 "positions)")
    else:
        found = (f"On {data['examples']:,} synthetic sequences of random tokens "
                 f"({data['masked_positions']:,} masked positions; no pretraining data was "
                 "given, so the accuracies below mean nothing)")
    diffs = [(OUTPUTS.get(key[len("max_abs_diff_"):], key), value)
             for key, value in fp32.items() if key.startswith("max_abs_diff_")]
    largest = max(value for _, value in diffs)
    found += (" the fp32 graph's outputs stay within "
              + ", ".join(f"{scientific(value)} ({name})" for name, value in diffs)
              + " of PyTorch's at every real token, "
              + ("within" if largest <= fp32["goal_max_abs_diff"] else "above")
              + f" the limit {scientific(fp32['goal_max_abs_diff'])}.")
    int8 = parity.get("int8")
    if int8:
        goal = int8["goal_min_top1_agreement"]
        found += (f" The int8 graph makes PyTorch's top-1 prediction at "
                  f"{percent(int8['top1_agreement'])} of the masked positions (the goal: at "
                  f"least {percent(goal)}"
                  + (", 0 meaning any is accepted" if goal == 0 else "") + "); its masked-LM "
                  f"accuracy is {percent(int8['masked_lm_accuracy'])} against PyTorch's "
                  f"{percent(parity['pytorch']['masked_lm_accuracy'])} "
                  f"({points(-int8['accuracy_drop'])}).")
    return found


def _cell_name(cell, multiply="×"):
    return f"{cell['batch']} {multiply} {cell['sequence']}"


def _threads(count):
    return f"{count} thread{'s' if count > 1 else ''}"


def _how(figures):
    settings, machine = figures["settings"], figures["machine"]
    baseline = figures["models"][figures["baseline"]]["label"]
    return (f"The encoder alone (last hidden state, no MLM head; {settings['graphs']}), "
            f"{settings['dtype']}, on the export's machine: {machine['processor']}, "
            f"{_threads(machine['usable_cores'])} usable. In each cell every model runs one "
            f"call in turn, after {settings['warmup_calls']} warm-up calls, until each has "
            f"{settings['min_runs']} calls and the cell has run "
            f"{settings['seconds_per_cell']:g} s; speed-ups are over the {baseline} in the "
            "same cell.")


def _p50_table(figures):
    names = latency.model_names(figures)
    rows = []
    for cell in figures["cells"]:
        row = [_cell_name(cell), _threads(cell["threads"])]
        for name in names:
            summary = cell["models"][name]
            row.append(f"{summary['p50_ms']:.3g}" if name == figures["baseline"] else
                       f"{summary['p50_ms']:.3g} ({summary['p50_speedup']:.3g}×)")
        rows.append(row)
    header = ("batch × sequence", "threads",
              *(f"{figures['models'][name]['label']}: p50 ms" for name in names))
    return html.table(header, rows)


def _every_figure(figures):
    rows = [(_cell_name(cell), _threads(cell["threads"]), figures["models"][name]["label"],
             *(cell["models"][name][column] for column in COLUMNS))
            for cell in figures["cells"] for name in latency.model_names(figures)]
    return html.table(("batch × sequence", "threads", "model", *COLUMN_NAMES), rows,
                      numeric_columns=range(3, 3 + len(COLUMNS)))


def _charts(figures):
    found = []
    for count in figures["settings"]["threads"]:
        cells = [cell for cell in figures["cells"] if cell["threads"] == count]
        series = {figures["models"][name]["label"]: [cell["models"][name]["p50_ms"]
                                                     for cell in cells]
                  for name in latency.model_names(figures)}
        found.append(plots.grouped_bars(
            [_cell_name(cell, "x") for cell in cells], series,
            f"Encoder latency (median), {_threads(count)}", "ms per call (log scale)",
            log=True))
    return '<div class="plots">' + "".join(html.png(f) for f in found) + "</div>"


def goal_words(figures, parity):
    """The issue's goal (`latency.GOAL_*`: the int8 student at least 4× the PyTorch teacher's
    p50 at batch 1 × 128, its top-1 agreement at least 98 %), in words; '' when the grid has no
    such cell or there is no int8 graph."""
    cells = [cell for cell in latency.headline_cells(figures)
             if (cell["batch"], cell["sequence"]) == (latency.GOAL_BATCH,
                                                     latency.GOAL_SEQUENCE)]
    if not cells or "onnx_int8" not in figures["models"]:
        return ""
    if figures["baseline"] != latency.TEACHER:
        return ("No teacher was timed beside the model, so the goal against the teacher "
                "cannot be told.")
    speedups = [(cell["threads"], cell["models"]["onnx_int8"]["p50_speedup"]) for cell in cells]
    agreement = parity["int8"]["top1_agreement"]
    met = (all(speedup >= latency.GOAL_SPEEDUP for _, speedup in speedups)
           and agreement >= latency.GOAL_TOP1_AGREEMENT)
    return (f"Goal at batch {latency.GOAL_BATCH} × {latency.GOAL_SEQUENCE}: the int8 graph's "
            f"p50 at least {latency.GOAL_SPEEDUP:g}× the PyTorch teacher's with a top-1 "
            f"agreement of at least {percent(latency.GOAL_TOP1_AGREEMENT)}. It is "
            + " and ".join(f"{speedup:.3g}× with {_threads(count)}" for count, speedup in speedups)
            + f", agreeing at {percent(agreement)}: the goal is {'met' if met else 'missed'}.")


def _headline(metrics):
    parity, figures = metrics["parity"], metrics.get("latency")
    values = {"serving_fp32_max_abs_diff": max(
        value for key, value in parity["fp32"].items() if key.startswith("max_abs_diff_"))}
    if "int8" in parity:
        values["serving_int8_top1_agreement"] = parity["int8"]["top1_agreement"]
        values["serving_int8_accuracy_drop"] = parity["int8"]["accuracy_drop"]
    for cell in latency.headline_cells(figures) if figures else ():
        if (cell["batch"], cell["sequence"]) != (latency.GOAL_BATCH, latency.GOAL_SEQUENCE):
            continue
        which = "1_thread" if cell["threads"] == 1 else "all_threads"
        served = cell["models"][latency.served_graph(figures)]
        values[f"serving_p50_ms_{which}"] = served["p50_ms"]
        if figures["baseline"] == latency.TEACHER:
            values[f"serving_p50_speedup_{which}"] = served["p50_speedup"]
    return values


def serving_section(export):
    """(the section's HTML, its headline metrics) of an `Export` (check it with `check_model`
    first)."""
    metrics = export.metrics
    body = (f"<p>{html.esc(_introduction(metrics))}</p><h3>Against PyTorch</h3>"
            f"<p>{html.esc(parity_words(metrics['parity']))}</p><h3>Latency</h3>")
    figures = metrics.get("latency")
    if not figures:
        body += "<p>The export was not timed (--latency_runs 0).</p>"
    else:
        goal = goal_words(figures, metrics["parity"])
        body += (f"<p>{html.esc(_how(figures))}</p>" + _p50_table(figures)
                 + (f"<p><b>{html.esc(goal)}</b></p>" if goal else "") + _charts(figures)
                 + html.details("Every figure (p95, p99, throughput)", _every_figure(figures)))
    return body, _headline(metrics)
