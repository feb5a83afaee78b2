"""Comparing the finished runs of one dataset with each other and with the untuned baselines.

All runs of a dataset are judged on the same fixed test split, so their numbers are comparable.
Baselines come from each run's stored metrics["baselines"]: "majority" (always say the most common
class) and "zero_shot" (an untuned sentence model matching texts to the class names; its "model" says
which). Both depend only on the dataset, so each appears once however many runs there are.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

import pandas as pd

COLUMNS = ["run", "kind", "model", "method", "accuracy", "macro_f1", "train_seconds", "trainable_params",
           "size_mb", "best"]
BASELINE_NAMES = {"majority": "Always the most common class", "zero_shot": "Untuned model, zero-shot"}


class FinishedRun(Protocol):
    id: int
    name: str
    metrics: dict[str, Any]
    train_seconds: float | None
    trainable_params: int | None
    size_bytes: int | None

    @property
    def model(self) -> str: ...

    @property
    def method(self) -> str: ...


def baseline_deltas(metrics: dict[str, Any]) -> dict[str, dict[str, float]]:
    """{baseline: {"accuracy": run - baseline, "macro_f1": run - baseline}} for each stored baseline."""
    deltas = {}
    for name, scores in (metrics.get("baselines") or {}).items():
        if not scores:
            continue
        deltas[name] = {key: metrics[key] - scores[key] for key in ("accuracy", "macro_f1")
                        if scores.get(key) is not None and metrics.get(key) is not None}
    return deltas


def baseline_table(metrics: dict[str, Any]) -> pd.DataFrame:
    """This run against its stored baselines (columns: model, accuracy, macro_f1)."""
    rows = [{"model": "This run", "accuracy": metrics.get("accuracy"), "macro_f1": metrics.get("macro_f1")}]
    for name, scores in (metrics.get("baselines") or {}).items():
        if scores:
            title = BASELINE_NAMES.get(name, name)
            rows.append({"model": f"{title} ({scores['model']})" if scores.get("model") else title,
                         "accuracy": scores.get("accuracy"), "macro_f1": scores.get("macro_f1")})
    return pd.DataFrame(rows, columns=["model", "accuracy", "macro_f1"])


def comparison_table(runs: Iterable[FinishedRun]) -> pd.DataFrame:
    """One row per run plus one per distinct baseline; `best` marks the run with the highest macro-F1."""
    rows, seen_baselines = [], set()
    for run in runs:
        metrics = run.metrics or {}
        rows.append({
            "run": f"#{run.id} {run.name}".strip(), "kind": "run", "model": run.model, "method": run.method,
            "accuracy": metrics.get("accuracy"), "macro_f1": metrics.get("macro_f1"),
            "train_seconds": run.train_seconds, "trainable_params": run.trainable_params,
            "size_mb": None if run.size_bytes is None else run.size_bytes / 1e6, "best": False,
        })
        for name, scores in (metrics.get("baselines") or {}).items():
            # The same test set for every run: a baseline repeats across runs unless its model differs.
            baseline_model = (scores or {}).get("model", "")
            key = (name, baseline_model)
            if not scores or key in seen_baselines:
                continue
            seen_baselines.add(key)
            title = BASELINE_NAMES.get(name, name)
            rows.append({
                "run": f"{title} ({baseline_model})" if baseline_model else title, "kind": "baseline",
                "model": baseline_model, "method": "none",
                "accuracy": scores.get("accuracy"), "macro_f1": scores.get("macro_f1"),
                "train_seconds": None, "trainable_params": 0, "size_mb": None, "best": False,
            })
    table = pd.DataFrame(rows, columns=COLUMNS)
    scored = table[(table["kind"] == "run") & table["macro_f1"].notna()]
    if not scored.empty:
        table.loc[scored["macro_f1"].astype(float).idxmax(), "best"] = True
    return table
