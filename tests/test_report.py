"""The report to hand over (core.report): one HTML file per run or comparison of runs, built from real finished runs
(tiny models trained through `python -m core train`, tests/finished_runs.py), checked for its numbers, its escaping,
that it asks no other host for anything, the command line, and that Chromium draws every chart with the network
blocked."""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

from core.evaluation.results import run_verdict
from core.evaluation.verdict_text import Line, Name
from core.report.html import line, table
from storage.results import run_predictions, run_result
from tests.conftest import ROOT
from tests.finished_runs import HAM, image_run, messages, text_run, train_with_cli, trained_once, use_run

SCRIPT_CLASS = "<script>alert(1)</script>"
SHOTS = ROOT / "test-artifacts" / "browser"


def outside_scripts(html: str) -> str:
    """The page less its <script> bodies (plotly.js mentions web addresses in its own code, never loaded)."""
    return re.sub(r"<script\b[^>]*>.*?</script>", "<script></script>", html, flags=re.S | re.I)


def requests_elsewhere(html: str) -> list[str]:
    """Every src / href / url(...) that would make the browser ask another host (http(s) or protocol-relative)."""
    page = outside_scripts(html)
    return re.findall(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//[^"'\s>]*""", page, flags=re.I) + \
        re.findall(r"""url\(\s*["']?\s*(?:https?:)?//[^)]*\)""", page, flags=re.I)


def test_a_verdict_line_and_a_table_escape_what_the_user_typed():
    html = line(Line(("Better than always answering ", Name(SCRIPT_CLASS), "?"), ("Yes (p < 0.05).",)))
    assert html == ("<p><strong>Better than always answering <code>&lt;script&gt;alert(1)&lt;/script&gt;</code>?"
                    "</strong> Yes (p &lt; 0.05).</p>")
    import pandas as pd

    cells = table(pd.DataFrame({"class": [SCRIPT_CLASS], "f1": [0.5]}), {"f1": "{:.3f}".format})
    assert SCRIPT_CLASS not in cells and "&lt;script&gt;" in cells and '<td class="num">0.500</td>' in cells


def script_class_run():
    """tiny-bert on messages where the second class is named `<script>alert(1)</script>` and every text holds a tag,
    so whichever examples it gets wrong show one."""
    def train(folder: Path):
        rng = random.Random(11)
        tagged = [f'<img src="http://127.0.0.1:9/x.png"> <b>offer {i}</b> & more' for i in range(40)]
        rows = [(f"<i>{text}</i>", "ham") for text in messages(120, HAM, rng)] + [(text, SCRIPT_CLASS) for text in tagged]
        rng.shuffle(rows)
        data = folder / "tagged.csv"
        with data.open("w", encoding="utf-8") as f:
            f.write("message,category\n")
            f.writelines('"{}","{}"\n'.format(t.replace('"', '""'), label.replace('"', '""')) for t, label in rows)
        home = folder / "home"
        return data, home, train_with_cli(data, home, "--model", "tiny-bert", "--method", "full", "--epochs", "1")

    return trained_once("script_class_run", train)


@pytest.mark.slow  # a finished run (tests/finished_runs.py: a CLI process) and about a second to build the report
def test_the_report_of_a_text_run_holds_the_verdict_and_the_stored_numbers(tuneboard_home):
    from core.report.build import build_report

    run_id = use_run(text_run(), tuneboard_home)
    run = run_result(run_id)
    html = build_report(run_id)
    result = run_verdict(run_predictions(run_id), run.labels, run.metrics)
    assert f"<strong>How good.</strong> Accuracy {result.accuracy.text()}, macro-F1 {result.macro_f1.text()}" in html
    assert "<strong>Better than always answering <code>ham</code>?</strong>" in html
    for label in run.labels:  # the per-class table is the stored metrics
        scores = run.metrics["per_class"][label]
        assert (f"<tr><td>{label}</td>" + "".join(f'<td class="num">{scores[k]:.3f}</td>'
                                                  for k in ("precision", "recall", "f1")) +
                f'<td class="num">{int(scores["support"])}</td></tr>') in html
    for fact in ("tiny-bert", "Trainable parameters", "Temperature (fitted on validation)", "Peak memory",
                 "Always the most common class", "@media print", "Save as PDF"):
        assert fact in html
    assert html.count('class="plotly-graph-div"') == 5  # confusion, reliability, coverage, loss, validation
    assert html.count("plotly.js v") == 1  # the library inlined once
    assert requests_elsewhere(html) == []


@pytest.mark.slow  # trains a tiny model through the CLI
def test_class_names_and_texts_the_user_uploaded_are_escaped_everywhere(tuneboard_home):
    from core.report.build import build_report

    run_id = use_run(script_class_run(), tuneboard_home)
    html = build_report(run_id)
    assert SCRIPT_CLASS not in html and "<b>offer" not in html and "<img src=" not in html and "<i>" not in html
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert f"<code>{escaped}</code>" in html  # in the verdict's sentences
    assert f"<td>{escaped}</td>" in html  # in the per-class table, and as the true class of a mistake
    assert "<td>&lt;i&gt;" in html or "<td>&lt;img src=" in html  # a mistaken text, shown as typed
    assert requests_elsewhere(html) == []


@pytest.mark.slow  # a finished image run (a CLI process)
def test_an_image_report_shows_its_mistakes_as_pictures_inside_the_file(tuneboard_home):
    from core.report.build import build_report

    run_id = use_run(image_run(), tuneboard_home)
    html = build_report(run_id)
    wrong = int(sum(t != p for t, p in run_predictions(run_id)[["true_label", "predicted_label"]].itertuples(index=False)))
    assert html.count('<img src="data:image/jpeg;base64,') == min(wrong, 12)
    assert "image classification" in html and requests_elsewhere(html) == []


def add_second_run(run_id: int) -> int:
    """A copy of a finished run (its row, predictions and curves) as another run of the same dataset."""
    from sqlalchemy import inspect, select

    from storage.db import session_factory
    from storage.models import MetricPoint, Prediction, Run

    def copied(row, **changes):
        values = {c.key: getattr(row, c.key) for c in inspect(type(row)).column_attrs if c.key != "id"}
        return type(row)(**{**values, **changes})

    with session_factory().begin() as s:
        copy = copied(s.get(Run, run_id), name="second try", config={**s.get(Run, run_id).config, "seed": 7})
        s.add(copy)
        s.flush()
        for kind in (Prediction, MetricPoint):
            s.add_all([copied(row, run_id=copy.id) for row in s.scalars(select(kind).where(kind.run_id == run_id))])
        return copy.id


def run_cli(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "TUNEBOARD_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    env.pop("DATABASE_URL", None)
    return subprocess.run([sys.executable, "-m", "core", "report", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.slow  # a finished run and two CLI processes
def test_the_command_line_writes_a_comparison_and_says_plainly_when_it_cannot(tuneboard_home, tmp_path):
    run_id = use_run(text_run(), tuneboard_home)
    second = add_second_run(run_id)
    out = tmp_path / "report.html"
    done = run_cli(tuneboard_home, str(run_id), "--compare", str(second), "--out", str(out))
    assert done.returncode == 0, done.stderr
    html = out.read_text(encoding="utf-8")
    assert "<h2>Comparison</h2>" in html and f"#{second} second try" in html
    assert html.count("<strong>How good.</strong>") == 3  # each run's verdict, then the first run's in full
    assert html.count('class="plotly-graph-div"') == 6  # the comparison chart and the run's five
    missing = run_cli(tuneboard_home, "999", "--out", str(tmp_path / "none.html"))
    assert missing.returncode == 2 and missing.stdout == ""
    assert missing.stderr.strip() == "There is no run 999; `python -m core runs` lists them."
    assert not (tmp_path / "none.html").exists()


@pytest.mark.browser
@pytest.mark.slow  # a finished run and a real browser
def test_chromium_draws_every_chart_with_the_network_blocked(tuneboard_home, tmp_path):
    from tests.test_browser import CHROMIUM, CHROMIUM_ARGS

    if CHROMIUM is None:
        pytest.skip("no Chromium on this machine: install Debian's chromium package (.ci/run does)")
    playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is in requirements-dev.txt")
    from core.report.build import build_report

    run_id = use_run(text_run(), tuneboard_home)
    report = tmp_path / "report.html"
    report.write_text(build_report(run_id, [add_second_run(run_id)]), encoding="utf-8")
    figures = report.read_text(encoding="utf-8").count('class="plotly-graph-div"')
    asked_elsewhere: list[str] = []

    def only_files(route):
        if route.request.url.startswith(("file://", "data:")):
            route.continue_()
        else:
            asked_elsewhere.append(route.request.url)
            route.abort()

    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 1600}, offline=True)
            context.route("**/*", only_files)
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(report.as_uri())
            drawn = ".js-plotly-plot .main-svg"
            page.wait_for_function(f"document.querySelectorAll('.js-plotly-plot').length >= {figures}",
                                   timeout=30_000)
            count = page.evaluate("[...document.querySelectorAll('.js-plotly-plot')]"
                                  ".filter(d => d.querySelector('svg.main-svg')).length")
            assert count == figures == 6
            assert page.locator(drawn).count() >= figures
            assert errors == [] and asked_elsewhere == []
            SHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SHOTS / "report.png"))  # the first screen; docs/screenshots/report.png
        finally:
            browser.close()


@pytest.mark.slow  # a finished run, and the Results page run twice in AppTest
def test_results_prepares_the_report_then_offers_it_as_a_download(tuneboard_home):
    from streamlit.testing.v1 import AppTest

    run_id = use_run(text_run(), tuneboard_home)
    second = add_second_run(run_id)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.query_params["run"] = str(run_id)
    at.run()
    at.switch_page("pages/results.py").run()
    assert not at.exception and not at.get("download_button")  # built only when asked for
    at.multiselect(key=f"results_report_compare_{run_id}").set_value([second]).run()
    at.button(key=f"results_report_prepare_{run_id}").click().run()
    assert not at.exception
    buttons = at.get("download_button")
    assert len(buttons) == 1 and f"tuneboard-report-run-{run_id}-{second}.html" in buttons[0].proto.label
    html = at.session_state[f"results_report_{run_id}"][2].decode("utf-8")
    assert "<h2>Comparison</h2>" in html and "<strong>How good.</strong>" in html
