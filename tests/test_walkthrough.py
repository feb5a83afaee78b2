"""A new user's walk through every page (AppTest on the real app script): with no data, after bad uploads,
and with finished runs (real tiny models trained through `python -m core train`, see tests/finished_runs.py).

On every page and in every state the user must see: the page's one-sentence intro, no exception, no error
that reads like a traceback (technical detail only inside a collapsed section), and in an empty state a
link (or a button) to the next step, so no page is a dead end.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from streamlit.testing.v1 import AppTest

from core.run_config import RunConfig
from core.jobs.runner import execute_run
from storage import run_queue
from storage.datasets import list_datasets
from storage.processes import process_identity
from storage.run_requests import enqueue
from tests.conftest import ROOT
from tests.finished_runs import TrainedHome, image_run, text_run, use_run

# page -> (title, how its intro sentence starts)
INTROS = {
    "pages/home.py": ("Tuneboard", "Teach a pretrained model your own categories"),
    "pages/data.py": ("Data", "Upload labeled examples"),
    "pages/train.py": ("Train", "Pick a dataset, a base model and a tuning method"),
    "pages/runs.py": ("Runs", "Every training run with its progress and time left"),
    "pages/results.py": ("Results", "How good a finished model is"),
    "pages/predict.py": ("Predict", "Try a finished model on a text or an image of your own"),
    "pages/api_keys.py": ("API keys", "Let your own systems call your finished models over HTTP"),
    "pages/monitor.py": ("Monitor", "See how your models do once other systems call them through the API"),
}
PAGES = list(INTROS)
# With an empty data folder: page -> (how its empty-state message starts, the page its link opens)
EMPTY_NEXT_STEP = {
    "pages/home.py": ("No datasets yet", "data"),
    "pages/train.py": ("No datasets yet", "data"),
    "pages/runs.py": ("No runs yet", "train"),
    "pages/results.py": ("No finished run yet", "train"),
    "pages/predict.py": ("No finished run yet", "train"),
    "pages/api_keys.py": ("No finished run yet", "train"),
    "pages/monitor.py": ("No API calls yet", "api_keys"),
}
# What a traceback or a raw exception looks like when it leaks into a message.
TRACEBACK = re.compile(r"Traceback \(most recent call last\)|File \"[^\"]*\", line \d+|^\s*\w+(Error|Exception): ",
                       re.MULTILINE)
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")
TEXT_ELEMENTS = ("error", "warning", "info", "success", "markdown", "caption", "code", "text", "exception")


def open_app() -> AppTest:
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=180).run()


def visible(node, collapsed: bool = False) -> Iterator[tuple[object, bool]]:
    """Every element under `node` with whether it sits inside a collapsed expander (hidden until clicked)."""
    if node.type == "expander":
        collapsed = collapsed or not node.proto.expanded
    yield node, collapsed
    for child in getattr(node, "children", {}).values():
        yield from visible(child, collapsed)


def text_of(element) -> str:
    if element.type == "exception":
        return "\n".join([element.message, *element.stack_trace])
    return str(element.value)


def check_page(at: AppTest, page: str) -> None:
    """What every page must show in every state."""
    assert not at.exception, f"{page}: {[e.message for e in at.exception]}"
    title, intro = INTROS[page]
    assert at.title[0].value == title
    sentence = at.main.markdown[0].value
    assert sentence.startswith(intro), f"{page} opens with {sentence!r}"
    assert len(SENTENCE_END.split(sentence)) == 1 and sentence.endswith("."), f"{page}: not one sentence: {sentence!r}"
    for root in (at.main, at.sidebar):
        for element, collapsed in visible(root):
            if element.type in TEXT_ELEMENTS and not collapsed:
                assert not TRACEBACK.search(text_of(element)), f"{page} shows a traceback: {text_of(element)[:300]!r}"
    for error in at.error:  # one plain line each; long detail belongs in the collapsed section
        assert "\n" not in error.value and len(error.value) < 300, f"{page}: {error.value!r}"


def walk(at: AppTest) -> Iterator[str]:
    """Open every page in the order a user walks them, checking each; yields the page so a test can look closer."""
    for page in PAGES:
        at.switch_page(page).run()
        check_page(at, page)
        yield page


def links(at: AppTest) -> list[str]:
    """The pages the page links to (url path names: "data", "train", ...)."""
    return [link.proto.page for link in at.main.get("page_link")]


# a) A new user with an empty data folder ------------------------------------------------------------------


@pytest.mark.slow  # about a second: every page
def test_every_page_with_no_data_says_what_it_is_for_and_where_to_go_next():
    at = open_app()
    for page in walk(at):
        if page == "pages/data.py":  # the next step is on this page: upload, or load the example
            assert any(c.value.startswith("No datasets yet") for c in at.caption)
            assert at.button(key="data_load_example").label == "Load example"
            continue
        message, target = EMPTY_NEXT_STEP[page]
        assert any(i.value.startswith(message) for i in at.info), f"{page}: {[i.value for i in at.info]}"
        assert target in links(at), f"{page} links to {links(at)}"


# b) Bad uploads on Data --------------------------------------------------------------------------------------

BAD_UPLOADS = {
    "one label": ("tickets.csv", b"text,label\nmy parcel is late,delivery\nwhere is my order,delivery\n",
                  "All kept examples have the same label"),
    "empty file": ("empty.csv", b"", "The file is empty"),
    "not excel": ("report.xlsx", b"this is not a spreadsheet", "This Excel file could not be read"),
    "damaged zip": ("photos.zip", b"PK\x03\x04 damaged", "This zip file is damaged"),
    "binary": ("export.csv", bytes(range(256)) * 20, "This file does not look like a text table"),
}
LIBRARY_FAILURES = {"not excel", "damaged zip", "binary"}  # the reader raised: its message is the detail


@pytest.mark.parametrize("case", list(BAD_UPLOADS))
@pytest.mark.slow  # about a second each: every page
def test_a_bad_upload_gets_one_plain_sentence_and_every_page_still_leads_on(case):
    name, data, message = BAD_UPLOADS[case]
    at = open_app()
    at.switch_page("pages/data.py").run()
    at.file_uploader(key="data_upload").upload(name, data, "application/octet-stream").run()
    check_page(at, "pages/data.py")
    [error] = at.error
    assert error.value.startswith(message)
    # Where a library failed, its own words are there for whoever needs them, folded away; a rule of ours needs none.
    details = [e for e in at.main.expander if e.label == "Technical details"]
    assert len(details) == (case in LIBRARY_FAILURES)
    for expander in details:
        assert not expander.proto.expanded and expander.code[0].value
    assert list_datasets() == []
    # Nothing was stored, so every other page still shows its empty state with the way on.
    for page in walk(at):
        if page in EMPTY_NEXT_STEP:
            assert EMPTY_NEXT_STEP[page][1] in links(at), f"{page} after a bad upload links to {links(at)}"


# c) Finished runs --------------------------------------------------------------------------------------------


def add_failed_run(tmp_path) -> int:
    """A run that really fails in the real training code: its base model folder does not exist."""
    [dataset] = list_datasets()
    config = RunConfig(model=str(tmp_path / "deleted-model"), method="lora")
    run_id = enqueue(dataset.id, config.to_dict(), name="lora · deleted model")
    worker_id = process_identity()
    assert run_queue.claim_next(worker_id) == (run_id, False)
    assert execute_run(run_id, worker_id).status == "failed"
    return run_id


@pytest.mark.parametrize("trained", [text_run, image_run], ids=["text", "image"])
@pytest.mark.slow  # finished runs (tests/finished_runs.py: CLI processes)
def test_every_page_with_finished_runs_shows_results_and_plain_errors(trained, tuneboard_home, tmp_path):
    home: TrainedHome = trained()
    run_id = use_run(home, tuneboard_home)
    failed_id = add_failed_run(tmp_path)
    at = open_app()
    for page in walk(at):
        if page == "pages/home.py":
            assert [m.value for m in at.metric] == ["1", "2"]
            assert {"runs", "results"} <= set(links(at))
        elif page == "pages/data.py":
            stored = next(d.value for d in at.dataframe if "kind" in d.value.columns)  # not the Versions table
            assert stored["id"].tolist() == [list_datasets()[0].id]
        elif page == "pages/train.py":
            assert at.selectbox(key="train_dataset").value == list_datasets()[0].id
            assert not at.button(key="train_launch").disabled
        elif page == "pages/runs.py":
            assert at.selectbox(key="runs_selected").value == failed_id  # the newest first
            [error] = at.error
            assert error.value.startswith("The model folder")  # the plain sentence; the traceback is in the log
            log = next(e for e in at.main.expander if e.label == "Log")
            assert not log.proto.expanded and "Traceback" in log.code[0].value
            assert at.button(key=f"runs_retry_{failed_id}").label == "Retry"  # the way on
            at.selectbox(key="runs_selected").set_value(run_id).run()
            check_page(at, page)
            assert "results" in links(at)  # "Open the results"
        elif page == "pages/results.py":
            assert at.selectbox(key="results_run").value == run_id
            assert {"Accuracy", "Macro-F1"} <= {m.label for m in at.metric}
        elif page == "pages/predict.py":
            assert at.selectbox(key="predict_run").value == run_id
            if trained is text_run:
                at.text_area(key="predict_text").input("WINNER!! Claim your FREE prize now")
                at.button(key="predict_submit").click().run()
                check_page(at, page)
                assert {m.label for m in at.metric} >= {"Prediction", "Probability"}
                # A file that cannot be scored: the Data page's reader refuses it in one plain sentence.
                at.file_uploader(key="predict_batch_file").set_value(("inbox.csv", b"", "text/csv")).run()
                check_page(at, page)
                [error] = at.error
                assert error.value == "The file is empty (0 bytes). Upload a table with a column of texts."
            else:
                assert at.file_uploader(key="predict_image") is not None
        elif page == "pages/api_keys.py":
            assert at.selectbox(key="api_keys_run").value == run_id
            calls = [c.value for c in at.code if f"/v1/models/{run_id}/predict" in c.value]
            assert len(calls) == 2 and ("-F files=@photo.jpg" in calls[0]) == (trained is image_run)


# d) Something unexpected ---------------------------------------------------------------------------------------


def test_an_unexpected_failure_reads_as_one_sentence_with_the_traceback_folded_away(tuneboard_home):
    # A damaged database file (say, overwritten by another program): every page needs it.
    tuneboard_home.mkdir(parents=True, exist_ok=True)
    (tuneboard_home / "tuneboard.db").write_bytes(b"this is not a database, " * 200)
    at = open_app()
    [error] = at.error
    assert error.value.startswith("Something went wrong on this page: reload it to try again")
    details = next(e for e in at.main.expander if e.label == "Technical details")
    assert not details.proto.expanded
    [folded] = details.exception  # the traceback is kept for whoever maintains Tuneboard, one click away
    assert "DatabaseError" in folded.message or "database" in folded.message.lower()
    for root in (at.main, at.sidebar):
        for element, collapsed in visible(root):
            if element.type in TEXT_ELEMENTS and not collapsed:
                assert not TRACEBACK.search(text_of(element)), text_of(element)[:300]
