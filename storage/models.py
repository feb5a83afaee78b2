"""Typed SQLAlchemy 2.0 models. The `runs` row is the one truth about a run's state."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def json_safe(value: Any) -> Any:
    """A copy fit for a JSON column (numpy scalars and arrays from training become floats and lists)."""
    def default(o: Any) -> Any:
        if hasattr(o, "tolist"):
            return o.tolist()
        return str(o)
    return json.loads(json.dumps(value, default=default))


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


# Run states. Only the worker moves a run between them (the UI only *requests* a cancel).
QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED, INTERRUPTED = (
    "queued", "running", "succeeded", "failed", "cancelled", "interrupted",
)
ACTIVE_STATES = (QUEUED, RUNNING)
FINAL_STATES = (SUCCEEDED, FAILED, CANCELLED, INTERRUPTED)
RESUMABLE_STATES = (INTERRUPTED, CANCELLED, FAILED)  # stopped before the end: a checkpoint may continue it
RETRYABLE_STATES = (INTERRUPTED, CANCELLED, FAILED, SUCCEEDED)  # trained again from the start, as a new run


class Dataset(Base):
    __tablename__ = "datasets"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    task: Mapped[str] = mapped_column(String(20))  # "text" | "image"
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    source_name: Mapped[str] = mapped_column(String(500), default="")
    # Hash of the uploaded content and the column choices, so the CLI can reuse a stored dataset.
    fingerprint: Mapped[str] = mapped_column(String(64), default="", index=True)
    # Folder (relative to the data home) holding examples.csv and, for images, the image files.
    path: Mapped[str] = mapped_column(String(500), default="")
    num_examples: Mapped[int] = mapped_column(Integer, default=0)
    labels: Mapped[list[Any]] = mapped_column(default=list)  # sorted class names; index = label id
    split_counts: Mapped[dict[str, Any]] = mapped_column(default=dict)  # {"train": n, "val": n, "test": n}
    split_seed: Mapped[int] = mapped_column(Integer, default=42)
    report: Mapped[dict[str, Any]] = mapped_column(default=dict)  # the validation report shown at upload
    # What the pilot needs of a model on this data (core.evaluation.verdict.Target as a dict; {} = none set):
    # every run of the dataset is judged against it.
    target: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # How the classes are shown (core/datasets/label_names.py): raw label -> display name, only those that differ.
    display_names: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Versions (core/datasets/versions.py, migration 0013): a change (relabels, drops, rows added, classes added, a
    # review's fixes) stores a new dataset row whose `parent_id` is the version it was made from. `lineage_id` is
    # version 1's id (None on version 1 itself, and on a fixed copy stored before migration 0014, whose rows carry
    # no ids: it names its parent but is not one of its versions).
    parent_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    lineage_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    # What differs from the dataset it was made from (a review's fixes or a version's changes); {} = uploaded.
    changes: Mapped[dict[str, Any]] = mapped_column(default=dict)

    runs: Mapped[list[Run]] = relationship(back_populates="dataset", cascade="all, delete-orphan")


class Run(Base):
    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)  # core.run_config.RunConfig as chosen, as a dict
    status: Mapped[str] = mapped_column(String(20), default=QUEUED, index=True)
    # Progress, written by the worker while it trains.
    progress: Mapped[float] = mapped_column(Float, default=0.0)  # 0..1
    epoch: Mapped[float] = mapped_column(Float, default=0.0)
    step: Mapped[int] = mapped_column(Integer, default=0)
    total_steps: Mapped[int] = mapped_column(Integer, default=0)
    eta_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    samples_per_second: Mapped[float | None] = mapped_column(Float, nullable=True)
    message: Mapped[str] = mapped_column(Text, default="")  # the latest human-readable phase
    error: Mapped[str] = mapped_column(Text, default="")  # one plain sentence; details go to the log
    # Timings.
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    train_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    # Who runs it.
    worker_id: Mapped[str] = mapped_column(String(100), default="")
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    resume_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    # "Resume automatically": when its worker dies or stops, the run is resumed by any worker (from its last
    # checkpoint, or from the start without one) instead of waiting for the user; at most AUTO_RESUME_ATTEMPTS.
    auto_resume: Mapped[bool] = mapped_column(Boolean, default=False)
    # Results.
    device: Mapped[str] = mapped_column(String(50), default="")
    trainable_params: Mapped[int | None] = mapped_column(Integer, nullable=True)
    total_params: Mapped[int | None] = mapped_column(Integer, nullable=True)
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)  # final test metrics
    # What the preset and the user's settings resolved to (learning rate, epochs, batch, max length...) and how
    # far training went (epochs_run, steps): "Quick" means different things for different methods and data.
    training: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Made when it was queued (core.training.estimate): {"seconds", "memory_bytes", "epochs", "device"}; the queue
    # says from it when later runs start, and Runs shows it beside what the run took.
    estimate: Mapped[dict[str, Any]] = mapped_column(default=dict)
    threshold: Mapped[float | None] = mapped_column(Float, nullable=True)  # two-class decision threshold
    # core.evaluation.calibration.Calibration: the temperature fitted on validation, the test ECE before and after.
    calibration: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # The operating point (core.evaluation.decision): answers whose calibrated probability is below it are uncertain.
    min_confidence: Mapped[float | None] = mapped_column(Float, nullable=True)
    artifact_dir: Mapped[str] = mapped_column(String(500), default="")  # relative to the data home
    size_bytes: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # A trial of a settings search (storage.searches): the search and the trial's number in its Optuna study.
    search_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    search_trial: Mapped[int | None] = mapped_column(Integer, nullable=True)

    dataset: Mapped[Dataset] = relationship(back_populates="runs")
    points: Mapped[list[MetricPoint]] = relationship(cascade="all, delete-orphan")
    predictions: Mapped[list[Prediction]] = relationship(cascade="all, delete-orphan")


class MetricPoint(Base):
    """One per-step or per-epoch value: train loss, learning rate, validation accuracy..."""

    __tablename__ = "metric_points"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    step: Mapped[int] = mapped_column(Integer)
    epoch: Mapped[float] = mapped_column(Float, default=0.0)
    name: Mapped[str] = mapped_column(String(50))  # e.g. "train_loss", "val_accuracy", "val_macro_f1"
    value: Mapped[float] = mapped_column(Float)


TEST, VALIDATION = "test", "val"  # Prediction.split: the test split judges; validation predictions make choices


class Prediction(Base):
    """The finished model's prediction for one test or validation example, so results can be recomputed and
    browsed, and choices (threshold, operating point, temperature, best run) made on validation only."""

    __tablename__ = "predictions"
    __table_args__ = (Index("ix_predictions_run_id_split", "run_id", "split"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    split: Mapped[str] = mapped_column(String(10), default=TEST, server_default=TEST)
    example_index: Mapped[int] = mapped_column(Integer)  # row in the dataset's examples.csv
    true_label: Mapped[str] = mapped_column(String(200))
    predicted_label: Mapped[str] = mapped_column(String(200))
    confidence: Mapped[float] = mapped_column(Float)
    probabilities: Mapped[list[Any]] = mapped_column(default=list)  # one per class, dataset label order


# Export states (storage.export_queue). "offered": verified and downloadable; "refused": made, but it failed its check.
EXPORT_QUEUED, EXPORT_RUNNING, OFFERED, REFUSED, EXPORT_FAILED, EXPORT_INTERRUPTED = (
    "queued", "running", "offered", "refused", "failed", "interrupted",
)


class ExportJob(Base):
    """One export of a finished run in one format, built in the background by a worker (core.jobs.export_runner).
    The row is the one truth about it, as for runs; its files live in the run's folder (runs/<id>/exports/<id>/)."""

    __tablename__ = "exports"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    format: Mapped[str] = mapped_column(String(20))  # core.export.FORMATS: hf | adapter | onnx | onnx-int8
    status: Mapped[str] = mapped_column(String(20), default=EXPORT_QUEUED, index=True)
    message: Mapped[str] = mapped_column(Text, default="")  # the current step, e.g. "Checking model.onnx"
    error: Mapped[str] = mapped_column(Text, default="")  # failed: one plain sentence
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    worker_id: Mapped[str] = mapped_column(String(100), default="")
    path: Mapped[str] = mapped_column(String(500), default="")  # the export folder, relative to the data home
    zip_path: Mapped[str] = mapped_column(String(500), default="")  # its zip (offered exports), relative
    result: Mapped[dict[str, Any]] = mapped_column(default=dict)  # core.export.ExportResult.to_dict()


