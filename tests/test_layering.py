"""The import rules from docs/ARCHITECTURE.md: pages stay thin, core never imports streamlit (and only core/report
draws charts with plotly), storage never imports torch."""

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


# (folder, what none of its files may import, a subfolder allowed to break the rule for one of them)
RULES = [
    ("pages", {"torch", "transformers", "peft", "sqlalchemy"}, None),
    # Charts are drawn by core/report (the pages and the downloaded report share its figures); nowhere else in core.
    ("core", {"streamlit", "plotly", "pages"}, ("report", "plotly")),
    ("storage", {"torch", "transformers", "peft", "streamlit", "core", "pages"}, None),
]


@pytest.mark.parametrize("folder,forbidden,exception", RULES, ids=[r[0] for r in RULES])
def test_imports_go_one_way(folder, forbidden, exception):
    files = sorted((ROOT / folder).rglob("*.py"))
    assert files, f"no python files under {folder}/"

    def forbidden_in(path) -> set[str]:
        inside = exception and path.is_relative_to(ROOT / folder / exception[0])
        return forbidden - {exception[1]} if inside else forbidden

    offenders = {str(f.relative_to(ROOT)): sorted(imported_roots(f) & forbidden_in(f)) for f in files}
    assert {k: v for k, v in offenders.items() if v} == {}


# Inside core, packages build on each other one way (a package may import only those listed, plus the
# top-level modules catalog, run_config and artifacts). cli, the command line, sits on top and may use all.
CORE_LAYERS = {
    "ingest": set(),
    "access": set(),
    "datasets": {"ingest"},
    "models": set(),
    "methods": {"models"},
    "evaluation": {"datasets", "models"},
    "training": {"methods", "models", "evaluation", "datasets"},
    "serving": {"training", "models", "evaluation", "ingest"},
    "jobs": {"training", "methods", "datasets", "export", "search"},
    "search": {"training", "methods", "evaluation", "datasets"},
    "export": {"serving", "training", "models", "methods", "evaluation", "datasets"},
    "api": {"serving", "export", "evaluation", "ingest", "datasets"},
    "report": {"evaluation", "datasets"},
}
TOP_LEVEL = {"catalog", "run_config", "artifacts"}


def core_packages_imported(path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        modules = [a.name for a in node.names] if isinstance(node, ast.Import) else \
            [node.module] if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 else []
        names |= {m.split(".")[1] for m in modules if m.startswith("core.")}
    return names


@pytest.mark.parametrize("package", sorted(CORE_LAYERS))
def test_core_packages_import_one_way(package):
    allowed = CORE_LAYERS[package] | TOP_LEVEL | {package}
    files = sorted((ROOT / "core" / package).rglob("*.py"))
    assert files, f"no python files under core/{package}/"
    offenders = {str(f.relative_to(ROOT)): sorted(core_packages_imported(f) - allowed) for f in files}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_core_top_level_stays_small():
    """Everything else lives in a package named for its concern."""
    modules = {p.stem for p in (ROOT / "core").glob("*.py")} - {"__init__", "__main__"}
    assert len(modules) <= 6, sorted(modules)


def test_no_module_grows_past_350_lines():
    files = [f for folder in ("core", "pages", "storage") for f in (ROOT / folder).rglob("*.py")
             if "migrations" not in f.parts]
    assert {str(f.relative_to(ROOT)): n for f in files if (n := len(f.read_text().splitlines())) > 350} == {}
