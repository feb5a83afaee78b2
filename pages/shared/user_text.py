"""Text a user typed or uploaded, made safe to show: dataset, class, column, run, model and file names, and messages
that quote them.

Streamlit renders Markdown almost everywhere (st.markdown / write / caption / subheader, alert bodies, toasts, metric
labels and values, widget labels and tooltips, radio options, image captions, progress text), and plotly renders
HTML tags (<a href>, <b>, <br>) in chart text. A class named `[Login again](https://evil.example)` would become a
live link, `![p](http://host/x.png)` would make the browser load an outside image. So every such string passes
through one of these functions where it is shown; the app's own sentences around it keep their Markdown.

Where Streamlit shows text as typed (selectbox and multiselect options, st.dataframe cells and headers, st.code,
st.text, st.json, text inputs) escaping would show stray backslashes: there `short` only shortens.
Shortening and the chart escaping are core.report.text's, shared with the downloaded report.
"""

from __future__ import annotations

import re

from core.report.text import CHART_LIMIT, NAME_LIMIT, chart, is_cut, one_line, short

# The characters that can start inline Markdown: links and images ([ ]), HTML and autolinks (< >), entities (&),
# emphasis and strikethrough (* _ ~), code (`), math ($), and the backslash itself (so a typed one escapes
# nothing). Streamlit's :color[...] directives need [ as well. A backslash before them shows them as typed.
_INLINE = frozenset("\\`*_~[]<>&$")
# Block Markdown (headings, lists, quotes) only starts a line: text is shown on one line, so only its first
# character needs it (a quote's > is escaped above). CommonMark lets a backslash escape any ASCII punctuation.
_BLOCK_START = re.compile(r"^(?:[#+-]|\d+(?=[.)]))")
# GitHub-flavoured Markdown turns bare web and e-mail addresses into links, and Streamlit :name: shortcodes into
# emoji and icons; both are found in the text after escapes are resolved, so a backslash does not stop them. An
# invisible word joiner breaks the patterns ("https://", "www.", "name@host", ":smile:") without changing what
# the reader sees.
_WORD_JOINER = "\u2060"
_FOUND_IN_TEXT = re.compile(r"(?:https?:|www(?=\.)|@|:(?=[\w+/-]+:))", re.IGNORECASE)


def md(text: object, limit: int | None = NAME_LIMIT) -> str:
    """For any place Streamlit renders Markdown: shows the characters typed (on one line), never a link, image, HTML
    tag, heading, list, math or colour. Cut to `limit` characters (None: whole messages, such as an error quoting a
    name); pair a cut name with `hover(text)` where the element takes a tooltip."""
    text = one_line(text) if limit is None else short(text, limit)
    text = _FOUND_IN_TEXT.sub(lambda m: m.group(0) + _WORD_JOINER, text)
    text = "".join("\\" + c if c in _INLINE else c for c in text)
    # "1." and "1)" start a list: the escape goes before the punctuation, after the number.
    return _BLOCK_START.sub(lambda m: m.group(0) + "\\" if m.group(0).isdigit() else "\\" + m.group(0), text)


def hover(text: object, limit: int = NAME_LIMIT) -> str | None:
    """The whole text, escaped, for an element's `help=` tooltip when `md` / `short` cut it; None if nothing was cut."""
    return md(text, limit=None) if is_cut(text, limit) else None


def code(text: object, limit: int | None = NAME_LIMIT) -> str:
    """Inline code in Markdown (monospace, everything inside shown literally): for names that read best set apart,
    such as a class in a sentence. The fence is one backtick longer than any run of backticks in the text."""
    text = one_line(text) if limit is None else short(text, limit)
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    padded = f" {text} " if text.startswith("`") or text.endswith("`") else text
    return f"{fence}{padded}{fence}"


__all__ = ["CHART_LIMIT", "NAME_LIMIT", "chart", "code", "hover", "is_cut", "md", "one_line", "short"]
