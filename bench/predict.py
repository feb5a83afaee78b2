"""Prediction: warm single-input latency (p50 / p95) and batch throughput, text and image, each side by side
with a plain baseline on the same saved model in the same process:

- text: Tuneboard's `predict_service.predict_one` / `score` (what the Predict page calls) against a plain
  `transformers.pipeline("text-classification")` loaded from the run's saved model folder;
- image: the same calls against the `efficientnet_lite_pytorch` network loaded with the run's weights and fed
  by plain PIL preprocessing (resize to the run's image size, 288 px by default, normalise), one forward per
  call: the network does the same work on both sides.

In the full mode the single-text latency is also timed while a MiniLM full fine-tuning run trains in another
process (the usual case when someone tries a model while the next one trains), with the Predict page's one
thread per prediction against torch's default threads.

The runs are head-only runs trained through the command line in a temporary data folder (the weights' values do
not change the cost; the model is the default MiniLM / EfficientNet-Lite0 with the head the user trains).
Single inputs are timed one at a time after a warm-up, on real SMS texts spread over the file (short and long)
and on the real ants/bees photos.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from bench.common import ANTS_BEES, ROOT, markdown_table, read_sms, require, sms_sample, train_with_cli, verdict
from storage.paths import RunFiles

TARGET_P95_MS = 50.0  # warm single text, default text model, 2-core CPU
TEXT_TRAIN_ROWS = 600


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    position = share * (len(ordered) - 1)  # linear interpolation between the closest ranks
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def latency(call: Callable[[Any], Any], items: list[Any], warmup: int) -> dict[str, float]:
    for item in items[:warmup]:
        call(item)
    timings = []
    for item in items[warmup:]:
        start = time.perf_counter()
        call(item)
        timings.append((time.perf_counter() - start) * 1000)
    return {"p50_ms": round(percentile(timings, 0.5), 2), "p95_ms": round(percentile(timings, 0.95), 2),
            "mean_ms": round(statistics.fmean(timings), 2), "n": len(timings)}


def throughput(call: Callable[[list[Any]], Any], items: list[Any]) -> float:
    call(items[:8])  # warm-up
    start = time.perf_counter()
    call(items)
    return len(items) / (time.perf_counter() - start)


def train_head_run(home: Path, data: Path) -> Path:
    run = train_with_cli(home, data, "--method", "head", "--epochs", "1")
    return home / "runs" / str(run.result["run_id"])


def start_background_training(home: Path, data: Path) -> subprocess.Popen:
    """A MiniLM full fine-tuning run in its own process, to keep the CPU busy while predictions are timed."""
    env = {**os.environ, "TUNEBOARD_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    process = subprocess.Popen([sys.executable, "-m", "core", "train", "--data", str(data), "--method", "full",
                                "--epochs", "20"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    time.sleep(25)  # past start-up, model loading and tokenising: into the training steps
    return process


def busy_latency(scratch: Path, data: Path, call_one: Callable[[Any], Any], call_all: Callable[[Any], Any],
                 items: list[Any]) -> dict[str, Any]:
    """Single-text latency while a training run shares the CPU: one thread (ours) and torch's default threads."""
    background = start_background_training(scratch / "busy_home", data)
    try:
        one_thread = latency(call_one, items, 10)
        all_threads = latency(call_all, items, 10)
        still_training = background.poll() is None
    finally:
        background.terminate()
        background.wait()
    return {"one_thread": one_thread, "default_threads": all_threads, "training_ran_throughout": still_training}


