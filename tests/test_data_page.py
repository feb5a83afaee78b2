"""The Data page, driven through the real app script with AppTest."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from core.datasets.store import save_dataset
from core.ingest import ingest_bytes
from storage.datasets import list_datasets
from tests.conftest import ROOT

ROWS = [(f"Win a free prize number {i}", "spam") for i in range(10)] + [(f"See you at lunch on day {i}", "ham") for i in range(20)]
CSV = ("message,category\n" + "".join(f"{t},{label}\n" for t, label in ROWS) + ",ham\n" + f"{ROWS[0][0]},spam\n").encode()


def open_data_page() -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    at.switch_page("pages/data.py").run()
    assert not at.exception
    return at


@pytest.mark.slow  # about a second: several runs of the page
def test_upload_a_csv_see_the_report_and_save_it():
    at = open_data_page()
    assert at.title[0].value == "Data"
    at.file_uploader(key="data_upload").upload("tickets.csv", CSV, "text/csv").run()
    assert not at.exception
    # The guesses are shown in the pickers, the report in plain words, the numbers as metrics.
    assert at.selectbox(key="text_column").value == "message"
    assert at.selectbox(key="label_column").value == "category"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Rows kept"] == "30" and metrics["Classes"] == "2"
    # Rows kept, and why the others were not, in one sentence.
    assert ("Kept 30 of 32 rows; not kept: 1 with an empty text, 1 exact duplicate (one copy of each stays)."
            in [c.value for c in at.caption])
    warnings = " ".join(w.value for w in at.warning)
    assert "Dropped 1 row with an empty text" in warnings and "Removed 1 exact duplicate" in warnings
    assert at.text_input(key="dataset_name").value == "tickets"

    at.text_input(key="dataset_name").input("Support tickets")
    at.button(key="save_dataset").click().run()
    assert not at.exception
    assert "Saved as dataset #" in at.success[0].value
    stored = list_datasets()
    assert [(d.name, d.num_examples, d.labels) for d in stored] == [("Support tickets", 30, ["ham", "spam"])]
    stored_table = next(d.value for d in at.dataframe if {"name", "examples"} <= set(d.value.columns))
    assert stored_table["name"].tolist() == ["Support tickets"]


@pytest.mark.slow  # about a second: several runs of the page
def test_changing_the_label_column_re_reads_the_file():
    csv = ("text,source,label\n" + "".join(f"{t},{'web' if i % 2 else 'mail'},{label}\n" for i, (t, label) in enumerate(ROWS))).encode()
    at = open_data_page()
    at.file_uploader(key="data_upload").upload("data.csv", csv, "text/csv").run()
    assert at.selectbox(key="label_column").value == "label"
    at.selectbox(key="label_column").select("source").run()
    assert not at.exception
    assert {m.label: m.value for m in at.metric}["Classes"] == "2"
    assert at.session_state["data_ingest"]["result"].labels == ["mail", "web"]


@pytest.mark.slow  # about a second: several runs of the page
def test_label_variants_are_merged_with_one_click():
    """Issue 22: 'spam', 'Spam', 'SPAM' and 'sp<zero-width space>am' became four classes without a word."""
    from tests.test_bad_inputs import VARIANTS

    at = open_data_page()
    at.file_uploader(key="data_upload").upload("variants.csv", VARIANTS, "text/csv").run()
    assert not at.exception
    assert {m.label: m.value for m in at.metric}["Classes"] == "5"
    (flagged,) = [w.value for w in at.warning if "differ only in capitals" in w.value]
    assert "'spam' = 'SPAM' = 'Spam' = 'sp" in flagged and "U+200B" in flagged  # the invisible character written out
    at.button(key="data_merge_labels_button").click().run()
    assert not at.exception
    assert {m.label: m.value for m in at.metric}["Classes"] == "2"
    assert not any("differ only in capitals" in w.value for w in at.warning)
    at.button(key="save_dataset").click().run()
    assert [d.labels for d in list_datasets()] == [["ham", "spam"]]


def test_a_refused_upload_shows_one_plain_error_and_offers_the_columns():
    at = open_data_page()
    csv = ("text,label\n" + "".join(f"{t},spam\n" for t, _ in ROWS)).encode()
    at.file_uploader(key="data_upload").upload("one.csv", csv, "text/csv").run()
    assert not at.exception
    assert [e.value for e in at.error] == ["All kept examples have the same label ('spam'): a classifier needs at least "
                                          "two classes, so pick the column that holds the labels or add examples of "
                                          "another class."]
    assert at.selectbox(key="label_column").options == ["text", "label"]
    assert list_datasets() == []


@pytest.mark.slow  # about a second: several runs of the page
def test_delete_a_stored_dataset():
    ingested = ingest_bytes("tickets.csv", CSV)
    dataset_id = save_dataset(ingested, "to delete")
    at = open_data_page()
    assert at.selectbox(key="delete_choice").value == dataset_id
    at.button(key="delete_dataset").click().run()
    assert not at.exception
    assert list_datasets() == []
    assert any(c.value.startswith("No datasets yet") for c in at.caption)


@pytest.mark.slow  # over a second: images read and drawn
def test_upload_a_zip_of_image_folders_shows_thumbnails_per_class():
    from tests.test_ingest_images import class_folders, zip_of

    at = open_data_page()
    at.file_uploader(key="data_upload").upload("insects.zip", zip_of(class_folders(4)), "application/zip").run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Images kept"] == "8" and metrics["Classes"] == "2"
    assert [s.value for s in at.subheader][:1] == ["Examples per class"]
    assert len(at.image) == 2 and len(at.image[0].value) == 4  # a row of thumbnails per class
    at.button(key="save_dataset").click().run()
    assert [(d.task, d.num_examples) for d in list_datasets()] == [("image", 8)]


@pytest.mark.slow  # over a second: two reports, one save
def test_load_example_shows_the_same_report_as_an_upload_and_saves_it():
    at = open_data_page()
    at.button(key="data_load_example").click().run()
    assert not at.exception
    # Where the data comes from, said plainly, before anything else about it.
    assert "generated by tuneboard from templates" in at.info[0].value.lower()
    assert "not real customer data" in at.info[0].value
    # The same report and pickers as an uploaded file.
    assert (at.selectbox(key="text_column").value, at.selectbox(key="label_column").value) == ("message", "category")
    metrics = {m.label: m.value for m in at.metric}
    assert (metrics["Rows kept"], metrics["Classes"]) == ("600", "4")
    assert "Kept 600 of 600 rows: every one." in [c.value for c in at.caption]
    assert not at.warning and not at.error
    assert at.text_input(key="dataset_name").value == "Customer support example"

    at.button(key="save_dataset").click().run()
    assert not at.exception
    [stored] = list_datasets()
    assert (stored.name, stored.num_examples, stored.labels) == (
        "Customer support example", 600, ["account", "billing", "delivery", "technical problem"])
    assert f"Saved as dataset #{stored.id}" in at.success[0].value
    # The next step: Train, with this dataset chosen.
    [link] = at.main.get("page_link")
    assert (link.proto.page, link.proto.query_string) == ("train", f"dataset={stored.id}")

    # Closed and loaded again, the same data is recognised instead of stored twice.
    at.button(key="data_close_example").click().run()
    assert not at.main.get("metric") and at.button(key="data_load_example")
    at.button(key="data_load_example").click().run()
    at.button(key="save_dataset").click().run()
    assert f"already stored as 'Customer support example' (#{stored.id})" in at.info[-1].value
    assert len(list_datasets()) == 1


def test_an_upload_replaces_the_example():
    at = open_data_page()
    at.button(key="data_load_example").click().run()
    at.file_uploader(key="data_upload").upload("tickets.csv", CSV, "text/csv").run()
    assert not at.exception
    assert {m.label: m.value for m in at.metric}["Rows kept"] == "30"
    assert not [i for i in at.info if "not real customer data" in i.value]


def test_a_blank_name_saves_under_the_file_name_and_says_which():
    at = open_data_page()
    at.file_uploader(key="data_upload").upload("tickets.csv", CSV, "text/csv").run()
    at.text_input(key="dataset_name").input("   ")
    at.button(key="save_dataset").click().run()
    [stored] = list_datasets()
    assert stored.name == "tickets"
    assert f"Saved as dataset #{stored.id} 'tickets'" in at.success[0].value


def test_data_whose_stored_files_went_missing_is_stored_again_once(tuneboard_home):
    import shutil

    from core.datasets.store import dataset_dir

    ingested = ingest_bytes("tickets.csv", CSV)
    first = save_dataset(ingested, "tickets")
    shutil.rmtree(dataset_dir(list_datasets()[0]))  # deleted by hand
    second = save_dataset(ingest_bytes("tickets.csv", CSV), "tickets")
    third = save_dataset(ingest_bytes("tickets.csv", CSV), "tickets")
    assert first != second == third  # the mended copy is found again, not copied a third time
    assert len(list_datasets()) == 2
