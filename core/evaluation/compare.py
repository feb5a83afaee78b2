"""Comparing the finished runs of one dataset with each other and with the untuned baselines.

All runs of a dataset are judged on the same fixed test split, so their numbers are comparable. The best run is
chosen on the validation split (each run's stored validation predictions); its test numbers stand beside, to
report, not to choose: choosing on test and then reporting test would flatter the winner.
Baselines come from each run's stored metrics["baselines"]: "majority" (always say the most common
class) and "zero_shot" (an untuned sentence model matching texts to the class names; its "model" says
which). Both depend only on the dataset, so each appears once however many runs there are.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

import numpy as np
import pandas as pd

COLUMNS = ["run", "kind", "model", "method", "val_macro_f1", "accuracy", "macro_f1", "train_seconds",
           "trainable_params", "size_mb", "best"]
SPREAD_COLUMNS = ["configuration", "runs", "seeds", "val_macro_f1", "macro_f1", "macro_f1_low", "macro_f1_high",
                  "macro_f1_sd"]
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


def comparison_table(runs: Iterable[FinishedRun], validation: Mapping[int, dict[str, Any] | None]) -> pd.DataFrame:
    """One row per run plus one per distinct baseline; `best` marks the run with the highest VALIDATION macro-F1
    (validation: run id -> its validation metrics, None for a run stored without validation predictions)."""
    rows, seen_baselines = [], set()
    for run in runs:
        metrics = run.metrics or {}
        rows.append({
            "run": f"#{run.id} {run.name}".strip(), "kind": "run", "model": run.model, "method": run.method,
            "val_macro_f1": (validation.get(run.id) or {}).get("macro_f1"),
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
                "model": baseline_model, "method": "none", "val_macro_f1": None,
                "accuracy": scores.get("accuracy"), "macro_f1": scores.get("macro_f1"),
                "train_seconds": None, "trainable_params": 0, "size_mb": None, "best": False,
            })
    table = pd.DataFrame(rows, columns=COLUMNS)
    scored = table[(table["kind"] == "run") & table["val_macro_f1"].notna()]
    if not scored.empty:
        table.loc[scored["val_macro_f1"].astype(float).idxmax(), "best"] = True
    return table


def configuration(config: dict[str, Any]) -> tuple:
    """What a run trained with, less its seed: runs that differ only by seed repeat one configuration."""
    return tuple(sorted((k, repr(v)) for k, v in config.items() if k != "seed"))


def seed_spread(runs: Iterable[Any], validation: Mapping[int, dict[str, Any] | None]) -> pd.DataFrame:
    """One row per configuration trained with more than one seed: its mean validation and test macro-F1 and the
    test spread (lowest, highest, standard deviation): how much of a difference between runs is luck.
    runs: finished runs with id, config, metrics, model, method."""
    groups: dict[tuple, list[Any]] = {}
    for run in runs:
        groups.setdefault(configuration(run.config), []).append(run)
    rows = []
    for members in groups.values():
        if len(members) < 2:
            continue
        test = np.array([float(r.metrics.get("macro_f1") or 0.0) for r in members])
        val = [(validation.get(r.id) or {}).get("macro_f1") for r in members]
        first = members[0]
        rows.append({
            "configuration": f"{first.model} · {first.method} · {first.config.get('preset', '')}".strip(" ·"),
            "runs": ", ".join(f"#{r.id}" for r in sorted(members, key=lambda r: r.id)),
            "seeds": ", ".join(str(r.config.get("seed")) for r in sorted(members, key=lambda r: r.id)),
            "val_macro_f1": float(np.mean(val)) if None not in val else None,
            "macro_f1": float(test.mean()), "macro_f1_low": float(test.min()), "macro_f1_high": float(test.max()),
            "macro_f1_sd": float(test.std(ddof=1)),
        })
    return pd.DataFrame(rows, columns=SPREAD_COLUMNS)
