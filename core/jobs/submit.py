"""Queue a run together with its estimate: the one way the Train page and the command line start training.

The estimate is made once, when the run is queued (core.training.estimate): the queue tells later runs when they
should start from it, and Runs shows it beside the time and memory the run took.
"""

from __future__ import annotations

import os
from typing import Any

from core.catalog import ModelLoadError
from core.datasets.store import dataset_dir
from core.run_config import RunConfig
from core.training.data import load_splits
from core.training.estimate import estimate, from_probe
from core.training.image_sizing import sized_to_data
from core.training.probe import is_known, measure, probe_key
from storage.run_requests import enqueue, enqueue_claimed

# "probe" (default): time real training steps once per choice; "rough": the table-based estimate only (tests
# that open pages by the dozen, where a probe would add seconds each and what they check is not the estimate).
ESTIMATE_ENV = "TUNEBOARD_ESTIMATE"


def train_examples(dataset) -> int:
    """Training examples of a stored dataset (all of them for a dataset stored before splits were counted)."""
    return int((dataset.split_counts or {}).get("train", dataset.num_examples))


def probing() -> bool:
    return os.environ.get(ESTIMATE_ENV, "probe") != "rough"


def has_measured(dataset, config: RunConfig) -> bool:
    """Whether run_estimate answers at once: no probe wanted, or this choice's probe is cached or failed before
    (else it takes up to half a minute to time the steps)."""
    return not probing() or is_known(probe_key(dataset_dir(dataset), dataset.task, config))


def run_estimate(dataset, config: RunConfig, can_probe: bool = True) -> dict[str, Any]:
    """From a probe of real steps on this machine when one can run (`can_probe`: the model is on this machine),
    else the rough estimate. Raises what the rough estimate raises for settings it cannot read (ValueError) or a
    model it cannot find (ModelLoadError)."""
    probe = None
    if can_probe and probing():  # the probe sizes the images itself, as training does
        probe = measure(dataset_dir(dataset), list(dataset.labels), dataset.task, config)
    sized = images_sized_to_data(dataset, config)
    if probe is not None:
        return from_probe(dataset.task, sized, dataset.split_counts or {"train": dataset.num_examples}, probe)
    return estimate(dataset.task, sized, train_examples(dataset))


def images_sized_to_data(dataset, config: RunConfig) -> RunConfig:
    """The image size training will pick from this dataset's training images when the user left it blank."""
    if dataset.task != "image" or config.image_size:
        return config
    folder = dataset_dir(dataset)  # the training images as training reads them (core.training.data.load_splits)
    return sized_to_data(dataset.task, config, folder, load_splits(folder, list(dataset.labels))["train"].inputs)


def estimate_or_none(dataset, config: RunConfig) -> dict[str, Any]:
    """The estimate kept with a queued run: measured if the Train page (or a benchmark) probed this choice
    already, else the rough one; queueing itself never waits for a probe (the command line prints the id at once)."""
    try:
        return run_estimate(dataset, config, can_probe=has_measured(dataset, config))
    except (ValueError, ModelLoadError):  # the run itself will say what to fix; the queue shows no start time
        return {}


def queue_run(dataset, config: RunConfig, name: str) -> int:
    return enqueue(dataset.id, config.to_dict(), name=name, estimate=estimate_or_none(dataset, config))


def start_run_here(dataset, config: RunConfig, name: str, worker_id: str) -> int:
    """A run the command line trains in its own process (claimed at once, never queued)."""
    return enqueue_claimed(dataset.id, config.to_dict(), worker_id, name=name,
                           estimate=estimate_or_none(dataset, config))
