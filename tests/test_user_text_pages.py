"""Every page shows the names a user typed or uploaded as plain text (issue 15, item 2).

A dataset named and labelled with Markdown link / image syntax and HTML is trained for real (tiny-bert, one epoch,
through `python -m core train`, as tests/finished_runs.py does) and every page is opened on it (Home, which shows
no names, with the sidebar's data folder). Everything Streamlit
renders as Markdown (bodies, captions, headings, alerts, metric labels and values, widget labels, radio options,
tooltips, image captions, tab and expander labels) is collected from the page's element tree and parsed as
CommonMark (tests/rendered_markdown.py): where it shows the user's text, nothing in it may be a link, an image or
HTML. Chart text must be HTML-escaped (plotly renders <a href> in it). A 300-character class name is shown cut,
whole only in tooltips.
"""

from __future__ import annotations

import csv
import json
import random
from collections.abc import Iterator

import pytest
from google.protobuf.json_format import MessageToDict
from streamlit.testing.v1 import AppTest

from pages.shared.user_text import short
from storage.datasets import list_datasets
from storage.results import save_threshold
from storage.run_requests import enqueue
from storage.runs import get_run
from tests.conftest import ROOT
from tests.finished_runs import HAM, SPAM, TrainedHome, messages, train_with_cli, use_run
from tests.rendered_markdown import live_markup, rendered_text

LINK = "[Login again](https://evil.example) ![p](http://127.0.0.1:9/x.png)"
HTML = '<a href="https://evil.example">x</a>'
LONG = HTML + " and a class name that goes on" * 9  # 306 characters
DATASET_NAME = f"{HTML} {LINK}"
MARKERS = ("Login again", "evil.example", "goes on")  # readable parts of the user's text, escaped or not
LONG_MIDDLE = LONG[150:200]  # beyond any cut: shown only where the whole name is (tooltips)

# Fields of element protos that Streamlit renders as Markdown. Element types that show text as typed are left
# out (code, json, text, html, dataframes, text inputs); so are selectbox / multiselect options (plain text).
MARKDOWN_FIELDS = {"body", "label", "help", "caption", "text", "options", "captions", "delta"}
PLAIN_ELEMENTS = {"code", "json", "text", "html", "arrow_data_frame", "dataframe", "plotly_chart", "text_input",
                  "text_area", "exception", "file_uploader", "download_button"}
PLAIN_OPTIONS = {"selectbox", "multiselect"}


pytestmark = pytest.mark.slow  # one real training run, shared by the module: about 16 s


@pytest.fixture(scope="module")
def evil_run(tmp_path_factory) -> TrainedHome:
    """A finished run on 100 messages labelled LINK (60) and LONG (40), in a dataset named DATASET_NAME."""
    rng = random.Random(11)
    rows = [(text, LINK) for text in messages(60, HAM, rng)] + [(text, LONG) for text in messages(40, SPAM, rng)]
    rng.shuffle(rows)
    scratch = tmp_path_factory.mktemp("evil")
    data = scratch / "evil.csv"
    with data.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows([("message", "category"), *rows])
    home = scratch / "evil_home"
    result = train_with_cli(data, home, "--model", "tiny-bert", "--method", "full", "--epochs", "1",
                            "--name", DATASET_NAME)
    return TrainedHome(home, result["run_id"], result, data)


def walk(node) -> Iterator:
    yield node
    for child in getattr(node, "children", {}).values():
        yield from walk(child)


def strings(value, field: str = "") -> Iterator[tuple[str, str]]:
    """(field name, string) for every string inside a proto turned into a dict."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from strings(item, key)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item, field)
    elif isinstance(value, str):
        yield field, value


def shown_markdown(at: AppTest) -> list[tuple[str, str, str]]:
    """(element type, field, Markdown source) for every Markdown string on the page that shows the user's text."""
    found = []
    for node in walk(at._tree):
        kind, proto = getattr(node, "type", ""), getattr(node, "proto", None)
        if proto is None or kind in PLAIN_ELEMENTS or not hasattr(proto, "DESCRIPTOR"):
            continue
        for field, text in strings(MessageToDict(proto, preserving_proto_field_name=True)):
            if field in MARKDOWN_FIELDS and not (field == "options" and kind in PLAIN_OPTIONS):
                if any(marker in text for marker in MARKERS):
                    found.append((kind, field, text))
    return found


def chart_strings(at: AppTest) -> list[str]:
    """Every string in the page's plotly figures, as the browser receives them."""
    return [text for chart in at.get("plotly_chart") for _, text in strings(json.loads(chart.proto.spec))]


