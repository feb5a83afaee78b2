"""What a continued run gained and forgot, worded once for Results (Markdown) and the downloaded report (HTML): a
table of before and after on the same test rows, and the sentences around it as verdict lines (class names as
`Name`, so each renderer escapes them its own way). The figures come from core/training/continual.py, stored in
the run's metrics under "continual"."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from core.evaluation.verdict_text import Line, Name, Part

SETS = {"all": "New version's test set", "old": "Earlier version's test rows (forgetting)",
        "added": "Test rows added since (gained)"}
SIGNIFICANT = 0.05  # McNemar's p-value below which a change is read as beyond chance


@dataclass(frozen=True)
class GainedAndForgot:
    intro: str  # the app's own words: no user text inside
    table: pd.DataFrame
    grown: Line | None  # the classifier grew for new classes: by how much
    advice: Line | None  # it forgot beyond chance without replay: continue again with replay


def _interval(side: dict) -> str:
    return f"{side['accuracy']:.1%} ({side['low']:.1%} to {side['high']:.1%})"


def _reading(figures: dict) -> str:
    if figures["p_better"] < SIGNIFICANT:
        return "better, beyond chance"
    if figures["p_worse"] < SIGNIFICANT:
        return "worse, beyond chance"
    return "no change beyond chance"


def gained_and_forgot(metrics: dict | None, shown: Callable[[str], str] = str) -> GainedAndForgot | None:
    """The before/after of a continued run (None for a run trained from the start). `shown` gives a class's name as
    people read it (RunResult.shown)."""
    continual = (metrics or {}).get("continual")
    if not continual:
        return None
    trained = continual.get("trained_on") or {}
    parent = continual["from_run"]
    intro = (f"Continued from run #{parent} (trained on v{continual['from_version']}) on "
             f"{trained.get('changed', 0)} new or relabeled training rows and {trained.get('replayed', 0)} of its "
             f"{trained.get('old_available', 0)} earlier ones (replay {trained.get('replay', 0):g}). Before: run "
             f"#{parent}'s answers; after: this run's; on the same rows, accuracy with its 95% interval.")
    rows = []
    for key, title in SETS.items():
        figures = continual["sets"].get(key)
        if figures:
            rows.append({"test rows": title, "rows": figures["examples"], "before": _interval(figures["before"]),
                         "after": _interval(figures["after"]),
                         "change (points)": round(100 * (figures["after"]["accuracy"]
                                                         - figures["before"]["accuracy"]), 1),
                         "fixed": figures["fixed"], "broken": figures["broken"], "reading": _reading(figures)})
    grown = advice = None
    head = continual.get("head") or {}
    if head.get("added"):
        named: list[Part] = []
        for i, label in enumerate(head["added"]):
            named += ([", "] if i else []) + [Name(shown(label))]
        grown = Line(("The classifier grew.",), (
            f"{len(head['added'])} class(es) added (", *named,
            f"): {head.get('parameters_added', 0):,} new weights; the earlier classes kept the rows run #{parent} "
            "learned. The earlier model could not answer a new class, so its rows count as wrong before."))
    old = continual["sets"].get("old")
    if old and old["p_worse"] < SIGNIFICANT and not trained.get("replayed"):
        advice = Line(("It forgot some of what it knew:",), (
            "continue again with some replay (a share of the earlier training rows mixed in).",))
    return GainedAndForgot(intro, pd.DataFrame(rows), grown, advice)


__all__ = ["GainedAndForgot", "SETS", "gained_and_forgot"]
