"""The Runs page (AppTest): every run with status and progress; the selected run's curves, log and actions."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from core.jobs.runner import execute_run
from storage import run_queue
from storage.paths import run_dir, run_files
from storage.processes import process_identity
from storage.run_requests import enqueue
from storage.runs import get_run, list_runs
from storage.workers import register_worker
from tests.conftest import ROOT
from tests.tiny_training import make_dataset, train_tiny

CONFIG = {"model": "tiny", "method": "lora", "preset": "quick"}


def open_runs_page(run_id: int | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    if run_id is not None:
        at.query_params["run"] = str(run_id)
    return at.switch_page("pages/runs.py").run()


def test_without_runs_the_page_points_to_train():
    at = open_runs_page()
    assert not at.exception
    assert "No runs yet" in at.info[0].value


def test_lists_runs_with_status_progress_and_eta():
    dataset_id = make_dataset(name="tickets")
    queued = enqueue(dataset_id, CONFIG)
    running = enqueue(dataset_id, {**CONFIG, "method": "full"})
    run_queue.claim_next("w1")  # takes `queued`, the older one ...
    run_queue.claim_next("w1")  # ... and `running`
    run_queue.mark_cancelled(queued, "w1")
    run_queue.report_progress(running, "w1", step=30, total_steps=40, epoch=1.5, message="Epoch 2/2", eta_seconds=75.0,
                              samples_per_second=12.5)
    at = open_runs_page(running)
    assert not at.exception
    table = at.dataframe[0].value
    assert table[["Run", "Status", "Progress", "ETA", "Method"]].values.tolist() == [
        [running, "running", 0.75, "1 min 15 s", "full"], [queued, "cancelled", 0.0, "", "lora"]]
    progress = at.get("progress")[0].proto
    assert (progress.value, progress.text) == (75, "Epoch 2/2 · epoch 1.5 · step 30/40 · 12.5 examples/s · about 1 min 15 s left")


@pytest.mark.slow  # trains a tiny model
def test_a_finished_run_shows_curves_results_and_its_log():
    run_id = enqueue(make_dataset(), {**CONFIG, "epochs": 2})
    worker_id = process_identity()
    run_queue.claim_next(worker_id)
    assert execute_run(run_id, worker_id, train_fn=train_tiny).status == "succeeded"
    at = open_runs_page(run_id)
    assert not at.exception
    charts = at.get("plotly_chart")
    assert len(charts) == 2  # loss and validation curves
    assert any("Test accuracy" in c.value for c in at.caption)
    assert "database bookkeeping took" in at.code[0].value  # the log tail
    assert [link.proto.query_string for link in at.main.get("page_link") if "Clone" in link.proto.label] == [
        f"clone={run_id}"]
    assert not [b for b in at.button if b.key == f"runs_cancel_{run_id}"]  # nothing to cancel


def test_cancel_a_queued_run_from_the_page():
    run_id = enqueue(make_dataset(), CONFIG)
    at = open_runs_page(run_id)
    at.button(key=f"runs_cancel_{run_id}").click().run()
    assert not at.exception
    assert get_run(run_id).status == "cancelled"


def test_cancel_a_running_run_only_requests_it():
    run_id = enqueue(make_dataset(), CONFIG)
    run_queue.claim_next("w1")
    at = open_runs_page(run_id)
    at.button(key=f"runs_cancel_{run_id}").click().run()
    assert not at.exception
    run = get_run(run_id)
    assert (run.status, run.cancel_requested) == ("running", True)


@pytest.mark.slow  # about a second: several runs of the page
def test_retry_and_clone_queue_new_runs_and_select_them():
    run_id = enqueue(make_dataset(), CONFIG)
    run_queue.claim_next("w1")
    run_queue.fail(run_id, "w1", "The model could not be loaded.")
    at = open_runs_page(run_id)
    assert "The model could not be loaded." in at.error[0].value
    at.button(key=f"runs_retry_{run_id}").click().run()
    assert not at.exception
    retry = max(r.id for r in list_runs())
    assert get_run(retry).status == "queued" and get_run(retry).config == get_run(run_id).config
    assert at.selectbox(key="runs_selected").value == retry
    # Clone queues nothing: it links to Train with the run named, where its settings are filled in.
    [clone] = [link for link in at.main.get("page_link") if "Clone" in link.proto.label]
    assert (clone.proto.page, clone.proto.query_string) == ("train", f"clone={retry}")
    assert len(list_runs()) == 2


def test_clone_opens_train_with_the_runs_settings_and_queues_nothing():
    first, second = make_dataset(name="first"), make_dataset(name="second")
    config = {"model": "tiny-bert", "method": "ia3", "preset": "balanced", "epochs": 3, "seed": 7,
              "class_weighting": True}
    run_id = enqueue(first, config)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.query_params["clone"] = str(run_id)
    at.run()
    at.switch_page("pages/train.py").run()
    assert not at.exception and not at.warning
    assert f"The settings of run #{run_id} are filled in" in at.info[0].value
    assert at.selectbox(key="train_dataset").value == first != second
    assert (at.radio(key="train_model_text").value, at.text_input(key="train_model_other").value) == (
        "other", "tiny-bert")
    assert (at.radio(key="train_method_text").value, at.radio(key="train_preset").value) == ("ia3", "balanced")
    assert (at.number_input(key="train_adv_epochs").value, at.number_input(key="train_adv_seed").value) == (3, 7)
    assert at.checkbox(key="train_adv_class_weighting").value is True
    assert len(list_runs()) == 1  # nothing queued until Launch
    at.button(key="train_launch").click().run()
    assert not at.exception
    [new, _] = list_runs()
    assert {k: new.config[k] for k in config} == config and new.id != run_id
    assert f"Queued run #{new.id}" in at.success[0].value
    # Another dataset picked: the confirmation was about the first one, so it goes.
    at.selectbox(key="train_dataset").set_value(second).run()
    assert not at.success


def test_resume_is_not_offered_without_a_checkpoint_and_the_page_says_why():
    run_id = enqueue(make_dataset(), CONFIG)
    run_queue.claim_next("w1")
    run_queue.mark_interrupted(run_id, "w1", "Interrupted: its worker stopped.")
    at = open_runs_page(run_id)
    assert not at.exception
    assert not [b for b in at.button if b.key == f"runs_resume_{run_id}"]
    assert any("Resume is not offered: this run was interrupted before its first checkpoint" in c.value
               for c in at.caption)


def test_resume_an_interrupted_run_with_a_checkpoint():
    run_id = enqueue(make_dataset(), CONFIG)
    run_queue.claim_next("w1")
    run_queue.mark_interrupted(run_id, "w1", "Interrupted: its worker stopped.")
    run_files(run_id).checkpoint.mkdir(parents=True)
    (run_files(run_id).checkpoint / "state.pt").write_bytes(b"x")
    at = open_runs_page(run_id)
    at.button(key=f"runs_resume_{run_id}").click().run()
    assert not at.exception
    assert get_run(run_id).resume_requested


def test_the_sidebar_tells_whether_a_worker_is_alive():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    assert "Worker: none running" in at.sidebar.caption[-1].value
    register_worker(process_identity())  # this test process stands in as a live worker
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    assert not at.exception
    assert at.sidebar.caption[-1].value == "Worker: 1 running, idle."


@pytest.mark.slow  # trains a tiny model, then several runs of the page
def test_delete_a_finished_run_from_the_page():
    dataset_id = make_dataset()
    worker_id = process_identity()
    kept = enqueue(dataset_id, CONFIG)
    doomed = enqueue(dataset_id, CONFIG)
    for _ in (kept, doomed):
        run_id, _resume = run_queue.claim_next(worker_id)
        assert execute_run(run_id, worker_id, train_fn=train_tiny).status == "succeeded"
    at = open_runs_page(doomed)
    at.button(key=f"runs_delete_{doomed}").click().run()
    assert not at.exception
    assert [r.id for r in list_runs()] == [kept] and not run_dir(doomed).exists()
    assert at.selectbox(key="runs_selected").value == kept  # the page moved on to a run that exists
    assert at.dataframe[0].value["Run"].tolist() == [kept]


def test_a_running_run_cannot_be_deleted_from_the_page():
    run_id = enqueue(make_dataset(), CONFIG)
    run_queue.claim_next("w1")
    at = open_runs_page(run_id)
    assert not at.exception
    assert not [b for b in at.button if b.key == f"runs_delete_{run_id}"]


@pytest.mark.slow  # a finished run (tests/finished_runs.py: a CLI process)
def test_settings_show_what_a_real_run_resolved_to_and_how_far_it_trained(tuneboard_home):
    from tests.finished_runs import text_run, use_run

    run_id = use_run(text_run(), tuneboard_home)
    at = open_runs_page(run_id)
    assert not at.exception
    trained = get_run(run_id).training
    assert trained["epochs_run"] >= 1 and trained["learning_rate"] > 0
    [settings] = [d.value for d in at.dataframe if list(d.value.columns) == ["setting", "value", "from"]]
    rows = {row.setting: (row.value, row["from"]) for _, row in settings.iterrows()}
    assert rows["Update steps"] == (str(trained["steps"]), "training")
    assert rows["Epochs trained"] == (str(trained["epochs_run"]), "training")
    assert rows["Method"][1] == "your choice" and rows["Batch size"] == (str(trained["batch_size"]), "the quick preset")
    assert "None" not in settings.to_string()


@pytest.mark.slow  # 501 runs queued: about 2 s
def test_with_more_runs_than_the_table_lists_the_page_says_so():
    dataset_id = make_dataset()
    for _ in range(501):  # one more than storage.runs.list_runs returns by default
        enqueue(dataset_id, CONFIG)
    at = open_runs_page()
    assert not at.exception
    assert len(at.dataframe[0].value) == 500
    assert any(c.value == "Showing the newest 500 of 501 runs." for c in at.caption)


def test_a_failure_inside_the_live_part_reads_as_one_sentence_with_the_traceback_folded_away(tuneboard_home):
    """The live overview and detail are fragments: their reruns never pass through app.py's handler, so they
    carry their own. The failure here: the run's log path is a folder (a damaged data folder)."""
    run_id = enqueue(make_dataset(), CONFIG)
    run_queue.claim_next("w1")
    run_files(run_id).log.parent.mkdir(parents=True, exist_ok=True)
    run_files(run_id).log.mkdir()
    at = open_runs_page(run_id)
    [error] = at.error
    assert error.value.startswith("Something went wrong on this page: reload it to try again")
    [details] = [e for e in at.main.expander if e.label == "Technical details"]
    assert not details.proto.expanded
    [folded] = details.exception
    assert "Is a directory" in folded.message
    assert len(at.exception) == 1  # no second, unfolded traceback beside it
    assert at.dataframe[0].value["Run"].tolist() == [run_id]  # the rest of the page still shows


