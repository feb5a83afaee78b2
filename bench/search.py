"""A settings search within a time budget against the Best preset (issue 28): fortunes, LoRA on the default model.

1) the Best preset, trained through the real command line (`python -m core train --method lora --preset best`);
2) a search of LoRA's settings with a 30-minute budget (`python -m core search --method lora --budget 30`), in the
   same data folder, so both use the same stored split; its worker is the one the command starts.
Both are judged as the app judges runs: chosen by validation macro-F1 (the stored validation predictions), reported on
the test split. Target: the search's best validation macro-F1 >= the Best preset's. Pruning's saving is the rest of
each pruned trial's epochs at the pace it trained them, as a share of the budget. Quick mode: 1,500 fortunes, a
6-minute budget. The load average is recorded at the start and end of each part: the machine may be shared.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

from bench.common import ROOT, markdown_table, require, train_with_cli, verdict
from bench.estimates import FORTUNES

BUDGET_MINUTES, QUICK_BUDGET_MINUTES, QUICK_ROWS = 30.0, 6.0, 1500


def validation_macro_f1(home: Path, run_id: int) -> float | None:
    os.environ["TUNEBOARD_HOME"] = str(home)
    from core.evaluation.results import validation_metrics
    from storage.models import VALIDATION
    from storage.results import run_predictions
    from storage.runs import get_run

    metrics = validation_metrics(run_predictions(run_id, VALIDATION), get_run(run_id).dataset.labels)
    return None if metrics is None else float(metrics["macro_f1"])


def run(quick: bool) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix="tuneboard-bench-search-"))
    data = require(FORTUNES)
    if quick:
        data = home / "fortunes_sample.csv"
        pd.read_csv(FORTUNES).sample(QUICK_ROWS, random_state=0).to_csv(data, index=False)
    budget = QUICK_BUDGET_MINUTES if quick else BUDGET_MINUTES
    load_start = os.getloadavg()[0]
    best = train_with_cli(home, data, "--method", "lora", "--preset", "best")
    load_between = os.getloadavg()[0]
    env = {**os.environ, "TUNEBOARD_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "core", "search", "--data", str(data), "--method", "lora",
                           "--budget", str(budget), "--json"], cwd=ROOT, env=env, capture_output=True, text=True)
    search_wall = time.perf_counter() - start
    if done.returncode not in (0, 1):
        raise RuntimeError(f"the search failed ({done.returncode}): {done.stderr[-2000:]}")
    search = json.loads(done.stdout)
    picked = search.get("best") or {}
    return {
        "data": "fortunes" + (f" ({QUICK_ROWS:,} texts)" if quick else " (11k texts, 26 classes)"),
        "budget_minutes": budget, "load_average": [round(load_start, 2), round(load_between, 2),
                                                   round(os.getloadavg()[0], 2)],
        "best_preset": {"run_id": best.result["run_id"], "wall_seconds": round(best.wall_seconds, 1),
                        "val_macro_f1": validation_macro_f1(home, best.result["run_id"]),
                        "test_accuracy": best.result["metrics"]["accuracy"],
                        "test_macro_f1": best.result["metrics"]["macro_f1"]},
        "search": {"status": search["status"], "message": search["message"], "wall_seconds": round(search_wall, 1),
                   "spent_seconds": search["spent_seconds"], "best_run_id": search["best_run_id"],
                   "val_macro_f1": picked.get("value"), "test_accuracy": picked.get("test_accuracy"),
                   "test_macro_f1": picked.get("test_macro_f1"), "params": picked.get("params"),
                   "trials": [(t["number"], t["state"]) for t in search["trials"]],
                   "pruning": search["pruning"], "importances": search["importances"]},
    }


def table(result: dict[str, Any]) -> str:
    best, search = result["best_preset"], result["search"]
    states = pd.Series([state for _, state in search["trials"]]).value_counts().to_dict()
    rows = [
        ["LoRA · Best preset", f"{best['wall_seconds'] / 60:.1f} min", best["val_macro_f1"], best["test_accuracy"],
         best["test_macro_f1"], "–"],
        [f"LoRA · search, {result['budget_minutes']:g}-min budget", f"{search['wall_seconds'] / 60:.1f} min "
         f"({search['spent_seconds'] / 60:.1f} min of budget spent)", search["val_macro_f1"] if search["val_macro_f1"]
         is not None else "–", search["test_accuracy"] or "–", search["test_macro_f1"] or "–",
         ", ".join(f"{n} {s}" for s, n in states.items())],
    ]
    met = search["val_macro_f1"] is not None and best["val_macro_f1"] is not None and \
        search["val_macro_f1"] >= best["val_macro_f1"]
    pruning = search["pruning"] or {}
    lines = [markdown_table(["data: " + result["data"], "wall time", "validation macro-F1", "test accuracy",
                             "test macro-F1", "trials"], rows), "",
             f"Target: the search's best validation macro-F1 >= the Best preset's: {verdict(met)}. "
             f"Pruning stopped {pruning.get('pruned', 0)} trial(s), saving {pruning.get('saved_seconds', 0) / 60:.1f} min "
             f"({100 * pruning.get('share_of_budget', 0):.0f}% of the budget). Load average at the start, between the "
             f"two and at the end: {', '.join(map(str, result['load_average']))}. The search: {search['message']}"]
    if search.get("params"):
        lines.append(f"Its pick: {', '.join(f'{k}={v:.3g}' if isinstance(v, float) else f'{k}={v}' for k, v in search['params'].items())}; "
                     "what mattered (Optuna's fANOVA importance): " + (", ".join(
                         f"{k} {v:.0%}" for k, v in search["importances"].items()) or "too few trials to say") + ".")
    return "\n".join(lines)
