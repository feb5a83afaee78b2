"""Dataset versions (core/datasets/versions.py): a change is a new version; rows keep their ids and splits."""

from __future__ import annotations

import pytest

from core.datasets.store import save_dataset
from core.datasets.versions import describe_changes, examples_with_ids, new_version, versions_of
from core.ingest import DataError, ingest_bytes
from storage.datasets import get_dataset


def _csv(rows: list[tuple[str, str]]) -> bytes:
    return ("text,label\n" + "".join(f"{t},{l}\n" for t, l in rows)).encode()


def _stored(n: int = 60) -> int:
    rows = [(f"first upload message number {i} about {'cats' if i % 2 else 'dogs'}", "cat" if i % 2 else "dog")
            for i in range(n)]
    ingested = ingest_bytes("v1.csv", _csv(rows))
    try:
        return save_dataset(ingested, "pets")
    finally:
        ingested.cleanup()


def test_version_2_that_adds_rows_keeps_every_version_1_test_row_in_test(tuneboard_home):
    v1 = _stored()
    before = examples_with_ids(v1)
    upload = ingest_bytes("more.csv", _csv(
        [(f"second upload text {i} on {'cats' if i % 3 else 'birds'}", "cat" if i % 3 else "bird") for i in range(90)]
        + [("first upload message number 3 about cats", "cat")]))  # already stored: not added twice
    try:
        v2 = new_version(v1, added=upload, note="spring batch")
    finally:
        upload.cleanup()
    after = examples_with_ids(v2)
    old = after[after["row_id"].isin(set(before["row_id"]))]
    assert len(old) == len(before)
    split_before = dict(zip(before["row_id"], before["split"]))
    assert all(split_before[r] == s for r, s in zip(old["row_id"], old["split"]))
    assert set(before.loc[before["split"] == "test", "row_id"]) <= set(after.loc[after["split"] == "test", "row_id"])
    # the new rows are split as any upload is: stratified, every class in every part
    new = after[~after["row_id"].isin(set(before["row_id"]))]
    assert len(new) == 90
    for label in ("cat", "bird"):
        assert set(new.loc[new["label"] == label, "split"]) == {"train", "val", "test"}
    row = get_dataset(v2)
    assert (row.version, row.parent_id, row.lineage_id) == (2, v1, v1)
    assert row.changes["added"] == 90 and row.changes["classes_added"] == ["bird"] and row.changes["already_there"] == 1
    assert row.labels == ["bird", "cat", "dog"]
    assert "90 rows added" in describe_changes(row.changes) and "bird" in describe_changes(row.changes)
    assert [d.version for d in versions_of(v1)] == [1, 2] == [d.version for d in versions_of(v2)]
    # version 1 is untouched
    assert examples_with_ids(v1).equals(before)


def test_relabels_and_drops_make_a_version_with_the_same_ids_and_splits(tuneboard_home):
    v1 = _stored()
    before = examples_with_ids(v1)
    v2 = new_version(v1, relabel={"0": "cat", "2": "hamster"}, drop={"5", "7"}, note="fixes")
    after = examples_with_ids(v2)
    assert len(after) == len(before) - 2 and not {"5", "7"} & set(after["row_id"])
    labels = dict(zip(after["row_id"], after["label"]))
    assert labels["0"] == "cat" and labels["2"] == "hamster"
    assert dict(zip(after["row_id"], after["split"])) == {r: s for r, s in zip(before["row_id"], before["split"])
                                                          if r not in {"5", "7"}}
    changes = get_dataset(v2).changes
    assert (changes["relabeled"], changes["dropped"], changes["classes_added"]) == (2, 2, ["hamster"])
    # a version of a version numbers on, and keeps the lineage
    v3 = new_version(v2, drop={"9"})
    assert get_dataset(v3).version == 3 and get_dataset(v3).lineage_id == v1


def test_a_change_that_changes_nothing_or_names_unknown_rows_is_refused(tuneboard_home):
    v1 = _stored()
    with pytest.raises(DataError, match="not in this dataset"):
        new_version(v1, drop={"9999"})
    with pytest.raises(DataError, match="nothing to save"):
        new_version(v1, relabel={"0": examples_with_ids(v1)["label"][0]})
    assert [d.id for d in versions_of(v1)] == [v1]


def test_a_dataset_stored_before_versions_becomes_version_1_by_migration(tuneboard_home):
    from alembic import command
    from sqlalchemy import inspect

    from storage.db import alembic_config, get_engine, reset_engines
    from storage.paths import database_url

    v1 = _stored()
    with get_engine(database_url()).begin() as connection:
        command.downgrade(alembic_config(connection), "0012")
        assert "version" not in {c["name"] for c in inspect(connection).get_columns("datasets")}
    reset_engines()  # the next start upgrades the database in place
    row = get_dataset(v1)
    assert (row.version, row.parent_id, row.lineage_id, row.changes) == (1, None, None, {})
    assert [d.id for d in versions_of(v1)] == [v1] and describe_changes(row.changes) == "first version"
    assert new_version(v1, drop={"1"}) and [d.version for d in versions_of(v1)] == [1, 2]


def test_a_fixed_copy_stored_before_fixes_were_versions_keeps_its_parent_by_migration(tuneboard_home):
    """Migration 0014: derived_from moves to parent_id, "relabelled" to "relabeled"; the copy stays a lineage of its
    own (its rows carry no ids to match its parent's by)."""
    from alembic import command
    from sqlalchemy import inspect, text

    from storage.db import alembic_config, get_engine, reset_engines
    from storage.paths import database_url

    v1 = _stored()
    copy = new_version(v1, drop={"1"})
    with get_engine(database_url()).begin() as connection:
        command.downgrade(alembic_config(connection), "0013")
        assert "derived_from" in {c["name"] for c in inspect(connection).get_columns("datasets")}
        # what a review's "Save the fixes" stored before 0014
        connection.execute(text("UPDATE datasets SET derived_from = :parent, parent_id = NULL, lineage_id = NULL, "
                                "version = 1, changes = :changes WHERE id = :id"),
                           {"parent": v1, "id": copy, "changes": '{"relabelled": 2, "dropped": 1, '
                                                                 '"dropped_from_test": 1}'})
    reset_engines()  # the next start upgrades the database in place
    row = get_dataset(copy)
    with get_engine(database_url()).connect() as connection:
        assert "derived_from" not in {c["name"] for c in inspect(connection).get_columns("datasets")}
    assert (row.parent_id, row.lineage_id, row.version) == (v1, None, 1)
    assert describe_changes(row.changes) == "2 relabeled, 1 dropped (1 from the test split)"
    assert [d.id for d in versions_of(v1)] == [v1] and [d.id for d in versions_of(copy)] == [copy]
