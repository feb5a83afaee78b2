"""A timed probe of real training on this machine: what a run's time and memory estimate rest on.

The probe does, in a fresh child process as a training run does, what costs a run its time: start-up (imports,
data, model built and the method applied), a warm-up step then PROBE_STEPS timed training steps on the run's own
first batches, one checkpoint written, and PROBE_EVAL_BATCHES timed evaluation batches; then it reads the process's
peak memory (allocated GPU memory on a GPU, resident memory on a CPU). Images are decoded first and timed apart: a
run decodes each image once (later epochs read them from memory or the decoded-image cache), so decoding counts
once per image, not once per epoch. Text steps are scaled from the probed
batches' padded tokens to the epoch's (the order the run will use: grouped batches pad less than the first,
random ones). Head-only runs on cached features time the backbone's forward pass instead of training steps.

A probe takes seconds to half a minute (most of it importing torch and building the model); its answer is kept in
cache_dir()/probes.json under a key of everything that changes the speed (dataset, model, method, batch, length,
image size, device, threads), so the Train page and the queue ask once per choice.

    python -m core.training.probe '{"dataset_dir": ..., "labels": [...], "task": ..., "config": {...}}'
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from core.datasets.files import EXAMPLES_FILE, examples_digest
from core.run_config import RunConfig
from core.training.progress import NullReporter

PROBE_VERSION = 3  # 2: image decoding timed apart from the steps; 3: class-mixed length groups pad differently
PROBE_STEPS = 3
PROBE_EVAL_BATCHES = 2
PROBE_TIMEOUT_S = 300
CACHE_FILE = "probes.json"


@dataclass(frozen=True)
class Probe:
    startup_seconds: float  # process start to data loaded and model ready
    train_seconds_per_example: float  # one training step's share per example, at the epoch's mean padding
    eval_seconds_per_example: float  # evaluation (and, for head only, feature extraction) per example
    checkpoint_seconds: float  # writing one checkpoint
    peak_memory_bytes: int
    features_cached: bool  # head only: the backbone's features for this dataset are cached already
    probe_seconds: float  # how long the probe itself took
    decode_seconds_per_example: float = 0.0  # images: reading one to its working size (a cached one: reading that)


def probe_key(dataset_dir: Path, task: str, config: RunConfig) -> str:
    import torch  # the key names the threads and device the figures were measured with

    data = examples_digest(dataset_dir) if (Path(dataset_dir) / EXAMPLES_FILE).is_file() else str(dataset_dir)
    speed = {k: getattr(config, k) for k in ("model", "method", "preset", "batch_size", "max_length", "image_size",
                                             "eval_batch_size", "length_grouping", "device")}
    blob = json.dumps({"v": PROBE_VERSION, "data": data, "task": task, "speed": speed,
                       "threads": torch.get_num_threads(), "cuda": torch.cuda.is_available()}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def _cache_path() -> Path:
    from storage.paths import cache_dir

    return cache_dir() / CACHE_FILE


def cached_probe(key: str) -> Probe | None:
    try:
        entry = json.loads(_cache_path().read_text()).get(key)
        return Probe(**entry) if entry else None
    except (OSError, ValueError, TypeError):
        return None


def _store(key: str, probe: Probe) -> None:
    path = _cache_path()
    try:
        saved = json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, ValueError):
        saved = {}
    saved[key] = asdict(probe)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(saved, indent=1))
    tmp.replace(path)  # atomic: a page and a worker may probe at the same time


_failed: set[str] = set()  # keys whose probe failed in this process: not tried again on every page rerun


def is_known(key: str) -> bool:
    """measure() answers at once for this key: cached, or failed before in this process."""
    return key in _failed or cached_probe(key) is not None


def measure(dataset_dir: Path, labels: list[str], task: str, config: RunConfig) -> Probe | None:
    """The cached probe for these settings, else a new one in a child process. None when the probe fails (the
    model cannot load, the data is gone...): the caller falls back to the rough estimate, the run says why."""
    key = probe_key(dataset_dir, task, config)
    found = cached_probe(key)
    if found is not None or key in _failed:
        return found
    request = json.dumps({"dataset_dir": str(dataset_dir), "labels": list(labels), "task": task,
                          "config": config.to_dict()})
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))}
    try:
        done = subprocess.run([sys.executable, "-m", "core.training.probe", request], capture_output=True, text=True,
                              timeout=PROBE_TIMEOUT_S, env=env, cwd=root)
        probe = Probe(**json.loads(done.stdout.strip().splitlines()[-1])) if done.returncode == 0 else None
    except (subprocess.TimeoutExpired, ValueError, TypeError, IndexError):
        probe = None
    if probe is None:
        _failed.add(key)
    else:
        _store(key, probe)
    return probe


class _Prefix:
    """The first batches of a split's data, read as the training loop reads data: the probe trains and evaluates
    on the run's own first batches, through the loop's own code."""

    def __init__(self, data, batches: int) -> None:
        self.data, self.batches, self.split = data, batches, data.split
        # the whole split's tokens and padding, so the loop trains the same word-embedding rows as the run's
        self.token_ids, self.pad_id = getattr(data, "token_ids", None), getattr(data, "pad_id", None)

    def __len__(self) -> int:
        return len(self.data)

    def train(self, batch_size: int, seed: int, epoch: int = 0):
        return itertools.islice(self.data.train(batch_size, seed, epoch), self.batches)

    def evaluate(self, batch_size: int):
        return itertools.islice(self.data.evaluate(batch_size), self.batches)

    def num_train_batches(self, batch_size: int) -> int:
        return min(self.batches, self.data.num_train_batches(batch_size))


class _StepClock(NullReporter):
    """A reporter that notes the time of each should_stop() call: the loop asks it before every batch."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def should_stop(self) -> bool:
        self.calls.append(time.perf_counter())
        return False