# Search states (storage.searches): a search runs until its budget is spent (or its stop is asked), then it is
# finished (a best run found), stopped (by the user) or failed (no trial could finish).
SEARCH_RUNNING, SEARCH_FINISHED, SEARCH_STOPPED, SEARCH_FAILED = "running", "finished", "stopped", "failed"


class Search(Base):
    """A settings search on one dataset, model and method within a time budget (core.search). Its trials are
    ordinary runs (runs.search_id); the Optuna study that picks their settings is stored in this same database
    (study name `tuneboard-search-<id>`, optuna's tables made by migration 0010). A worker drives it: whoever holds
    the lease (`coordinator`, until `lease_until`) asks the study for settings, queues them and reports back."""

    __tablename__ = "searches"

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    model: Mapped[str] = mapped_column(String(500), default="")
    method: Mapped[str] = mapped_column(String(50), default="")
    budget_seconds: Mapped[float] = mapped_column(Float, default=1800.0)
    # Budget spent: time while a worker drove the search (time with no worker running is not counted).
    spent_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    status: Mapped[str] = mapped_column(String(20), default=SEARCH_RUNNING, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    last_step_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    coordinator: Mapped[str] = mapped_column(String(100), default="")  # the worker driving it now
    lease_until: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    stop_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    message: Mapped[str] = mapped_column(Text, default="")  # what it is doing, in one sentence
    error: Mapped[str] = mapped_column(Text, default="")
    best_run_id: Mapped[int | None] = mapped_column(Integer, nullable=True)  # the pick, on validation
    # What the page shows, written by the coordinator after every step: trials (settings, state, validation
    # curve, times), the best so far, the time pruning saved, and which settings mattered (Optuna's importances).
    summary: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Worker(Base):
    """A live worker process; the app starts one only if no heartbeat is recent."""

    __tablename__ = "workers"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)  # host:pid:start
    hostname: Mapped[str] = mapped_column(String(200), default="")
    pid: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    stopped: Mapped[bool] = mapped_column(Boolean, default=False)
    device: Mapped[str] = mapped_column(String(100), default="")  # "CPU" or "GPU 0, 1": what its runs train on
    data_home: Mapped[str] = mapped_column(String(500), default="")  # TUNEBOARD_HOME as this worker sees it
    current_runs: Mapped[list[Any]] = mapped_column(default=list)  # ids of the runs it trains now


