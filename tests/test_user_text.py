"""Text a user typed or uploaded is shown as typed: never as a link, an image, HTML or other Markdown."""

from __future__ import annotations

import pytest

from pages.shared.user_text import CHART_LIMIT, NAME_LIMIT, chart, code, hover, md, short
from tests.rendered_markdown import live_markup, rendered_text

LINK = "[Login again](https://evil.example) ![p](http://127.0.0.1:9/x.png)"
HTML = '<a href="https://evil.example">x</a>'
NASTY = [
    LINK, HTML, "<https://evil.example>", "www.evil.example", "write to admin@evil.example", "[x][ref]\n\n[ref]: /y",
    "<img src=x onerror=alert(1)>", "&lt;a href=x&gt;", "**bold** _it_ ~~gone~~ `code`", "$\\href{https://e.x}{x}$",
    ":red[alarm] :material/home: :smile:", "# heading", "- item", "1. item", "2) item", "> quote", "a \\[b\\](c) \\",
    "| a | b |\n|---|---|", "line one\n\n    indented", "ham", "spam_filter", "Ünïcode ✓ 中文",
]


@pytest.mark.parametrize("typed", NASTY)
def test_md_shows_the_text_as_typed_and_nothing_live(typed):
    shown = md(typed, limit=None)
    assert live_markup(shown) == []
    assert rendered_text(shown) == " ".join(typed.split())  # every character, on one line


def test_the_same_text_unescaped_is_live():
    """The check above can fail: the raw strings do render as links, images and HTML."""
    assert [found.split(":")[0] for found in live_markup(LINK)] == ["link", "image"]
    assert live_markup(HTML)[0].startswith("HTML")
    assert live_markup("www.evil.example") == ["web address: www"]


def test_long_text_is_cut_where_shown_and_whole_in_the_tooltip():
    label = "a very long class name " * 14  # over 300 characters
    assert len(short(label)) == NAME_LIMIT and short(label).endswith("…")
    assert rendered_text(md(label)) == short(label)
    assert rendered_text(hover(label)) == " ".join(label.split())
    assert hover("ham") is None  # nothing cut, nothing to add
    assert len(chart(label)) == CHART_LIMIT


def test_code_keeps_every_character_inside_a_code_span():
    for typed in (LINK, HTML, "`tick` and ``two``", "ham"):
        assert live_markup(code(typed)) == []
        assert rendered_text(code(typed)) == short(typed)
    assert code("ham") == "`ham`"


def test_chart_text_escapes_the_tags_plotly_would_render():
    assert chart(HTML, limit=None) == '&lt;a href="https://evil.example"&gt;x&lt;/a&gt;'
    assert chart("<b>x</b><br>y") == "&lt;b&gt;x&lt;/b&gt;&lt;br&gt;y"
    assert chart("Q&A") == "Q&amp;A"
