"""Model folders named in the browser (core.catalog.checked_model_name, the Train page's "Model id or folder"): read
only under the data folder and TUNEBOARD_MODEL_DIRS, and a folder elsewhere answers exactly as a missing one."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.catalog import NO_SUCH_FOLDER, ModelLoadError, checked_model_name, resolve_model
from pages.shared.user_text import md
from storage.runs import list_runs
from tests.conftest import ROOT
from tests.finished_runs import text_run
from tests.tiny_training import make_dataset


def refusal(name: str) -> str:
    with pytest.raises(ModelLoadError) as info:
        checked_model_name(name, "text")
    return str(info.value)


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder beside the data folder, not under it: one holding a model, one holding none."""
    (tmp_path / "elsewhere" / "model").mkdir(parents=True)
    (tmp_path / "elsewhere" / "model" / "config.json").write_text("{}")
    (tmp_path / "elsewhere" / "empty").mkdir()
    return tmp_path / "elsewhere"


def test_a_folder_outside_the_roots_answers_as_a_missing_one(outside, tuneboard_home, monkeypatch):
    monkeypatch.setenv("TUNEBOARD_MODEL_DIRS", str(tuneboard_home.parent / "models"))
    answers = {refusal(str(outside / "model")), refusal(str(outside / "empty")), refusal(str(outside / "missing")),
               refusal("/etc"), refusal(str(tuneboard_home / "no-such-run")), refusal(f"{tuneboard_home}/../elsewhere")}
    assert answers == {NO_SUCH_FOLDER}
    assert str(outside) not in NO_SUCH_FOLDER and "data folder" in NO_SUCH_FOLDER
    # The command line (the machine's owner) still reads any folder.
    assert resolve_model(str(outside / "model"), "text").kind == "local"


def test_a_link_inside_the_data_folder_to_a_folder_outside_is_refused(outside, tuneboard_home):
    tuneboard_home.mkdir(parents=True, exist_ok=True)
    (tuneboard_home / "link").symlink_to(outside / "model")
    assert refusal(str(tuneboard_home / "link")) == NO_SUCH_FOLDER


def test_a_name_shaped_like_a_hub_id_is_one_unless_it_is_a_folder_outside(tmp_path, monkeypatch):
    """Relative names are looked up from the working folder, as the worker does; "org/model" stays a hub id."""
    monkeypatch.chdir(tmp_path)
    assert checked_model_name("someone/some-model", "text") == "someone/some-model"
    (tmp_path / "someone" / "local-model").mkdir(parents=True)
    assert refusal("someone/local-model") == NO_SUCH_FOLDER


@pytest.mark.slow  # trains a run, then starts another from it: about 19 s
def test_a_finished_run_under_tuneboard_model_dirs_trains_from_the_train_page(tmp_path, monkeypatch):
    models = tmp_path / "shared-models"
    shutil.copytree(text_run().home / "runs" / str(text_run().run_id) / "model", models / "spam-model")
    typed = str(models / "spam-model")
    dataset_id = make_dataset(name="tickets")

    def train_page() -> AppTest:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
        at.session_state["train_model_text"] = "other"
        at.session_state["train_model_other"] = typed
        at.run()
        return at.switch_page("pages/train.py").run()

    at = train_page()  # not a listed folder yet: refused as a missing one
    assert not at.exception
    assert [e.value for e in at.error] == [md(NO_SUCH_FOLDER, limit=None)]  # shown escaped, as every error box
    assert not [b for b in at.button if b.key == "train_launch"]  # the page stopped before Launch

    monkeypatch.setenv("TUNEBOARD_MODEL_DIRS", str(models))
    at = train_page()
    assert not at.exception and not at.error
    cards = {m.label: m.value for m in at.metric}
    assert cards["Trainable parameters"] not in ("", "—", "0")
    at.button(key="train_launch").click().run()
    [run] = list_runs()
    assert (run.dataset_id, run.config["model"]) == (dataset_id, str((models / "spam-model").resolve()))
