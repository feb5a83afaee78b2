"""The import rules from docs/ARCHITECTURE.md: pages stay thin, core never imports streamlit, storage never imports torch."""

from __future__ import annotations

import ast

import pytest

from tests.conftest import ROOT


def imported_roots(path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


RULES = [
    ("pages", {"torch", "transformers", "peft", "sqlalchemy"}),
    ("core", {"streamlit", "plotly", "pages"}),  # charts are drawn in pages/shared/charts.py
    ("storage", {"torch", "transformers", "peft", "streamlit", "core", "pages"}),
]


@pytest.mark.parametrize("folder,forbidden", RULES, ids=[r[0] for r in RULES])
def test_imports_go_one_way(folder, forbidden):
    files = sorted((ROOT / folder).rglob("*.py"))
    assert files, f"no python files under {folder}/"
    offenders = {str(f.relative_to(ROOT)): sorted(imported_roots(f) & forbidden) for f in files}
    assert {k: v for k, v in offenders.items() if v} == {}