def run_probe(dataset_dir: Path, labels: list[str], task: str, config: RunConfig) -> Probe:
    """The probe itself, in this process (the child's work; see the module docstring)."""
    import psutil
    import torch

    from core.methods import get_method, set_train_mode
    from core.models.text_inputs import TextBatches, padded_tokens, sorted_batches
    from core.training import features as cached
    from core.training.device import choose_device
    from core.training.loop import FitSettings, fit, predict_logits
    from core.training.run import prepare_model, settings_and_splits, split_batches
    from storage.paths import cache_dir

    process_start = psutil.Process().create_time()
    config, splits = settings_and_splits(task, config, dataset_dir, labels)
    setup = choose_device(config.device)
    built = prepare_model(task, config, labels)
    built.model.to(setup.device)
    if built.image is not None:
        built.model.to(memory_format=torch.channels_last)
    data = split_batches(built, splits, dataset_dir, config)
    startup = time.time() - process_start
    probe_start = time.perf_counter()
    train = data["train"]
    text = isinstance(train, TextBatches)
    evaluated = data["val"] if len(data["val"]) else train
    decode_per_example = 0.0 if text else _time_decoding(train, evaluated, config)

    # evaluation: one batch to warm up, then PROBE_EVAL_BATCHES timed (the validation split where there is one)
    predict_logits(built.model, _Prefix(evaluated, 1), setup, config.eval_batch_size)
    started = time.perf_counter()
    predict_logits(built.model, _Prefix(evaluated, PROBE_EVAL_BATCHES), setup, config.eval_batch_size)
    seen = min(len(evaluated), PROBE_EVAL_BATCHES * config.eval_batch_size)
    eval_per_example = (time.perf_counter() - started) / max(1, seen)
    if text and seen:  # evaluation batches come longest first: scale to the whole split's padded tokens
        order = sorted_batches(evaluated.lengths, config.eval_batch_size)
        probed = padded_tokens(evaluated.lengths, order[:PROBE_EVAL_BATCHES]) / seen
        eval_per_example *= padded_tokens(evaluated.lengths, order) / len(evaluated) / max(1, probed)

    features_cached = cached.supports_cached_features(built)
    if features_cached:  # head only: the backbone's forward pass is the cost; the head trains in seconds
        key = cached.cache_key(dataset_dir, built, config.seed)
        features_cached = ((cache_dir() / "features" / f"{key}.safetensors").is_file()
                           and not get_method(config.method).adapts_backbone)  # its own features, never cached
        train_per_example, checkpoint = 0.0, 0.0
    else:
        # The loop itself on the run's first batches: a warm-up step, PROBE_STEPS timed ones, a last one, then the
        # epoch's checkpoint (the time from the last batch's start to the return, less one step).
        clock = _StepClock()
        settings = FitSettings(epochs=1, learning_rate=config.learning_rate, batch_size=config.batch_size,
                               seed=config.seed, grad_accum=1, checkpoint=True)
        with tempfile.TemporaryDirectory() as folder:
            fit(built.model, lambda: set_train_mode(built), _Prefix(train, PROBE_STEPS + 2), None, settings, setup,
                clock, Path(folder))
            returned = time.perf_counter()
        order = (train.train_order(config.batch_size, config.seed * 1000, 0) if text else
                 [range(i, min(i + config.batch_size, len(train))) for i in range(0, len(train), config.batch_size)])
        starts = clock.calls  # one per batch trained
        window = range(1, len(starts) - 1) if len(starts) >= 3 else range(len(starts))  # too few: time them all
        ends = [starts[i + 1] if i + 1 < len(starts) else returned for i in window]
        step_seconds = sum(end - starts[i] for i, end in zip(window, ends)) / max(1, len(window))
        examples = sum(len(order[i]) for i in window)
        train_per_example = step_seconds * len(window) / max(1, examples)
        checkpoint = max(0.0, returned - starts[-1] - step_seconds) if len(starts) >= 3 else 0.0
        if text and examples:  # scale from the probed batches' padded tokens to the epoch's
            probed = padded_tokens(train.lengths, [order[i] for i in window]) / examples
            train_per_example *= padded_tokens(train.lengths, order) / len(train) / max(1, probed)
    return Probe(startup_seconds=startup, train_seconds_per_example=train_per_example,
                 eval_seconds_per_example=eval_per_example, checkpoint_seconds=checkpoint,
                 peak_memory_bytes=setup.peak_memory_bytes(), features_cached=features_cached,
                 probe_seconds=time.perf_counter() - probe_start, decode_seconds_per_example=decode_per_example)


def _time_decoding(train, evaluated, config: RunConfig) -> float:
    """Seconds per image to bring the images the probe's steps and evaluation will use to their working size (then
    kept in memory, so the timed steps below are the ones of later epochs)."""
    steps = train.train_order(config.batch_size, config.seed * 1000, 0)[:PROBE_STEPS + 2]
    wanted = [(train, p) for batch in steps for p in batch]
    wanted += [(evaluated, p) for p in range(min(len(evaluated), (PROBE_EVAL_BATCHES + 1) * config.eval_batch_size))]
    started = time.perf_counter()
    for images, position in wanted:
        images.working(position)
    return (time.perf_counter() - started) / max(1, len(wanted))


def main(argv: list[str] | None = None) -> int:
    request = json.loads((argv or sys.argv[1:])[0])
    probe = run_probe(Path(request["dataset_dir"]), request["labels"], request["task"],
                      RunConfig.from_dict(request["config"]))
    print(json.dumps(asdict(probe)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
