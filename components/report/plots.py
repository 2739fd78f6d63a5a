"""The report's plots (matplotlib, Agg backend: no display needed). Labels stay ASCII: a
CJK-capable font may be missing in the image, and a missing glyph would draw as a box."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib import ticker  # noqa: E402

COLORS = {"base": "#8c959f", "trained": "#0969da", "train": "#0969da", "heldout": "#bf8700"}


def histogram(series, title, xlabel, bins=40):
    """Overlaid histograms of {label: values}; empty series are left out."""
    figure, axes = plt.subplots(figsize=(5.4, 3.2))
    for label, values in series.items():
        if len(values):
            axes.hist(values, bins=bins, alpha=0.6, label=f"{label} (n={len(values):,})",
                      color=COLORS.get(label))
    axes.set_title(title)
    axes.set_xlabel(xlabel)
    axes.set_ylabel("count")
    if len(series) > 1 or any(len(v) for v in series.values()):
        axes.legend(fontsize=8)
    return figure


def binned(edges, series, title, xlabel):
    """Histograms already counted in bins [edges[i], edges[i+1]) (the last one open above)."""
    figure, axes = plt.subplots(figsize=(5.4, 3.2))
    widths = [b - a for a, b in zip(edges, edges[1:], strict=False)] or [1]
    widths.append(widths[-1])
    shown = [(label, counts) for label, counts in series.items() if sum(counts)]
    step = 1 / max(1, len(shown))
    for i, (label, counts) in enumerate(shown):
        lefts = [e + w * step * i for e, w in zip(edges, widths, strict=True)]
        axes.bar(lefts, counts, width=[w * step for w in widths], align="edge",
                 label=f"{label} (n={sum(counts):,})", color=COLORS.get(label))
    axes.set_title(title)
    axes.set_xlabel(xlabel)
    axes.set_ylabel("count")
    if shown:
        axes.legend(fontsize=8)
    return figure


def curves(x, series, title, ylabel, markers=None):
    """Line plots of {label: y values} over `x`; `markers` adds {label: (x, y)} reference points."""
    figure, axes = plt.subplots(figsize=(5.4, 3.2))
    for label, values in series.items():
        axes.plot(x, values, label=label, color=COLORS.get(label), marker="." if len(x) < 30
                  else None)
    for label, (mx, my) in (markers or {}).items():
        axes.scatter([mx], [my], label=label, color=COLORS.get(label.split()[0], "#cf222e"),
                     zorder=3, marker="D")
    axes.set_title(title)
    axes.set_xlabel("step")
    axes.set_ylabel(ylabel)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    return figure


def bars(labels, values, title, ylabel):
    figure, axes = plt.subplots(figsize=(5.4, 3.2))
    axes.bar(labels, values, color="#0969da")
    axes.set_title(title)
    axes.set_ylabel(ylabel)
    for i, value in enumerate(values):
        axes.annotate(f"{value:.3g}" if isinstance(value, float) else f"{value:,}",
                      (i, value), ha="center", va="bottom", fontsize=8)
    axes.margins(y=0.12)  # room for the value above the highest bar
    axes.set_xticks(range(len(labels)), labels, rotation=35, ha="right",
                    rotation_mode="anchor")
    return figure


# The colours of `grouped_bars` series, in order: the report's grey and blue first, as `COLORS`.
SERIES_COLORS = ("#8c959f", "#0969da", "#bf8700", "#1a7f37", "#cf222e", "#8250df")


def grouped_bars(groups, series, title, ylabel, log=False):
    """Bars of {label: [one value per group]} side by side within each of `groups` (the x
    labels), each bar with its value above it; `log`: a logarithmic y axis (values spanning
    tens of times)."""
    figure, axes = plt.subplots(figsize=(5.4, 3.2))
    width = 0.8 / max(1, len(series))
    for i, (label, values) in enumerate(series.items()):
        lefts = [g - 0.4 + width * i for g in range(len(groups))]
        bars = axes.bar(lefts, values, width=width, align="edge", label=label,
                        color=SERIES_COLORS[i % len(SERIES_COLORS)])
        axes.bar_label(bars, [f"{v:.3g}" for v in values], fontsize=6, padding=1)
    if log:
        axes.set_yscale("log")
        # Ticks at 1, 2, 5 x 10^n written as plain numbers (20, 50, 100), not as powers of ten.
        axes.yaxis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
        axes.yaxis.set_major_formatter(ticker.FuncFormatter(lambda value, _: f"{value:g}"))
        axes.yaxis.set_minor_formatter(ticker.NullFormatter())
    axes.margins(y=0.15)  # room for the values above the highest bars
    axes.set_xticks(range(len(groups)), groups)
    axes.set_title(title)
    axes.set_ylabel(ylabel)
    # Below the plot: inside, it would hide the bars of one group or another.
    axes.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2)
    return figure