def text_part(scratch: Path, singles: int, batch: int, busy: bool) -> dict[str, Any]:
    from transformers import pipeline

    from core.serving.inference import load_predictor
    from core.evaluation.decision import DecisionRule
    from core.serving.predict_service import predict_one, score

    frame = read_sms()
    data = sms_sample(TEXT_TRAIN_ROWS, scratch)
    run_dir = train_head_run(scratch / "text_home", data)
    texts = frame["SMS"].tolist()
    spread = texts[:: max(1, len(texts) // (singles + 10))][: singles + 10]

    predictor = load_predictor(run_dir)
    labels = predictor.labels
    plain = pipeline("text-classification", model=str(RunFiles(run_dir).model), device=-1, truncation=True,
                     max_length=predictor.max_length or 128, top_k=None)
    ours_single = latency(lambda t: predict_one(predictor, t, DecisionRule(tuple(labels))), spread, 10)
    plain_single = latency(lambda t: plain(t), spread, 10)
    batch_texts = texts[:batch]
    ours_batch = throughput(lambda items: score(predictor, items, DecisionRule(tuple(labels))), batch_texts)
    plain_batch = throughput(lambda items: plain(items, batch_size=32), batch_texts)
    out = {"ours": {**ours_single, "batch_per_second": round(ours_batch, 1)},
           "baseline": {**plain_single, "batch_per_second": round(plain_batch, 1)},
           "baseline_name": "transformers pipeline", "max_length": predictor.max_length, "batch_items": len(batch_texts)}
    if busy:
        out["busy"] = busy_latency(scratch, data, lambda t: predict_one(predictor, t, DecisionRule(tuple(labels))),
                                   lambda t: predict_one(predictor, t, DecisionRule(tuple(labels)), threads=None), spread)
    return out


def image_part(scratch: Path, singles: int, batch: int) -> dict[str, Any]:
    import numpy as np
    import torch
    from PIL import Image
    from safetensors.torch import load_file

    from core.serving.inference import load_predictor
    from core.evaluation.decision import DecisionRule
    from core.serving.predict_service import predict_one, score

    run_dir = train_head_run(scratch / "image_home", require(ANTS_BEES))
    photos = sorted(str(p) for p in (ANTS_BEES / "val").rglob("*.jpg"))
    predictor = load_predictor(run_dir)
    labels = predictor.labels

    from efficientnet_lite_pytorch import EfficientNet

    plain_model = EfficientNet.from_name("efficientnet-lite0", num_classes=len(labels))
    plain_model.load_state_dict(load_file(str(RunFiles(run_dir).model / "model.safetensors")))
    plain_model.eval()

    size = predictor.image.size  # the size the run was trained and is served at

    def plain_tensor(path: str) -> torch.Tensor:
        with Image.open(path) as image:
            array = np.asarray(image.convert("RGB").resize((size, size)), dtype=np.float32) / 255.0
        return torch.from_numpy((array - 0.5) / 0.5).permute(2, 0, 1)  # (3, size, size), mean = std = 0.5

    @torch.no_grad()
    def plain(paths: list[str]) -> torch.Tensor:
        out = []
        for start in range(0, len(paths), 32):
            x = torch.stack([plain_tensor(p) for p in paths[start:start + 32]])
            out.append(torch.softmax(plain_model(x), dim=1))
        return torch.cat(out)

    items = (photos * 3)[: singles + 5]
    ours_single = latency(lambda p: predict_one(predictor, p, DecisionRule(tuple(labels))), items, 5)
    plain_single = latency(lambda p: plain([p]), items, 5)
    batch_items = (photos * 4)[:batch]
    ours_batch = throughput(lambda paths: score(predictor, paths, DecisionRule(tuple(labels))), batch_items)
    plain_batch = throughput(plain, batch_items)
    return {"ours": {**ours_single, "batch_per_second": round(ours_batch, 1)},
            "baseline": {**plain_single, "batch_per_second": round(plain_batch, 1)},
            "baseline_name": "plain EfficientNet forward", "batch_items": len(batch_items)}


def run(quick: bool) -> dict[str, Any]:
    singles, text_batch, image_batch = (60, 400, 48) if quick else (300, 2000, 256)
    with tempfile.TemporaryDirectory(prefix="tuneboard-bench-predict-") as scratch:
        text = text_part(Path(scratch), singles, text_batch, busy=not quick)
        image = image_part(Path(scratch), singles // 2, image_batch)
    return {"text": text, "image": image, "target_p95_ms": TARGET_P95_MS,
            "target_met": text["ours"]["p95_ms"] < TARGET_P95_MS}


def table(result: dict[str, Any]) -> str:
    rows = []
    for task, label in (("text", "text (MiniLM, SMS)"), ("image", "image (EfficientNet-Lite0, ants/bees)")):
        part = result[task]
        for who, name in (("ours", "Tuneboard"), ("baseline", part["baseline_name"])):
            r = part[who]
            rows.append([label, name, r["n"], r["p50_ms"], r["p95_ms"], r["batch_per_second"]])
    return "\n".join([
        markdown_table(["task", "who", "single inputs timed", "p50 ms", "p95 ms", "batch items/s"], rows),
        "",
        f"Batches: {result['text']['batch_items']:,} SMS texts and {result['image']['batch_items']} photos. Single "
        "inputs use one CPU thread (the Predict page's setting, robust while a training run shares the CPU); the "
        "baselines use torch's default threads.",
        "",
        *_busy_lines(result["text"].get("busy")),
        f"Target: warm single-text p95 under {result['target_p95_ms']:.0f} ms: {result['text']['ours']['p95_ms']:.1f} ms"
        f" — {verdict(result['target_met'])}.",
    ])


def _busy_lines(busy: dict[str, Any] | None) -> list[str]:
    if not busy:
        return []
    rows = [["one thread per prediction (the Predict page)", busy["one_thread"]["p50_ms"], busy["one_thread"]["p95_ms"]],
            ["torch's default threads", busy["default_threads"]["p50_ms"], busy["default_threads"]["p95_ms"]]]
    note = "" if busy["training_ran_throughout"] else " (the background training ended before the timing did)"
    return ["While a MiniLM full fine-tuning run trains in another process" + note + ":", "",
            markdown_table(["single text, CPU shared with training", "p50 ms", "p95 ms"], rows), ""]


if __name__ == "__main__":
    import json

    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
