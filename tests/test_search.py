"""Settings searches (issue 28): the space each method searches, Optuna's study in the app's own database beside our
migrations, the coordinator's steps (trials queued as runs, the validation curve reported, a trailing trial pruned
through the normal cancel path, the budget respected), a search that carries on after its worker is killed, and the
new user's path: start a search on Train, close the tab, come back to the best settings and train them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
from sqlalchemy import text, update

from core.methods import METHODS, settings_for
from core.run_config import RunConfig, out_of_bounds
from core.jobs.submit import estimate_or_none
from core.search import START_PRESETS, search_space, start_params, start_search
from core.training.checkpoint import STATE_FILE
from core.training.presets import resolve
from storage import run_queue
from storage.datasets import get_dataset
from storage.db import get_engine, optuna_storage, session_factory
from storage.models import CANCELLED, QUEUED, RUNNING, SUCCEEDED, Search
from storage.paths import run_files
from storage.runs import get_run, list_runs
from storage.searches import SearchError, get_search
from tests.conftest import ROOT
from tests.test_worker import wait_for
from tests.tiny_training import make_dataset

WORKER = "test-host:1:1"  # a worker identity on no host: its lease is judged by time alone


def test_every_method_searches_settings_it_takes_within_their_bounds():
    searched = 0
    for method in METHODS.values():
        for task in method.tasks:
            space = search_space(task, method.key)
            assert space, f"{method.key} has nothing to search on {task}"
            names = {f.name for f in settings_for(task, method)}
            for s in space:
                assert s.name in names
                for value in s.choices or (s.low, s.high):
                    assert out_of_bounds(s.name, value) is None, (method.key, s)
                searched += 1
            model = "minilm" if task == "text" else "efficientnet-lite0"
            for preset in START_PRESETS:  # the first trials: each preset's values lie inside the space as they are
                params = start_params(task, model, method.key, preset)
                resolved = resolve(task, RunConfig(model=model, method=method.key, preset=preset))
                assert params == {s.name: getattr(resolved, s.name) for s in space
                                  if getattr(resolved, s.name) is not None}, (method.key, task, preset)
                for s in space:
                    if s.name in params:
                        assert params[s.name] in s.choices if s.choices else s.low <= params[s.name] <= s.high
    assert searched > 20
    lora = {s.name for s in search_space("text", "lora")}
    assert {"learning_rate", "epochs", "lora_rank", "lora_alpha", "lora_dropout", "max_length", "batch_size"} <= lora
    assert "max_length" not in {s.name for s in search_space("image", "lora")}  # text only


def test_a_search_refuses_a_budget_out_of_range_in_one_sentence():
    dataset = get_dataset(make_dataset())
    with pytest.raises(SearchError, match="between 1 minute and 7 days; 0.5 minutes is not"):
        start_search(dataset, "tiny-bert", "lora", 0.5)


def test_optunas_study_lives_in_the_apps_database_beside_our_migrations(tuneboard_home):
    """Optuna keeps its schema version in the same alembic_version table as ours: our migration makes its tables, it
    never stamps its own, and a restart (upgrade again) still finds our head. SQLite stays in WAL."""
    import optuna

    from storage.db import init_db, reset_engines

    storage = optuna_storage()
    study = optuna.create_study(storage=storage, study_name="s", direction="maximize")
    trial = study.ask()
    x = trial.suggest_float("x", 0.0, 1.0)
    study.tell(trial, x)
    reset_engines()
    init_db()
    with get_engine().connect() as connection:
        assert connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == ["0014"]
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    again = optuna.load_study(storage=optuna_storage(), study_name="s")
    assert [t.value for t in again.trials] == [x]


def _finish(run_id: int, curve: dict[int, float], right: int, of: int = 8) -> None:
    """What a worker does with a trial's run: train it (its validation curve), then record it with validation
    predictions getting `right` of `of` right."""
    assert run_queue.claim_next(WORKER) == (run_id, False)
    run_queue.add_metric_points(run_id, [(e * 10, float(e), "val_macro_f1", v) for e, v in curve.items()])
    if right is None:
        return
    val = [{"example_index": i, "true_label": "ham" if i % 2 else "spam",
            "predicted_label": ("ham" if i % 2 else "spam") if i < right else ("spam" if i % 2 else "ham"),
            "confidence": 0.9, "probabilities": [0.5, 0.5]} for i in range(of)]
    assert run_queue.finish(run_id, WORKER, metrics={"accuracy": 0.5, "macro_f1": 0.5}, predictions=[],
                            validation_predictions=val, trainable_params=1, total_params=1, train_seconds=1.0,
                            samples_per_second=1.0, device="cpu", artifact_dir="x", size_bytes=1)


def test_the_coordinator_queues_trials_as_runs_reports_curves_and_prunes_through_cancel():
    from optuna.trial import TrialState

    from core.search import coordinator

    dataset = get_dataset(make_dataset())
    search_id = start_search(dataset, "tiny-bert", "lora", 30)
    coordinator.step(WORKER, estimate_or_none)
    [first] = list_runs()
    assert (first.status, first.search_id, first.search_trial) == (QUEUED, search_id, 0)
    assert "seconds" in first.estimate and first.config["preset"] == "best"
    assert first.config["learning_rate"] == 1e-3 and first.config["epochs"] == 2  # the Quick preset's, to start
    study = coordinator.load_study(search_id)
    base = dict(first.config)
    params = {k: base[k] for k in study.trials[0].params}
    study.enqueue_trial({**params, "learning_rate": 3e-4, "epochs": 4})  # after Best's, enqueued at the start
    coordinator.step(WORKER, estimate_or_none)  # trial 0 still queued: nothing more starts (one worker, one trial at a time)
    assert len(list_runs()) == 1

    _finish(first.id, {1: 0.8, 2: 0.85}, right=7)
    coordinator.step(WORKER, estimate_or_none)
    second = max(list_runs(), key=lambda r: r.id)
    assert second.search_trial == 1  # then the Best preset's settings
    assert (second.config["learning_rate"], second.config["epochs"], second.config["max_length"]) == (8e-4, 6, 256)
    _finish(second.id, {1: 0.9, 2: 0.95}, right=8)
    coordinator.step(WORKER, estimate_or_none)
    third = max(list_runs(), key=lambda r: r.id)
    assert third.search_trial == 2 and third.config["epochs"] == 4
    _finish(third.id, {1: 0.2}, right=None)  # one epoch trained, far below the others at epoch 1: pruned
    coordinator.step(WORKER, estimate_or_none)
    assert get_run(third.id).cancel_requested and get_run(third.id).status == RUNNING  # the Cancel button's path
    assert run_queue.mark_cancelled(third.id, WORKER)  # what the worker does once its child stopped
    coordinator.step(WORKER, estimate_or_none)

    study = coordinator.load_study(search_id)
    states = [t.state for t in study.trials[:3]]
    assert states == [TrialState.COMPLETE, TrialState.COMPLETE, TrialState.PRUNED]
    assert [t.value for t in study.trials[:2]] == [pytest.approx(0.873, abs=1e-3), 1.0]  # from the validation predictions: 7 and 8 of 8
    assert study.trials[2].intermediate_values == {1: 0.2}
    summary = get_search(search_id).summary
    assert summary["best"]["run_id"] == second.id and summary["best"]["value"] == 1.0
    assert "test_macro_f1" not in summary["best"]  # test figures only for the final pick
    assert summary["pruning"]["pruned"] == 1 and summary["pruning"]["saved_seconds"] > 0
    assert [t["state"] for t in summary["trials"]][:3] == ["complete", "complete", "pruned"]
    assert summary["trials"][3]["state"] == "queued"  # the next trial took the freed place

    # Stopping: the trial in progress is cancelled, the best finished trial stays the pick, with its test figures.
    from storage.searches import request_stop

    request_stop(search_id)
    coordinator.step(WORKER, estimate_or_none)
    assert get_run(summary["trials"][3]["run_id"]).status == CANCELLED  # still queued: cancelled at once
    coordinator.step(WORKER, estimate_or_none)
    search = get_search(search_id)
    assert (search.status, search.best_run_id) == ("stopped", second.id)
    assert search.summary["best"]["test_macro_f1"] == 0.5


def test_no_trial_starts_that_cannot_finish_in_the_budget_left():
    from core.search import coordinator

    dataset = get_dataset(make_dataset())
    search_id = start_search(dataset, "tiny-bert", "lora", 1)
    with session_factory().begin() as s:  # 0.01 s of the minute left: no estimate fits
        s.execute(update(Search).where(Search.id == search_id).values(spent_seconds=59.99))
    coordinator.step(WORKER, estimate_or_none)
    search = get_search(search_id)
    assert list_runs() == []
    assert search.status == "failed" and "No trial could finish in the budget" in search.error
    assert all(t["state"] == "skipped" for t in search.summary["trials"])


def test_a_trial_whose_own_pace_overruns_the_budget_is_stopped_and_slows_the_estimates_after_it():
    """The launch estimate was too hopeful (a busy machine): once the trial's measured ETA says it ends past the
    budget, it is stopped, and the later trials' estimates take its pace: none fits, the search ends and says why."""
    from datetime import timedelta

    from core.search import coordinator
    from storage.models import Run, utcnow

    dataset = get_dataset(make_dataset())
    search_id = start_search(dataset, "tiny-bert", "lora", 2)
    coordinator.step(WORKER, estimate_or_none)
    [run] = list_runs()
    assert run_queue.claim_next(WORKER) == (run.id, False)
    with session_factory().begin() as s:  # a minute of training for 5% of its steps: 20 minutes in all
        s.execute(update(Run).where(Run.id == run.id).values(started_at=utcnow() - timedelta(seconds=60)))
    run_queue.report_progress(run.id, WORKER, step=5, total_steps=100, epoch=0.1, eta_seconds=1140.0)
    coordinator.step(WORKER, estimate_or_none)
    assert get_run(run.id).cancel_requested
    assert run_queue.mark_cancelled(run.id, WORKER)
    coordinator.step(WORKER, estimate_or_none)
    search = get_search(search_id)
    assert search.status == "failed", search.message
    assert "times their estimate" in search.error
    states = [t["state"] for t in search.summary["trials"]]
    assert states[0] == "pruned" and search.summary["trials"][0]["pruned"] == "budget"
    assert set(states[1:]) == {"skipped"} and len(list_runs()) == 1  # no other trial started


