"""A user's text (class, dataset, run and file names, example texts) made safe inside HTML: the report's page and
plotly's chart text, which renders tags such as <a href>, <b> and <br>. The pages' Markdown escaping
(pages/shared/user_text.py) builds on the same shortening, so a name is cut alike everywhere.
"""

from __future__ import annotations

import html

NAME_LIMIT = 60  # characters of a name shown in a sentence or a picker; the full text goes in a tooltip
CHART_LIMIT = 30  # characters of a name on a chart axis or legend; the full text is in the hover box


def one_line(text: object) -> str:
    """The text with every run of whitespace (newlines and tabs included) as one space: a newline inside a label
    would start a new Markdown block, and names are shown on one line anyway."""
    return " ".join(str(text).split())


def is_cut(text: object, limit: int = NAME_LIMIT) -> bool:
    return len(one_line(text)) > limit


def short(text: object, limit: int = NAME_LIMIT) -> str:
    """Plain text, on one line, cut to `limit` characters with an ellipsis: for places that show text as typed."""
    text = one_line(text)
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def chart(text: object, limit: int | None = CHART_LIMIT) -> str:
    """For text inside a plotly figure (axis ticks, legend, hover, bar text): HTML-escaped, as plotly renders tags
    such as <a href>, <b> and <br>; cut to `limit` characters (None: the whole text, for hover boxes)."""
    return html.escape(one_line(text) if limit is None else short(text, limit), quote=False)


def esc(text: object, limit: int | None = None) -> str:
    """For the report's HTML, in text or in an attribute: every character as typed (quotes escaped too)."""
    return html.escape(one_line(text) if limit is None else short(text, limit), quote=True)