def test_a_waiting_run_says_its_place_and_when_it_should_start():
    dataset_id = make_dataset()
    running = enqueue(dataset_id, CONFIG, estimate={"seconds": 600.0})
    first = enqueue(dataset_id, CONFIG, estimate={"seconds": 150.0})
    second = enqueue(dataset_id, CONFIG, estimate={"seconds": 60.0})
    worker = process_identity()
    register_worker(worker)
    run_queue.claim_next(worker)
    run_queue.report_progress(running, worker, step=1, total_steps=4, epoch=0.25, eta_seconds=90.0)
    at = open_runs_page(second)
    assert not at.exception
    assert at.get("progress")[0].proto.text == "Waiting: 1 run ahead of it · should start in about 4 min 00 s"
    table = at.dataframe[0].value.set_index("Run")
    assert table.loc[first, "ETA"] == "#1 in line, starts in ~1 min 30 s"
    assert table.loc[second, "ETA"] == "#2 in line, starts in ~4 min 00 s"


def test_a_waiting_run_without_a_worker_says_it_waits_for_one():
    run_id = enqueue(make_dataset(), CONFIG, estimate={"seconds": 60.0})
    at = open_runs_page(run_id)
    assert at.get("progress")[0].proto.text == "Waiting: next in line · starts once a worker is running"
    assert "No worker is running" in at.warning[0].value