def test_the_search_page_follows_a_running_search_and_can_stop_it():
    from streamlit.testing.v1 import AppTest

    from core.search import coordinator

    dataset = get_dataset(make_dataset(name="tickets"))
    search_id = start_search(dataset, "tiny-bert", "lora", 30)
    coordinator.step(WORKER, estimate_or_none)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    at.switch_page("pages/search.py").run()
    assert not at.exception, at.exception
    assert f"Search {search_id}: LoRA" in at.subheader[0].value
    assert any("Training trial #0" in c.value and "tickets" in c.value for c in at.caption)
    assert any("Settings tried: learning rate from 0.0002 to 0.003" in c.value for c in at.caption)
    assert "No trial has finished yet" in at.info[0].value
    assert at.dataframe[0].value[["Trial", "State"]].values.tolist() == [[0, "⏳ queued"], [1, "⏳ waiting"]]
    at.button(key="search_stop").click().run()
    assert not at.exception, at.exception
    assert get_search(search_id).stop_requested


def _worker(home) -> subprocess.Popen:
    env = {**os.environ, "TUNEBOARD_HOME": str(home), "TUNEBOARD_CHECKPOINT_SECONDS": "0", "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "core", "worker", "--poll-seconds", "0.3"], cwd=ROOT, env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _mid_training(run) -> bool:
    """Running, with a checkpoint written inside an epoch (so at least one batch of that epoch is still to train).
    Read from the checkpoint, written after every step here: the run's row hears progress every few seconds, and a
    tiny trial can be scoring its test set, about to finish, by the time its row shows a step."""
    if run.status != RUNNING:
        return False
    try:
        loop = json.loads((run_files(run.id).checkpoint / STATE_FILE).read_text())["loop"]
    except (OSError, ValueError, KeyError):
        return False
    return loop["batches_into_epoch"] > 0


@pytest.mark.slow  # trains tiny random-weight BERTs for 90 s of budget, with a worker killed half-way
def test_a_search_goes_on_from_where_it_was_after_its_worker_is_killed(tuneboard_home):
    from optuna.trial import TrialState

    from core.search import coordinator

    dataset = get_dataset(make_dataset(rows=60))
    search_id = start_search(dataset, "tiny-bert", "lora", 1.5)
    first = _worker(tuneboard_home)
    try:  # mid-trial: a trial has checkpointed some steps and has steps still to train
        wait_for(lambda: any(_mid_training(r) for r in list_runs()), 240, every=0.05, what="a trial training")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    killed = [r.id for r in list_runs() if r.status == RUNNING]
    assert killed
    trials_before = len(coordinator.load_study(search_id).trials)
    second = _worker(tuneboard_home)
    try:
        wait_for(lambda: get_search(search_id).status != "running", 420, every=0.5, what="the search to end")
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=60)
    search = get_search(search_id)
    assert search.status == "finished", search.message
    study = coordinator.load_study(search_id)
    assert len(study.trials) > trials_before  # it went on after the restart
    assert not study.get_trials(states=(TrialState.RUNNING, TrialState.WAITING))
    for run_id in killed:  # the trial killed with its worker was carried on (resumed from its checkpoint), not lost
        run = get_run(run_id)
        assert run.attempt == 2 and "Resumed from the checkpoint" in run_files(run_id).log.read_text()
        # it trains to the end unless the search stops it as it would any trial (median pruner, or over the budget)
        pruned = study.trials[run.search_trial].user_attrs.get("pruned")
        assert run.status == SUCCEEDED or (run.status == CANCELLED and pruned in ("median", "budget")), (
            run.status, pruned, run.message)
    trial_of = {}
    for run in list_runs():
        assert run.search_id == search_id
        trial_of.setdefault(run.search_trial, []).append(run.id)
    assert all(len(ids) == 1 for ids in trial_of.values())  # no trial trained twice
    assert study.get_trials(states=(TrialState.COMPLETE,))  # how many more fit depends on the machine's pace
    assert search.best_run_id == next(run for t, [run] in trial_of.items() if t == study.best_trial.number)
    assert search.summary["best"]["test_macro_f1"] is not None
    # the budget: every trial started within it (spent is measured while a worker drove the search)
    assert search.spent_seconds <= search.budget_seconds * 1.5


