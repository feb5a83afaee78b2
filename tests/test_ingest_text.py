"""Text tables: encodings, delimiters, headers, column guessing and every validation rule."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from core.ingest import DataError, ingest_bytes, ingest_path
from tests.conftest import SMS_SPAM, require

TEXTS = {
    "spam": ["Win a free cruise now", "Claim your prize today", "Cheap loans, call now", "You won cash, reply YES",
             "Free ringtones, text STOP", "Urgent: your account wins"],
    "ham": ["See you at lunch", "Can you pick up milk", "Meeting moved to three", "Happy birthday, mum",
            "Running late, sorry", "The report is attached"],
}


def rows(per_class: int = 6) -> list[tuple[str, str]]:
    return [(text, label) for label, texts in TEXTS.items() for text in texts[:per_class]]


def table(lines: list[tuple[str, ...]], delimiter: str = ",", header: tuple[str, ...] | None = ("text", "label")) -> str:
    def cell(value: str) -> str:
        return f'"{value}"' if delimiter in value or '"' in value or "\n" in value else value

    body = [delimiter.join(cell(v) for v in line) for line in lines]
    return "\n".join(([delimiter.join(header)] if header else []) + body) + "\n"


# 1) Encodings and delimiters -------------------------------------------------------------------------------

ACCENTED = [(f"Réunion à côté du café n°{i}", "ham") for i in range(4)] + [
    (f"Gagnez un séjour gratuit à Noël n°{i}", "spam") for i in range(4)
]


@pytest.mark.parametrize(
    "encode, expected_note",
    [
        (lambda s: s.encode("utf-8"), None),
        (lambda s: b"\xef\xbb\xbf" + s.encode("utf-8"), None),  # Excel's "CSV UTF-8"
        (lambda s: s.encode("utf-16"), "UTF-16"),  # with BOM
        (lambda s: s.encode("utf-16-le"), "UTF-16"),  # without a BOM (issue 22: refused as binary before)
        (lambda s: s.encode("utf-16-be"), "UTF-16"),
        (lambda s: s.encode("latin-1"), "Windows-1252 (Latin-1)"),
        (lambda s: s.encode("cp1252"), "Windows-1252 (Latin-1)"),
    ],
    ids=["utf8", "utf8-bom", "utf16", "utf16le-no-bom", "utf16be-no-bom", "latin1", "cp1252"],
)
def test_each_encoding_reads_accents_and_the_header(encode, expected_note):
    ingested = ingest_bytes("data.csv", encode(table(ACCENTED)))
    assert ingested.columns == ["text", "label"]  # a BOM would otherwise end up inside the first column name
    assert "Réunion à côté du café n°0" in set(ingested.frame["input"])
    assert ingested.report.rows_kept == len(ACCENTED)
    note = ingested.report.get("encoding")
    assert (note is None) if expected_note is None else (expected_note in note.message)


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_ascii_utf16_without_a_bom_is_not_taken_for_utf8(codec):
    """Issue 22: every ASCII character in UTF-16 is also valid UTF-8 (with a NUL beside it), so the file was read
    as UTF-8 and refused as binary."""
    ingested = ingest_bytes("data.csv", table(rows()).encode(codec))
    assert ingested.columns == ["text", "label"] and ingested.report.rows_kept == len(rows())
    assert "UTF-16" in ingested.report.get("encoding").message


def test_cp1252_only_characters_survive():
    text = table([(f"Price: {i}€ – “today”", "spam") for i in range(3)] + [(f"Lunch at {i}?", "ham") for i in range(3)])
    ingested = ingest_bytes("data.csv", text.encode("cp1252"))
    assert "Price: 1€ – “today”" in set(ingested.frame["input"])


@pytest.mark.parametrize("delimiter, suffix", [(",", ".csv"), (";", ".csv"), ("\t", ".tsv"), ("|", ".txt"), ("\t", ".csv")])
def test_delimiters_are_sniffed_even_when_texts_contain_other_delimiters(delimiter, suffix):
    # Texts contain commas and semicolons, so only the real delimiter splits every line the same way.
    lines = [(f"{t}; really, truly", label) for t, label in rows()]
    ingested = ingest_bytes(f"data{suffix}", table(lines, delimiter).encode())
    assert ingested.columns == ["text", "label"]
    assert ingested.report.rows_read == len(lines) and ingested.report.rows_kept == len(lines)
    assert set(ingested.frame["label"]) == {"spam", "ham"}


def test_quoted_newline_stays_inside_its_text():
    lines = rows() + [("First line\nsecond line, with comma", "ham")]
    ingested = ingest_bytes("data.csv", table(lines).encode())
    assert "First line\nsecond line, with comma" in set(ingested.frame["input"])
    assert ingested.report.rows_read == len(lines)


def test_stray_quotes_in_unquoted_texts_do_not_swallow_lines():
    lines = rows() + [('"Hello" she said, then left', "ham"), ('He wrote "see you', "ham"), ("Free entry now", "spam")]
    text = "label\ttext\n" + "".join(f"{label}\t{t}\n" for t, label in lines)  # written raw, as the SMS collection is
    ingested = ingest_bytes("data.tsv", text.encode())
    assert ingested.report.rows_read == len(lines)
    assert 'He wrote "see you' in set(ingested.frame["input"])


def test_excel_file():
    frame = pd.DataFrame({"Message": [t for t, _ in rows()], "Category": [label for _, label in rows()]})
    buffer = io.BytesIO()
    frame.to_excel(buffer, index=False)
    ingested = ingest_bytes("data.xlsx", buffer.getvalue())
    assert (ingested.text_column, ingested.label_column) == ("Message", "Category")
    assert ingested.report.rows_kept == len(frame)


# 2) Headers and column guessing ----------------------------------------------------------------------------


def test_header_less_file_keeps_its_first_row():
    lines = [(label, t) for t, label in rows()]
    ingested = ingest_bytes("data.csv", table(lines, header=None).encode())
    assert ingested.columns == ["column 1", "column 2"]
    assert (ingested.text_column, ingested.label_column) == ("column 2", "column 1")
    assert ingested.report.rows_read == len(lines)  # the first row is data, not a header
    assert "no_header" in ingested.report.codes


def test_guesses_text_as_longest_and_label_as_low_cardinality_among_extra_columns():
    lines = [(str(i), f"2024-01-{i + 1:02d}", t, label) for i, (t, label) in enumerate(rows())]
    ingested = ingest_bytes("data.csv", table(lines, header=("id", "date", "body_x", "kind")).encode())
    assert (ingested.text_column, ingested.label_column) == ("body_x", "kind")
    assert ingested.columns == ["id", "date", "body_x", "kind"]


def test_column_names_win_over_statistics_and_choices_can_be_overridden():
    lines = [(t, label, f"note {i}") for i, (t, label) in enumerate(rows())]
    ingested = ingest_bytes("data.csv", table(lines, header=("sentence", "label", "remark")).encode())
    assert (ingested.text_column, ingested.label_column) == ("sentence", "label")
    override = ingest_bytes("data.csv", table(lines, header=("sentence", "label", "remark")).encode(),
                            text_column="remark", label_column="label")
    assert override.frame["input"].str.startswith("note").all()
    assert override.fingerprint != ingested.fingerprint  # the column choice is part of the stored identity


def test_unknown_or_identical_columns_are_refused():
    data = table(rows()).encode()
    with pytest.raises(DataError) as error:
        ingest_bytes("data.csv", data, label_column="category")
    assert error.value.code == "column_not_found" and "'text'" in str(error.value)
    with pytest.raises(DataError) as error:
        ingest_bytes("data.csv", data, text_column="text", label_column="text")
    assert error.value.code == "same_column"


def test_numeric_labels_are_stored_as_strings():
    lines = [(t, "1" if label == "spam" else "0") for t, label in rows()]
    ingested = ingest_bytes("data.csv", table(lines, header=("review", "stars")).encode())
    assert ingested.label_column == "stars"
    assert ingested.labels == ["0", "1"]
    lines = [(t, "1.0" if label == "spam" else "0.0") for t, label in rows()]  # as a spreadsheet writes them
    assert ingest_bytes("data.csv", table(lines).encode()).labels == ["0", "1"]


def test_numeric_labels_header_less():
    lines = [("1" if label == "spam" else "0", t) for t, label in rows()]
    ingested = ingest_bytes("data.csv", table(lines, header=None).encode())
    assert ingested.report.rows_read == len(lines) and ingested.labels == ["0", "1"]


# 3) Validation rules ---------------------------------------------------------------------------------------


def test_empty_texts_and_missing_labels_are_dropped_and_named():
    lines = rows() + [("", "spam"), ("   ", "ham"), ("No label here", "")]
    report = ingest_bytes("data.csv", table(lines).encode()).report
    assert report.rows_read == len(lines) and report.rows_kept == len(lines) - 3
    assert report.get("empty_text").details == ["line 14", "line 15"]
    assert report.get("missing_label").details == ["line 16"]
    assert "Dropped 2 rows with an empty text" in report.get("empty_text").message


def test_exact_duplicates_are_counted_and_dropped_keeping_one():
    lines = rows() + [rows()[0], rows()[0], rows()[7]]
    ingested = ingest_bytes("data.csv", table(lines).encode())
    finding = ingested.report.get("duplicates")
    assert finding.severity == "warning" and "Removed 3 exact duplicates" in finding.message
    assert ingested.report.rows_kept == len(rows())
    assert ingested.frame["input"].is_unique


def test_same_text_with_conflicting_labels_is_dropped():
    lines = rows() + [("Is this spam or not", "spam"), ("Is this spam or not", "ham")]
    ingested = ingest_bytes("data.csv", table(lines).encode())
    finding = ingested.report.get("conflicting_labels")
    assert "Dropped 2 rows" in finding.message and "different labels" in finding.message
    assert "Is this spam or not" not in set(ingested.frame["input"])


def test_classes_too_small_to_split_are_dropped_and_named():
    lines = rows() + [("Where is my parcel", "support"), ("Parcel not arrived", "support")]
    ingested = ingest_bytes("data.csv", table(lines).encode())
    finding = ingested.report.get("small_class_dropped")
    assert "'support (2 for training)'" in finding.message and "at least 3 examples" in finding.message
    assert "support" not in ingested.labels


def test_classes_with_few_examples_get_a_warning():
    report = ingest_bytes("data.csv", table(rows()).encode()).report
    finding = report.get("few_examples")
    assert finding.severity == "warning" and "'ham (6)'" in finding.message and "'spam (6)'" in finding.message


def test_fewer_than_two_classes_is_refused():
    lines = [(t, "spam") for t, _ in rows()]
    with pytest.raises(DataError) as error:
        ingest_bytes("data.csv", table(lines).encode())
    assert error.value.code == "fewer_than_two_classes" and "'spam'" in str(error.value)


def test_a_second_class_lost_to_the_rules_is_refused_too():
    lines = [(t, "spam") for t, _ in rows()] + [("Only one ham", "ham")]
    with pytest.raises(DataError) as error:
        ingest_bytes("data.csv", table(lines).encode())
    assert error.value.code == "fewer_than_two_classes"
    assert "small_class_dropped" in error.value.report.codes  # the reason travels with the refusal


def test_long_texts_are_kept_with_a_note():
    lines = rows() + [("word " * 1000, "ham")]
    ingested = ingest_bytes("data.csv", table(lines).encode())
    assert ingested.report.get("long_texts").severity == "info"
    assert ingested.frame["input"].str.len().max() == 5000


# 4) A separate test file -----------------------------------------------------------------------------------


def test_a_test_file_replaces_the_test_part():
    train = rows() + [(t + " again", label) for t, label in rows()]
    test = [("Free money inside", "spam"), ("Dinner at eight?", "ham"), (rows()[0][0], rows()[0][1])]
    ingested = ingest_bytes("train.csv", table(train).encode(), test_file=("test.csv", table(test).encode()))
    frame = ingested.frame
    assert sorted(frame.loc[frame["split"] == "test", "input"]) == sorted(t for t, _ in test)
    assert set(frame["split"]) == {"train", "val", "test"}
    assert ingested.report.get("test_overlap") is not None  # the training copy of a test text was dropped
    assert (frame["input"] == rows()[0][0]).sum() == 1


# 5) The real SMS spam collection ---------------------------------------------------------------------------


def test_sms_spam_collection():
    ingested = ingest_path(require(SMS_SPAM))
    report = ingested.report
    assert report.rows_read == 5574
    assert ingested.labels == ["ham", "spam"]
    assert (ingested.text_column, ingested.label_column) == ("SMS", "Label")
    duplicates = report.get("duplicates")
    assert "Removed 403 exact duplicates" in duplicates.message
    assert report.rows_kept == 5574 - 403 - int(report.get("near_duplicates").message.split()[2])
    assert sum(report.split_counts.values()) == report.rows_kept


# 6) Storing: the command line's register_path reuses what is stored -----------------------------------------


def test_register_path_stores_once_per_content(tmp_path):
    from core.datasets.store import dataset_dir, register_path
    from core.datasets.files import read_examples
    from storage.datasets import get_dataset, list_datasets

    path = tmp_path / "tickets.csv"
    path.write_text(table(rows()))
    first = register_path(path)
    assert register_path(path) == first
    assert register_path(path, text_column="text", label_column="label") == first  # the same as the guesses
    stored = get_dataset(first)
    assert (stored.name, stored.task, stored.labels, stored.num_examples) == ("tickets", "text", ["ham", "spam"], 12)
    assert stored.split_counts == {"train": 8, "val": 2, "test": 2}
    assert stored.report["rows_read"] == 12 and "few_examples" in [f["code"] for f in stored.report["findings"]]
    examples = read_examples(dataset_dir(stored))
    assert list(examples.columns) == ["input", "label", "split", "source"] and len(examples) == 12
    path.write_text(table(rows() + [("One more message", "ham")]))
    assert register_path(path) != first and len(list_datasets()) == 2
