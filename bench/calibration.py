"""The pilot's answer on real data: is "80% sure" right 80% of the time after temperature scaling, and can an
operating point chosen on validation answer most messages at very high accuracy?

- fortunes (11k texts, 26 overlapping classes), LoRA, Quick: the expected calibration error on test before and
  after the temperature fitted on validation. Target: after <= half of before.
- SMS spam (all 5,574 messages), head only, Quick: the lowest confidence at which the validation answers reach
  99.5% accuracy. Target: it answers >= 80% of validation messages; its test figures beside it.

Both train through the real command line (`python -m core train ... --json`), and read what the run stored:
its calibration (Run.calibration) and its validation and test predictions, as the Results page does.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from bench.common import markdown_table, require, sms_sample, train_with_cli, verdict
from bench.estimates import FORTUNES

NEEDED_ACCURACY, NEEDED_COVERAGE = 0.995, 0.80


def stored_answers(run_id: int) -> dict[str, Any]:
    """The run's calibration and, at the operating point chosen on validation, the figures on both splits."""
    from core.evaluation.calibration import perfect_calibration_error
    from core.evaluation.decision import DecisionRule, answered_figures, choose_min_confidence, decided_frame
    from core.evaluation.results import probability_matrix
    from storage.models import TEST, VALIDATION
    from storage.results import run_predictions, run_result

    run = run_result(run_id)
    rule = DecisionRule.of_run(run)
    val, test = (decided_frame(run_predictions(run_id, split), rule) for split in (VALIDATION, TEST))
    point = choose_min_confidence(val["confidence"], val["correct"], NEEDED_ACCURACY)
    figures = {name: answered_figures(frame["confidence"], frame["correct"], point)
               for name, frame in (("val", val), ("test", test))}
    floor = perfect_calibration_error(rule.calibrated(probability_matrix(run_predictions(run_id, TEST), run.labels)))
    return {"calibration": run.calibration, "ece_floor": floor, "min_confidence": point,
            **{f"{name}_{key}": getattr(f, key) for name, f in figures.items()
               for key in ("coverage", "accuracy", "answered", "total")},
            "test_accuracy_all": run.metrics["accuracy"]}


def run(quick: bool) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix="tuneboard-bench-calibration-"))
    os.environ["TUNEBOARD_HOME"] = str(home)
    rows = []
    for name, data, method in (("fortunes (26 classes)", require(FORTUNES), "lora"),
                               ("SMS spam (all)", sms_sample(None, home), "head")):
        trained = train_with_cli(home, data, "--method", method, "--preset", "quick")
        rows.append({"data": name, "method": method, "wall_seconds": trained.wall_seconds,
                     **stored_answers(trained.result["run_id"])})
    return {"rows": rows, "needed_accuracy": NEEDED_ACCURACY, "needed_coverage": NEEDED_COVERAGE}


def table(result: dict[str, Any]) -> str:
    calibration, points = [], []
    for r in result["rows"]:
        c, (floor, low, high) = r["calibration"], r["ece_floor"]
        halved = c["ece_after"] <= c["ece_before"] / 2
        at_floor = c["ece_before"] <= high  # already as calibrated as a perfect model could look on this test set
        calibration.append([r["data"], f"{r['method']} · Quick", f"{c['temperature']:.2f}", c["validation_examples"],
                            f"{c['ece_before']:.4f}", f"{c['ece_after']:.4f}",
                            f"{c['ece_after'] / c['ece_before']:.2f}", f"{floor:.4f} ({low:.4f} to {high:.4f})",
                            (verdict(halved) + ("" if halved or not at_floor else
                                                ": the model's own ECE is already inside the perfect model's range"))
                            if "fortunes" in r["data"] else "–"])
        if r["min_confidence"] is None:
            points.append([r["data"], "none reaches it", "–", "–", "–", "–", verdict(False)])
            continue
        points.append([r["data"], f"{r['min_confidence']:.4f}",
                       f"{r['val_coverage']:.1%} ({r['val_answered']:,} of {r['val_total']:,})",
                       f"{r['val_accuracy']:.2%}",
                       f"{r['test_coverage']:.1%} ({r['test_answered']:,} of {r['test_total']:,})",
                       f"{r['test_accuracy']:.2%} (all answered: {r['test_accuracy_all']:.2%})",
                       verdict(r["val_coverage"] >= result["needed_coverage"]) if "SMS" in r["data"] else "–"])
    return "\n".join([
        "Calibration (temperature fitted on validation; expected calibration error, 15 bins, on test):", "",
        markdown_table(["data", "run", "temperature", "validation examples", "ECE before", "ECE after",
                        "after / before", "ECE of a perfectly calibrated model here (90% range)",
                        "target (fortunes: <= 0.5)"], calibration),
        "",
        "The perfectly calibrated model's ECE: labels drawn 200 times from the calibrated test probabilities "
        "themselves (core.evaluation.calibration.perfect_calibration_error): what chance alone gives on this many "
        "test examples and classes.",
        "",
        f"Operating point chosen on validation: the lowest calibrated confidence whose answers reach "
        f"{result['needed_accuracy']:.1%} validation accuracy:", "",
        markdown_table(["data", "min confidence", "validation answered", "validation accuracy", "test answered",
                        "test accuracy", f"target (SMS: >= {result['needed_coverage']:.0%} answered)"], points),
    ])