def test_the_page_lists_the_live_workers_of_every_machine_with_their_device_and_runs():
    from storage.workers import heartbeat, stop_worker

    run_id = enqueue(make_dataset(), CONFIG)
    remote = "gpu-box-1:4242:1700000000"  # a worker on another machine: only its heartbeat says it is alive
    register_worker(remote, device="GPU 0, 1", data_home="/mnt/tuneboard")
    assert run_queue.claim_next(remote) == (run_id, False)
    heartbeat(remote, [run_id])
    register_worker(process_identity(), device="CPU (2 cores)")  # this test process: a live, idle local worker
    register_worker("old-box:1:1", device="CPU (4 cores)")
    stop_worker("old-box:1:1")  # a worker that stopped is not listed
    at = open_runs_page(run_id)
    assert not at.exception
    assert "Workers: 2 alive" in [e.label for e in at.expander]
    table = next(d.value for d in at.dataframe if "Machine" in d.value.columns)
    rows = {row["Machine"]: row for row in table.to_dict("records")}
    assert set(rows) == {"gpu-box-1", process_identity().split(":")[0]}
    assert (rows["gpu-box-1"]["Device"], rows["gpu-box-1"]["Training"]) == ("GPU 0, 1", f"run {run_id}")
    assert rows[process_identity().split(":")[0]]["Training"] == "idle"


def test_resume_automatically_is_switched_on_and_off_for_a_run_from_the_page():
    run_id = enqueue(make_dataset(), CONFIG)
    at = open_runs_page(run_id)
    toggle = at.toggle(key=f"runs_auto_resume_{run_id}")
    assert toggle.value is False
    toggle.set_value(True).run()
    assert not at.exception and get_run(run_id).auto_resume
    at.toggle(key=f"runs_auto_resume_{run_id}").set_value(False).run()
    assert get_run(run_id).auto_resume is False
