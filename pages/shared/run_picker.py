"""The run picker of the Runs, Results and Predict pages: it opens on the run a link names (?run=ID) and keeps the
choice in the URL, so a reload, a shared link or a page link ("Open the results") lands on the same run."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

import streamlit as st

from pages.shared.user_text import short


class HasId(Protocol):
    id: int


R = TypeVar("R", bound=HasId)


def pick_run_ui(runs: Sequence[R], key: str, help: str, title: Callable[[R], str]) -> R:
    """The run from ?run=ID when it is one of `runs`, else the first (callers list the newest first).

    `title` names a run in the list; names hold what users typed, shortened here (a selectbox shows options as
    plain text, so nothing needs escaping).
    """
    ids = [r.id for r in runs]
    by_id = {r.id: r for r in runs}
    asked = st.query_params.get("run")
    default = ids.index(int(asked)) if asked and asked.isdigit() and int(asked) in by_id else 0
    chosen = st.selectbox("Run", ids, index=default, format_func=lambda i: short(title(by_id[i])), key=key,
                          help=help)
    st.query_params["run"] = str(chosen)
    return by_id[chosen]