class DataFolder(Base):
    """The data folder this database belongs to: one row, whose id is also written into the folder
    (storage.data_folder), so a worker on another machine can tell it was started with the wrong folder."""

    __tablename__ = "data_folders"

    id: Mapped[int] = mapped_column(primary_key=True)  # always 1
    folder_id: Mapped[str] = mapped_column(String(36))  # a uuid4
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200), default="")  # the process that bound it (host:pid:start)


class ApiKey(Base):
    """A key for the prediction API (core.api). Only its sha256 is stored: the key itself is shown once, when made."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")  # what the user calls it, e.g. "CRM integration"
    prefix: Mapped[str] = mapped_column(String(20), default="")  # the key's first characters, to recognise it by
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 hex of the whole key
    requests_per_minute: Mapped[int] = mapped_column(Integer, default=120)  # the key's rate limit (a burst as large)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)  # to the minute
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)  # set: refused from then on
    log_inputs: Mapped[bool] = mapped_column(Boolean, default=False)  # keep the texts this key sends (opt-in)


class ApiPrediction(Base):
    """One answer the prediction API gave (core.api): what the Monitor page counts. The input itself is kept only
    when the key opts in (ApiKey.log_inputs), and only texts."""

    __tablename__ = "api_predictions"
    __table_args__ = (Index("ix_api_predictions_request", "request_id", "answer_index"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    request_id: Mapped[str] = mapped_column(String(32))  # the answers of one request share it (and its latency)
    key_id: Mapped[int | None] = mapped_column(Integer, nullable=True)  # None: a server run with --no-auth
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    latency_ms: Mapped[float] = mapped_column(Float)  # the whole request's prediction time on the server
    label: Mapped[str] = mapped_column(String(200))
    confidence: Mapped[float] = mapped_column(Float)  # calibrated
    uncertain: Mapped[bool] = mapped_column(Boolean, default=False)
    answer_index: Mapped[int] = mapped_column(Integer, default=0)  # the answer's `index` in the request, from 0
    true_label: Mapped[str | None] = mapped_column(String(200), nullable=True)  # sent to POST /v1/feedback
    feedback_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    input_text: Mapped[str | None] = mapped_column(Text, nullable=True)  # only when the key opts in
    # Answers given through a named endpoint: its name, the run's role there ("champion" | "challenger") and
    # whether the answer was a shadow's (computed and logged, not returned to the caller).
    endpoint: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    role: Mapped[str | None] = mapped_column(String(20), nullable=True)
    shadow: Mapped[bool] = mapped_column(Boolean, default=False)


# Endpoint modes (storage.endpoints): the champion alone, a share of requests to the challenger, or both answering.
CHAMPION_ONLY, SPLIT, SHADOW = "off", "split", "shadow"
CHAMPION, CHALLENGER = "champion", "challenger"  # ApiPrediction.role


class Endpoint(Base):
    """A named address (/v1/endpoints/{name}/predict) that serves its champion run, and may send a share of the
    requests to a challenger run (split) or have the challenger answer every request unseen (shadow)."""

    __tablename__ = "endpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    # SET NULL: deleting a run leaves the endpoint, which then says plainly that it has no run to answer with.
    champion_run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"), nullable=True)
    challenger_run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"), nullable=True)
    mode: Mapped[str] = mapped_column(String(10), default=CHAMPION_ONLY)
    challenger_share: Mapped[float] = mapped_column(Float, default=0.0)  # split: the share of requests, 0..1
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    promoted_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)  # the challenger last promoted
