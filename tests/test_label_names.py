"""Class names people read: suggested from raw labels, edited on the Data page, shown on Results (confusion matrix,
per-class table), in the report, in a batch download and in API answers, while the raw label stays the key."""

from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from core.api.model_cache import ModelCache
from core.api.prediction import Inputs, predict
from core.datasets.label_names import LabelNameError, check_names, suggested_name, suggested_names
from core.report.build import build_report
from storage.datasets import get_dataset
from storage.results import run_result, save_display_names
from tests.conftest import ROOT
from tests.finished_runs import text_run, use_run
from tests.test_bad_inputs import upload_and_save
from tests.test_predict_page import open_predict, table
from tests.test_results_page import open_results

NAMES = {"ham": "Fine message", "spam": "Junk mail"}


@pytest.mark.parametrize("label, name", [
    ("topping_up_by_card", "Topping up by card"), ("cardPayment", "Card payment"), ("ATM_support", "ATM support"),
    ("YouTube_video", "YouTube video"), ("ham", "ham"), ("iPhone", "iPhone"), ("e-mail", "e-mail"), ("3.5", "3.5"),
    ("-1", "-1"), ("Lost card", "Lost card"),
])
def test_a_label_that_looks_like_an_identifier_gets_a_readable_suggestion(label, name):
    assert suggested_name(label) == name


def test_suggestions_that_would_read_alike_are_not_made():
    assert suggested_names(["card_payment", "Card payment", "lost_card", "spam"]) == {"lost_card": "Lost card"}


def test_an_edit_is_checked_and_only_names_that_differ_are_kept():
    labels = ["ham", "spam"]
    assert check_names(labels, {"ham": " ham ", "spam": "Junk  mail"}) == {"spam": "Junk mail"}
    for edit, problem in [({"ham": "", "spam": "x"}, "'ham' has no display name"),
                          ({"ham": "Mail", "spam": "mail"}, "would both be shown as 'mail'"),
                          ({"ham": "x" * 81, "spam": "y"}, "has 81 characters")]:
        with pytest.raises(LabelNameError, match=problem):
            check_names(labels, edit)


def test_a_new_dataset_stores_suggestions_and_the_data_page_saves_them(tuneboard_home):
    csv = "text,intent\n" + "".join(f"message {i} about {label},{label}\n" for i in range(30)
                                      for label in ("topping_up_by_card", "lost_card", "balance"))
    _, dataset_id = upload_and_save("intents.csv", csv.encode())
    assert get_dataset(dataset_id).display_names == {"topping_up_by_card": "Topping up by card",
                                                     "lost_card": "Lost card"}
    save_display_names(dataset_id, {})  # as a dataset stored before names existed: raw labels
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    at.switch_page("pages/data.py").run()
    assert not at.exception
    at.button(key=f"names_save_{dataset_id}").click().run()  # the editor starts on the suggestions
    assert not at.exception
    assert get_dataset(dataset_id).display_names == {"topping_up_by_card": "Topping up by card",
                                                     "lost_card": "Lost card"}


@pytest.mark.slow  # a finished run (tests/finished_runs.py: a CLI process)
def test_display_names_show_in_the_confusion_matrix_the_report_a_download_and_the_api(tuneboard_home):
    run_id = use_run(text_run(), tuneboard_home)
    run = run_result(run_id)
    save_display_names(run.dataset_id, NAMES)

    at = open_results(run_id)
    figure = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert set(figure["data"][0]["x"]) == set(NAMES.values())  # the confusion matrix's columns
    per_class = next(d.value for d in at.dataframe if "precision" in d.value.columns)
    assert per_class["class"].tolist() == ["Fine message", "Junk mail"]

    report = build_report(run_id)
    assert "Junk mail" in report and "Fine message" in report

    texts = ["WINNER!! Claim your FREE prize now", "See you at the station at 6"]
    at = open_predict()
    at.file_uploader(key="predict_batch_file").set_value(
        ("inbox.csv", ("message\n" + "\n".join(texts)).encode(), "text/csv")).run()
    at.button(key="predict_batch_go").click().run()
    assert not at.exception
    scored = table(at, "input", "predicted")
    assert set(scored["predicted"]) <= set(NAMES.values())
    assert [NAMES[raw] for raw in scored["predicted (raw label)"]] == scored["predicted"].tolist()
    assert {"P(Fine message)", "P(Junk mail)"} <= set(scored.columns)

    answer = predict(run_result(run_id), Inputs(texts, [None, None]), 2, ModelCache())
    for prediction in answer.predictions:
        assert prediction.label in NAMES and prediction.label_name == NAMES[prediction.label]
        assert all(c.label_name == NAMES[c.label] for c in prediction.top)
