"""User text (class and dataset names) made safe inside an export's model card, a Markdown file that GitHub and the
Hugging Face Hub render.

pages/shared/user_text.py does this for the pages, but core never imports pages; this is the same rule for a
card: a class named `[Login](https://evil.example)` or `<img src=x onerror=...>` must show as typed, never become a
link, an image or HTML, and a `|` must not split a table cell. Names are shown on one line (a newline would start
a new Markdown block).
"""

from __future__ import annotations

import re

NAME_LIMIT = 80  # characters of a name in a card; longer ones are cut with an ellipsis

# Characters that start inline Markdown or HTML (links, images, tags, entities, emphasis, code, math), the backslash
# itself, and `|`, which ends a table cell. A backslash before any ASCII punctuation shows it as typed (CommonMark).
_INLINE = frozenset("\\`*_~[]<>&$|!")
# Headings, lists and quotes start only a line: a name's first characters need it.
_BLOCK_START = re.compile(r"^(?:[#+=-]|\d+(?=[.)]))")
# GitHub-flavoured Markdown links bare addresses found after escapes are resolved, so a backslash does not stop
# them; an invisible word joiner breaks "https:", "www." and "name@host" without changing what the reader sees.
_WORD_JOINER = "\u2060"
_FOUND_IN_TEXT = re.compile(r"(?:https?:|www(?=\.)|@)", re.IGNORECASE)


def one_line(text: object) -> str:
    return " ".join(str(text).split())


def md(text: object, limit: int | None = NAME_LIMIT) -> str:
    """`text` as it was typed, on one line, for any place in a card (prose, lists, table cells)."""
    text = one_line(text)
    if limit is not None and len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    text = _FOUND_IN_TEXT.sub(lambda m: m.group(0) + _WORD_JOINER, text)
    text = "".join("\\" + c if c in _INLINE else c for c in text)
    # "1." and "1)" start a list: the escape goes after the number, before the punctuation.
    return _BLOCK_START.sub(lambda m: m.group(0) + "\\" if m.group(0).isdigit() else "\\" + m.group(0), text)
