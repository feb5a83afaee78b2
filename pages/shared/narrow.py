"""Narrow screens (a phone, a 400 px window): a part that turns unreadable there, such as a confusion matrix of many
classes, is drawn twice, in a container keyed WIDE_ONLY and in one keyed NARROW_ONLY (a list, say), and this style
rule shows one of them by the window's width. Streamlit gives a keyed container the class st-key-<key>."""

from __future__ import annotations

import streamlit as st

NARROW_PX = 640  # below this many CSS pixels of window width, the narrow version shows
WIDE_ONLY, NARROW_ONLY = "wide_only", "narrow_only"
# Containers whose key starts with these (several on one page: "wide_only_matrix", ...) follow the same rule.
STYLE = (f"<style>[class*='st-key-{NARROW_ONLY}'] {{ display: none; }}"
         f"@media (max-width: {NARROW_PX}px) {{ [class*='st-key-{WIDE_ONLY}'] {{ display: none; }}"
         f" [class*='st-key-{NARROW_ONLY}'] {{ display: block; }} }}</style>")


def narrow_style() -> None:
    st.html(STYLE)
