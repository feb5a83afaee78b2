"""Time to the first useful model: head only on cached features against full fine-tuning, on SMS spam and on
the ants/bees photos, each through `python -m core train` in a fresh data folder, so the wall time holds
everything a user waits for: start-up, reading the data, loading the model, computing the features once,
training, the test evaluation, the baselines and saving. Both use the Quick preset, as the Train page offers.

Quick mode: full fine-tuning trains one epoch on a 600-text sample (head only still reads every text);
the full mode trains both on all the data.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from bench.common import (
    ANTS_BEES, SMS, markdown_table, minority_f1, read_sms, require, sms_sample, train_with_cli, verdict,
)

TARGET_SECONDS = 60.0  # head only on ~5,000 texts, feature extraction included, 2 CPU cores
QUICK_FULL_ROWS = 600


def one(data: Path, method: str, extra: list[str], rows: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="tuneboard-bench-first-") as home:
        run = train_with_cli(Path(home), data, "--method", method, "--preset", "quick", *extra)
    metrics = run.result["metrics"]
    label, f1 = minority_f1(metrics)
    return {"method": method, "examples": rows, "wall_seconds": round(run.wall_seconds, 1),
            "train_seconds": run.result["train_seconds"], "accuracy": metrics["accuracy"],
            "macro_f1": metrics["macro_f1"], "minority_class": label, "minority_f1": f1,
            "test_examples": sum(v["support"] for v in metrics["per_class"].values()),
            "epochs": run.result.get("training", {}).get("epochs_run")}


def run(quick: bool) -> dict[str, Any]:
    sms_rows = len(read_sms())
    images = sum(1 for p in require(ANTS_BEES).rglob("*") if p.is_file())
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="tuneboard-bench-data-") as scratch:
        rows.append({"data": "SMS spam", **one(SMS, "head", [], sms_rows)})
        if quick:
            sample = sms_sample(QUICK_FULL_ROWS, Path(scratch))
            rows.append({"data": "SMS spam", **one(sample, "full", ["--epochs", "1"], QUICK_FULL_ROWS)})
        else:
            rows.append({"data": "SMS spam", **one(SMS, "full", [], sms_rows)})
        rows.append({"data": "ants/bees", **one(ANTS_BEES, "head", [], images)})
        rows.append({"data": "ants/bees", **one(ANTS_BEES, "full", ["--epochs", "1"] if quick else [], images)})
    head_sms = rows[0]
    return {"rows": rows, "target_seconds": TARGET_SECONDS,
            "target_met": head_sms["wall_seconds"] < TARGET_SECONDS and head_sms["examples"] >= 5000}


def table(result: dict[str, Any]) -> str:
    body = [[r["data"], {"head": "head only", "full": "full fine-tuning"}[r["method"]], f"{r['examples']:,}",
             r["epochs"], r["wall_seconds"], r["train_seconds"], r["accuracy"], r["macro_f1"],
             f"{r['minority_f1']:.3f} ({r['minority_class']})", r["test_examples"]] for r in result["rows"]]
    head = result["rows"][0]
    return "\n".join([
        markdown_table(["data", "method", "examples", "epochs", "wall s (all of it)", "training s", "test accuracy",
                        "macro-F1", "F1 of the rarest class", "test examples"], body),
        "",
        f"Target: head only on about 5,000 texts in under {result['target_seconds']:.0f} s on a 2-core CPU, feature "
        f"extraction included: {head['wall_seconds']:.1f} s for {head['examples']:,} texts — "
        f"{verdict(result['target_met'])}. Wall time counts the whole command (start-up, model loading, features, "
        "training, test evaluation, baselines, saving); training s is the part inside training.",
    ])


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