def tick_texts(at: AppTest) -> list[str]:
    """The tick labels on the axes of the page's plotly figures."""
    layouts = [json.loads(chart.proto.spec)["layout"] for chart in at.get("plotly_chart")]
    return [text for layout in layouts for axis in ("xaxis", "yaxis")
            for text in layout.get(axis, {}).get("ticktext", [])]


def assert_shown_as_plain_text(at: AppTest, minimum: int) -> list[tuple[str, str, str]]:
    """The page's Markdown that shows the user's text (at least `minimum` strings): nothing live, long names cut."""
    assert not at.exception
    shown = shown_markdown(at)
    assert {text: live_markup(text) for _, _, text in shown if live_markup(text)} == {}
    assert [text for text in chart_strings(at) if "<a " in text] == []
    assert [text for _, field, text in shown if field != "help" and LONG_MIDDLE in rendered_text(text)] == []
    assert len(shown) >= minimum, shown  # the names are on the page, and checked
    return shown


def open_page(page: str, run_id: int | None = None, **state) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    if run_id is not None:
        at.query_params["run"] = str(run_id)
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    return at.switch_page(f"pages/{page}.py").run()


def test_data_page_shows_names_as_plain_text(evil_run, tuneboard_home):
    use_run(evil_run, tuneboard_home)
    at = open_page("data")
    assert at.selectbox(key="delete_choice").options == [f"#1 {short(DATASET_NAME)}"]  # plain text, cut
    at.file_uploader(key="data_upload").upload("evil.csv", evil_run.data.read_bytes(), "text/csv").run()
    assert_shown_as_plain_text(at, minimum=0)
    assert any(text.startswith("&lt;a href=") for text in tick_texts(at))  # the class-balance chart
    at.button(key="save_dataset").click().run()  # the same data: "already stored as <its name>"
    assert_shown_as_plain_text(at, minimum=1)


def test_train_page_shows_names_as_plain_text(evil_run, tuneboard_home):
    use_run(evil_run, tuneboard_home)
    at = open_page("train", train_model_text="other", train_model_other=LINK)
    assert at.selectbox(key="train_dataset").options[0].startswith(short(DATASET_NAME) + " · text")
    # The typed model id is refused without being quoted (core.catalog.NO_SUCH_FOLDER); nothing on the page is live.
    assert_shown_as_plain_text(at, minimum=0)


def test_runs_page_shows_names_as_plain_text(evil_run, tuneboard_home):
    run_id = use_run(evil_run, tuneboard_home)
    queued = enqueue(list_datasets()[0].id, {**get_run(run_id).config, "model": LONG}, name=HTML)
    at = open_page("runs", queued)
    assert at.selectbox(key="runs_selected").options[0] == f"#{queued} · {short(HTML)}"
    shown = assert_shown_as_plain_text(at, minimum=2)
    assert any(kind == "subheader" and field == "help" for kind, field, _ in shown)  # the whole names on hover
    at.selectbox(key="runs_selected").set_value(run_id).run()
    assert_shown_as_plain_text(at, minimum=1)


def test_results_page_shows_names_as_plain_text(evil_run, tuneboard_home):
    run_id = use_run(evil_run, tuneboard_home)
    at = open_page("results", run_id)
    shown = assert_shown_as_plain_text(at, minimum=8)
    assert any(field == "help" and LONG_MIDDLE in rendered_text(text) for _, field, text in shown)  # whole on hover
    ticks = tick_texts(at)
    assert any(text.startswith("&lt;a href=") for text in ticks)  # the confusion matrix's classes, escaped ...
    assert not [text for text in ticks if LONG_MIDDLE in text]  # ... and cut (whole in the hover box)
    at.button(key=f"results_save_threshold_{run_id}").click().run()
    assert_shown_as_plain_text(at, minimum=9)  # the "Saved" message


def test_predict_page_shows_names_as_plain_text(evil_run, tuneboard_home):
    run_id = use_run(evil_run, tuneboard_home)
    save_threshold(run_id, 0.5)  # the page then names the positive class
    at = open_page("predict", run_id)
    at.text_area(key="predict_text").input("WINNER!! Claim your FREE prize now")
    at.button(key="predict_submit").click().run()
    at.button(key="predict_explain").click().run()
    shown = assert_shown_as_plain_text(at, minimum=3)
    assert any(kind == "metric" for kind, _, _ in shown)  # the predicted class
    assert any(text.startswith("&lt;a href=") for text in tick_texts(at))  # the probability bars
    at.file_uploader(key="predict_batch_file").upload("texts.csv", b"text\nhello there\nFREE prize\n", "text/csv").run()
    at.button(key="predict_batch_go").click().run()
    assert_shown_as_plain_text(at, minimum=4)  # the counts per predicted class
