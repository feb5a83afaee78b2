"""In CI (CI=true) a skipped test is a failure; on a developer's machine it may skip and say why.

A test skips when something it needs is missing (Chromium, playwright, the real data sets beside the repo, the
bundled MiniLM package). Locally that is fine to be told about; in CI it would pass a build that never ran the
test, so every skip there (pytest.skip, skipif, importorskip, at collection or in a test) fails with its reason.
Expected failures (xfail) are not skips and stay as they are. tests/conftest.py registers these hooks.
"""

from __future__ import annotations

import os

import pytest

CI_VALUES = {"1", "true", "yes"}


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in CI_VALUES


def _reason(longrepr: object) -> str:
    # A skip's longrepr is (path, line number, "Skipped: reason").
    return longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)


def _fail_skip(report: pytest.TestReport | pytest.CollectReport) -> None:
    if in_ci() and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"CI=true, where every test must run, and this one skipped: {_reason(report.longrepr)}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> pytest.TestReport:
    report = yield
    _fail_skip(report)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> pytest.CollectReport:
    report = yield
    _fail_skip(report)
    return report
