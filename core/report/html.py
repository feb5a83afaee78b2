"""The report's page: one HTML file that needs nothing else. plotly.js is inlined once in the head and every figure
is a div that draws with it; images are data: URIs; the styles are inline, with a print stylesheet so the
browser's "Print → Save as PDF" gives the same content on paper. Nothing in the file asks another host for anything.

Every string a user typed or uploaded reaches the page through `esc` (core.report.text) or a `Name` rendered here.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from plotly.offline import get_plotlyjs

from core.evaluation.verdict_text import Line, render
from core.report.text import esc

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1f2933; max-width: 1100px;
       margin: 2em auto; padding: 0 1.5em; line-height: 1.45; }
h1 { font-size: 1.7em; margin-bottom: 0.2em; } h2 { border-bottom: 2px solid #e4e7eb; padding-bottom: 0.2em;
margin-top: 1.8em; } h3 { margin-top: 1.4em; }
.meta, .note { color: #616e7c; font-size: 0.92em; }
.verdict { border: 1px solid #cbd2d9; border-radius: 8px; padding: 0.8em 1.2em; background: #f8fafc; }
.verdict p { margin: 0.45em 0; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.93em; }
th, td { border: 1px solid #e4e7eb; padding: 0.3em 0.7em; text-align: left; vertical-align: top; }
th { background: #f5f7fa; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.best td { background: #fff3c4; }
code { background: #eef2f7; padding: 0 0.25em; border-radius: 3px; word-break: break-word; }
.facts th { width: 16em; }
.examples { display: flex; flex-wrap: wrap; gap: 0.8em; }
.examples figure { margin: 0; width: 150px; font-size: 0.82em; word-break: break-word; }
.examples img { width: 150px; height: auto; border: 1px solid #e4e7eb; }
.print-hint { background: #eef6ff; border-left: 4px solid #1565c0; padding: 0.5em 0.9em; }
@media print {
  body { max-width: none; margin: 0; padding: 0; font-size: 10.5pt; }
  .print-hint, .modebar-container { display: none !important; }
  section, table, figure, .plotly-graph-div, .verdict { break-inside: avoid; }
  h2 { break-after: avoid; }
}
"""
PRINT_HINT = ("To keep it as a PDF, open this file in a browser and print it (Ctrl+P, or ⌘P on a Mac) with "
              "\"Save as PDF\" as the printer: charts and tables print as they are shown.")


class Figures:
    """Plotly figures as divs that draw with the plotly.js the page inlines once (see `page`)."""

    def __init__(self) -> None:
        self.count = 0

    def html(self, figure: Any) -> str:
        self.count += 1
        # Streamlit's theme grows the margins to fit tick labels and axis titles; a bare page needs to be told.
        figure = go.Figure(figure).update_xaxes(automargin=True).update_yaxes(automargin=True)
        return pio.to_html(figure, full_html=False, include_plotlyjs=False, div_id=f"figure-{self.count}",
                           default_height="360px", config={"displaylogo": False, "responsive": True})


def name(text: object) -> str:
    """A user's name set apart in a sentence (escaped)."""
    return f"<code>{esc(text)}</code>"


def line(verdict_line: Line) -> str:
    """A verdict sentence (core.evaluation.verdict_text) as a paragraph: title bold, class names escaped."""
    words = lambda t: html.escape(t, quote=False)  # noqa: E731 - the app's own words, spaces kept
    return "<p>" + render(verdict_line, name=name, text=words, strong=lambda t: f"<strong>{t}</strong>") + "</p>"


def paragraph(text: str) -> str:
    """The app's own words (no user text inside: that goes through `esc` first)."""
    return f"<p>{text}</p>"


def table(frame: pd.DataFrame, formats: dict[str, Callable[[Any], str]] | None = None,
          row_class: Callable[[pd.Series], str] | None = None) -> str:
    """A frame as an HTML table, every cell escaped; `formats`: column -> how its values read (numbers right-aligned)."""
    formats = formats or {}
    head = "".join(f"<th>{esc(c)}</th>" for c in frame.columns)
    rows = []
    for _, row in frame.iterrows():
        cells = []
        for column in frame.columns:
            value = row[column]
            shown = "–" if _missing(value) else formats[column](value) if column in formats else str(value)
            numeric = column in formats or isinstance(value, (int, float))
            cells.append(('<td class="num">' if numeric else "<td>") + f"{esc(shown)}</td>")
        css = row_class(row) if row_class else ""
        rows.append((f'<tr class="{css}">' if css else "<tr>") + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def facts(items: Sequence[tuple[str, object]]) -> str:
    """A two-column table of facts (label, value); empty values left out."""
    rows = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in items if not _missing(v) and v != "")
    return f'<table class="facts">{rows}</table>'


def _missing(value: object) -> bool:
    try:
        return value is None or bool(pd.isna(value))
    except (TypeError, ValueError):  # a list or an array: present
        return False


def page(title: str, body: str) -> str:
    """The whole file: styles, plotly.js once, then the body."""
    made = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n<title>{esc(title)}</title>\n'
            f"<style>{STYLE}</style>\n"
            f'<script type="text/javascript">window.PlotlyConfig = {{MathJaxConfig: "local"}};</script>\n'
            f'<script type="text/javascript">{get_plotlyjs()}</script>\n</head>\n<body>\n'
            f'<p class="print-hint">{esc(PRINT_HINT)}</p>\n{body}\n'
            f'<p class="meta">Made by Tuneboard on {made}. Everything in this file is in this file: it opens offline '
            f"and asks no other site for anything.</p>\n</body>\n</html>\n")
