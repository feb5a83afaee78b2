"""storage.removal.removed_with: folders go with the rows that point to them, or stay with them."""

from __future__ import annotations

import pytest

from storage.datasets import list_datasets
from storage.db import session_factory
from storage.models import Dataset
from storage.removal import removed_with


def make(folder, text="weights"):
    folder.mkdir(parents=True)
    (folder / "model.safetensors").write_text(text)
    return folder


def test_the_folders_are_gone_when_the_block_succeeds_and_its_change_is_committed(tuneboard_home):
    a, b = make(tuneboard_home / "runs" / "1"), make(tuneboard_home / "datasets" / "2")
    with session_factory()() as session, removed_with([a, b, a], session):  # a folder named twice is removed once
        assert not a.exists() and not b.exists()  # already moved aside inside the block
        session.add(Dataset(name="kept", task="text"))
    assert not a.exists() and not b.exists()
    assert [d.name for d in list_datasets()] == ["kept"]
    assert list((tuneboard_home / "runs").iterdir()) == [] and list((tuneboard_home / "datasets").iterdir()) == []


def test_the_folders_come_back_whole_when_the_block_fails(tuneboard_home):
    a, b = make(tuneboard_home / "runs" / "1", "one"), make(tuneboard_home / "runs" / "2", "two")
    with pytest.raises(RuntimeError, match="the transaction failed"):
        with session_factory()() as session, removed_with([a, b], session):
            session.add(Dataset(name="rolled back", task="text"))
            raise RuntimeError("the transaction failed")
    assert list_datasets() == []
    assert (a / "model.safetensors").read_text() == "one" and (b / "model.safetensors").read_text() == "two"
    assert sorted(p.name for p in (tuneboard_home / "runs").iterdir()) == ["1", "2"]  # no .deleting-* left


def test_nothing_outside_the_data_home_and_never_the_home_itself(tuneboard_home, tmp_path):
    outside = make(tmp_path / "elsewhere")
    with session_factory()() as session, removed_with([outside, tuneboard_home, tuneboard_home / "runs" / "missing"],
                                                      session):
        pass
    assert (outside / "model.safetensors").exists() and tuneboard_home.exists()
