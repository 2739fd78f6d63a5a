"""Self-contained HTML pages for the KFP UI: inline CSS, plots as base64 PNG, no external assets.

The KFP UI shows an HTML artifact in a sandboxed iframe, so nothing may be fetched: every image is
a data: URI and there is no script.
"""

import base64
import html
import io

STYLE = """
body { font-family: -apple-system, "Segoe UI", "Noto Sans CJK SC", "PingFang SC",
       "Microsoft YaHei", sans-serif; margin: 24px; color: #1f2328; max-width: 1100px; }
h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 18px; margin-top: 28px;
border-bottom: 1px solid #d0d7de; padding-bottom: 4px; } .sub { color: #59636e; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 14px; }
th, td { border: 1px solid #d0d7de; padding: 4px 10px; text-align: left; vertical-align: top; }
th { background: #f6f8fa; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
img { max-width: 100%; } .plots { display: flex; flex-wrap: wrap; gap: 12px; }
.good { color: #1a7f37; font-weight: 600; } .bad { color: #cf222e; font-weight: 600; }
.mask { background: #fff8c5; font-weight: 600; padding: 0 2px; }
details { margin: 6px 0; } summary { cursor: pointer; color: #0969da; }
"""


def esc(value):
    return html.escape(str(value))


def number(value, digits=4):
    """A number as a table shows it: integers plain, floats to `digits` significant digits."""
    if isinstance(value, bool) or value is None:
        return esc(value if value is not None else "–")
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()
                                  and abs(value) < 1e12):
        return f"{int(value):,}"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return esc(value)


def table(header, rows, numeric_columns=()):
    """An HTML table; cells in `numeric_columns` are right-aligned numbers, others escaped text
    (pass pre-built HTML as `Markup`)."""
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = []
    for row in rows:
        cells = []
        for i, cell in enumerate(row):
            if isinstance(cell, Markup):
                cells.append(f"<td>{cell}</td>")
            elif i in numeric_columns:
                cells.append(f'<td class="num">{number(cell)}</td>')
            else:
                cells.append(f"<td>{esc(cell)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


class Markup(str):
    """HTML that `table` inserts as is (already escaped by its maker)."""


def details(summary, body):
    """`body` (HTML) folded under a one-line `summary` the reader clicks to open."""
    return f"<details><summary>{esc(summary)}</summary>{body}</details>"


def verdict(passed, text):
    """✓ or ✗ and `text` (the value and its limit), green or red."""
    return Markup(f'<span class="{"good" if passed else "bad"}">{"✓" if passed else "✗"} '
                  f"{esc(text)}</span>")


def png(figure):
    """A matplotlib figure → an <img> with the PNG inline; the figure is closed."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(figure)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img alt="plot" src="data:image/png;base64,{data}">'


def page(title, subtitle, sections):
    """A whole HTML document; `sections` is [(heading, html body)]."""
    parts = [f"<h2>{esc(heading)}</h2>\n{body}" for heading, body in sections]
    return ("<!DOCTYPE html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\">"
            f"<title>{esc(title)}</title><style>{STYLE}</style></head><body>"
            f"<h1>{esc(title)}</h1><div class=\"sub\">{esc(subtitle)}</div>\n"
            + "\n".join(parts) + "\n</body></html>\n")
