"""The stratified, seeded train / validation / test split."""

from __future__ import annotations

import pandas as pd
import pytest

from core.ingest import Report, ingest_bytes
from core.ingest.split import assign_splits


def examples(counts: dict[str, int], split: str = "") -> pd.DataFrame:
    rows = [(f"{label} example {i}", label) for label, n in counts.items() for i in range(n)]
    return pd.DataFrame({"input": [r[0] for r in rows], "label": [r[1] for r in rows], "split": split,
                         "source": [f"line {i + 2}" for i in range(len(rows))], "key": ""})


def test_split_is_stratified_80_10_10():
    frame = assign_splits(examples({"a": 500, "b": 200, "c": 30}), Report())
    table = pd.crosstab(frame["label"], frame["split"])
    assert table.loc["a"].to_dict() == {"test": 50, "train": 400, "val": 50}
    assert table.loc["b"].to_dict() == {"test": 20, "train": 160, "val": 20}
    assert table.loc["c"].to_dict() == {"test": 3, "train": 24, "val": 3}


def test_split_is_stable_for_the_same_data_and_seed_and_changes_with_the_seed():
    data = examples({"a": 60, "b": 40})
    first = assign_splits(data, Report(), seed=7)["split"].tolist()
    assert assign_splits(data, Report(), seed=7)["split"].tolist() == first
    assert assign_splits(data, Report(), seed=8)["split"].tolist() != first


def test_adding_a_class_leaves_the_other_classes_split_unchanged():
    before = assign_splits(examples({"a": 40, "b": 40}), Report())
    after = assign_splits(examples({"a": 40, "b": 40, "c": 40}), Report())
    assert after[after["label"] != "c"]["split"].tolist() == before["split"].tolist()


def test_tiny_classes_get_one_example_per_part():
    frame = assign_splits(examples({"a": 3, "b": 4}), Report())
    for label in ("a", "b"):
        assert set(frame.loc[frame["label"] == label, "split"]) == {"train", "val", "test"}


def test_a_given_val_without_test_becomes_the_test_set_and_val_is_carved_from_train():
    data = pd.concat([examples({"a": 90, "b": 45}, "train"), examples({"a": 20, "b": 10}, "val")], ignore_index=True)
    data["input"] = [f"x{i}" for i in range(len(data))]
    report = Report()
    frame = assign_splits(data, report)
    assert (frame.loc[data["split"] == "val", "split"] == "test").all()  # held out, and what runs are judged on
    assert (frame.loc[data["split"] == "train", "split"] != "test").all()  # no given training example is tested on
    carved = pd.crosstab(frame["label"], frame["split"])
    assert carved.loc["a", "val"] == 10 and carved.loc["b", "val"] == 5  # 10/90 of each class's train part
    message = report.get("given_splits").message
    assert "validation set you gave is kept apart as the test set" in message and "validation set was set aside" in message


def test_given_test_is_kept_and_val_is_carved():
    data = pd.concat([examples({"a": 45, "b": 45}), examples({"a": 5, "b": 5}, "test")], ignore_index=True)
    data["input"] = [f"x{i}" for i in range(len(data))]
    frame = assign_splits(data, Report())
    assert (frame["split"] == "test").sum() == 10
    assert (frame["split"] == "val").sum() == 10


def test_a_class_only_in_the_given_test_set_is_dropped():
    data = pd.concat([examples({"a": 30, "b": 30}), examples({"a": 3, "c": 3}, "test")], ignore_index=True)
    data["input"] = [f"x{i}" for i in range(len(data))]
    report = Report()
    frame = assign_splits(data, report)
    assert "c" not in set(frame["label"])
    assert "never sees in training" in report.get("small_class_dropped").message


def test_split_through_ingestion_is_stable_and_stored_with_the_seed():
    text = "text,label\n" + "".join(f"message number {i},{'spam' if i % 3 else 'ham'}\n" for i in range(90))
    first = ingest_bytes("data.csv", text.encode())
    again = ingest_bytes("data.csv", text.encode())
    pd.testing.assert_frame_equal(first.frame, again.frame)
    other_seed = ingest_bytes("data.csv", text.encode(), seed=1)
    assert other_seed.frame["split"].tolist() != first.frame["split"].tolist()
    assert other_seed.fingerprint != first.fingerprint and other_seed.split_seed == 1
    assert first.split_counts == {"train": 72, "val": 9, "test": 9}


@pytest.mark.parametrize("seed", [0, 42])
def test_every_part_holds_every_class(seed):
    frame = assign_splits(examples({"a": 5, "b": 11, "c": 100}), Report(), seed=seed)
    assert all(set(frame.loc[frame["split"] == part, "label"]) == {"a", "b", "c"} for part in ("train", "val", "test"))
