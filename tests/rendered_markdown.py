"""What a browser would make live of a Markdown string Streamlit shows: links, images, HTML, autolinks, shortcodes.

CommonMark parsing is markdown-it-py's (the reference algorithm Streamlit's react-markdown also follows). On top of
it, GitHub-flavoured Markdown and Streamlit find links and emoji / icon shortcodes in the plain text after escapes
are resolved; those are looked for with the patterns Streamlit's own Markdown bundle uses
(streamlit/static/static/js/StreamlitMarkdown.*.js: `(https?:\\/\\/|www(?=\\.))` for web addresses and
`([-.\\w+]+)@([-\\w]+(?:\\.[-\\w]+)+)` for e-mail addresses).
"""

from __future__ import annotations

import re

from markdown_it import MarkdownIt

# "commonmark" keeps raw HTML as HTML tokens, so HTML that got through escaping shows up below.
_PARSER = MarkdownIt("commonmark")
_LIVE_TOKENS = {"link_open": "link", "image": "image", "html_inline": "HTML", "html_block": "HTML"}
_FOUND_IN_TEXT = [
    (re.compile(r"(https?://|www(?=\.))", re.IGNORECASE), "web address"),
    (re.compile(r"[-.\w+]+@[-\w]+(?:\.[-\w]+)+"), "e-mail address"),
    (re.compile(r":[\w+-]+:|:material/[\w-]+:"), "shortcode"),
]


def live_markup(source: str) -> list[str]:
    """What in `source` would render as something other than its text: [] when it shows as plain text."""
    found = []
    for block in _PARSER.parse(source):
        if block.type in _LIVE_TOKENS:
            found.append(f"{_LIVE_TOKENS[block.type]}: {block.content.strip()}")
        for token in block.children or []:
            if token.type in _LIVE_TOKENS:
                target = token.attrGet("href") or token.attrGet("src") or token.content
                found.append(f"{_LIVE_TOKENS[token.type]}: {target}")
            elif token.type == "text":
                found += [f"{what}: {m.group(0)}" for pattern, what in _FOUND_IN_TEXT
                          for m in pattern.finditer(token.content)]
    return found


def rendered_text(source: str) -> str:
    """The plain text a reader sees (inline content of the first paragraph), word joiners left out."""
    tokens = [t for block in _PARSER.parse(source) for t in block.children or []]
    return "".join(t.content for t in tokens if t.type in ("text", "code_inline", "softbreak")).replace("\u2060", "")