@pytest.mark.slow  # trains tiny random-weight BERTs for one minute of budget, through the pages
def test_a_new_user_starts_a_search_closes_the_tab_and_comes_back_to_the_best_settings(tuneboard_home):
    from streamlit.testing.v1 import AppTest

    dataset_id = make_dataset(name="tickets", rows=60)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.session_state["train_model_text"], at.session_state["train_model_other"] = "other", "tiny-bert"
    at.run()
    at.switch_page("pages/train.py").run()
    assert not at.exception
    at.radio(key="train_method_text").set_value("lora").run()
    assert any("It tries: learning rate from" in c.value for c in at.caption)
    at.number_input(key="train_search_budget").set_value(1)
    at.button(key="train_search").click().run()
    assert not at.exception, at.exception
    search_id = at.session_state["train_search_started"]
    assert f"Search #{search_id} started" in at.success[0].value
    del at  # the tab is closed; the worker carries on

    worker = _worker(tuneboard_home)
    try:
        wait_for(lambda: get_search(search_id).status != "running", 420, every=0.5, what="the search to end")
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
    search = get_search(search_id)
    assert search.status == "finished", search.message

    back = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)  # a new session: the tab opened again
    back.run()
    back.switch_page("pages/search.py").run()
    assert not back.exception, back.exception
    cards = {m.label: m.value for m in back.metric}
    best = search.summary["best"]
    assert cards["Validation macro-F1"] == f"{best['value']:.3f}" and "Test macro-F1" in cards
    back.button(key="search_use").click().run()
    assert not back.exception, back.exception
    assert any(f"filled in from run #{best['run_id']}" in i.value for i in back.info)
    assert back.radio(key="train_method_text").value == "lora"
    assert back.number_input(key="train_adv_learning_rate").value == pytest.approx(best["params"]["learning_rate"])
    assert back.number_input(key="train_adv_lora_rank").value == best["params"]["lora_rank"]
    back.switch_page("pages/train.py").run()  # AppTest's own page follows st.switch_page only for that one run
    assert back.number_input(key="train_adv_lora_rank").value == best["params"]["lora_rank"]  # still filled in
    back.button(key="train_launch").click().run()  # trains the best settings as an ordinary run
    assert not back.exception, back.exception
    assert [e.value for e in back.error] == [] and "Queued run" in back.success[0].value, (back.error, back.warning)
    newest = max(list_runs(), key=lambda r: r.id)
    assert newest.search_id is None and newest.status == QUEUED and newest.dataset_id == dataset_id
    assert {k: newest.config[k] for k in best["params"]} == best["params"]
