"""The verdict in sentences, worded once for Results (Markdown) and the downloaded report (HTML).

A line is a title (shown bold) and a body. A class name inside either is a `Name`: each renderer sets it apart and
escapes it its own way (the page as inline code, the report HTML-escaped), while the app's own words pass as
written. `render` joins the parts with the renderer's three functions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from core.evaluation.calibration import Calibration
from core.evaluation.decision import answered_figures
from core.evaluation.verdict import SMALL_CLASS, Verdict

SMALL_CLASSES_NAMED = 6
FEW_TEST_EXAMPLES = 100  # below this many test examples the verdict says why its intervals are wide
WEAK_CLASSES_NAMED = 5


@dataclass(frozen=True)
class Name:
    """A class name the user uploaded, inside a sentence."""

    text: str


Part = str | Name


@dataclass(frozen=True)
class Line:
    title: tuple[Part, ...]
    body: tuple[Part, ...]


def render(line: Line, name: Callable[[str], str], text: Callable[[str], str], strong: Callable[[str], str]) -> str:
    """One line as the page or the report shows it: strong(title) + " " + body, names through `name`, the app's
    own words through `text`."""
    def joined(parts: tuple[Part, ...]) -> str:
        return "".join(name(p.text) if isinstance(p, Name) else text(p) for p in parts)

    return f"{strong(joined(line.title))} {joined(line.body)}"


def majority_label(metrics: dict[str, Any], labels: Sequence[str]) -> str | None:
    """The class the majority baseline always answers (stored with the run's metrics), None if not stored."""
    majority = (metrics.get("baselines") or {}).get("majority", {}).get("predicted_label_id")
    return None if majority is None else labels[int(majority)]


def _listed(items: list[tuple[str, str]], shown: int) -> tuple[Part, ...]:
    """("a", ": 3"), ("b", ": 5") -> a: 3, b: 5 (and "…" when more were left out)."""
    parts: list[Part] = []
    for i, (label, after) in enumerate(items[:shown]):
        parts += ([", "] if i else []) + [Name(label), after]
    return tuple(parts + ([", …"] if len(items) > shown else []))


def verdict_lines(result: Verdict, labels: Sequence[str], majority: str | None,
                  cross_validation: dict[str, Any] | None = None, names: dict[str, str] | None = None) -> list[Line]:
    """How good, whether the test set is big enough, better than the baselines, weak classes, the target.
    cross_validation: the run's metrics["cross_validation"] ({"folds", "examples"}) when it was estimated so;
    names: the classes' display names (raw label -> name), where they have one."""
    names = names or {}

    def shown(label: object) -> str:
        return names.get(str(label), str(label))

    if cross_validation:
        folds = cross_validation["folds"]
        lines = [Line(("How good.",), (
            f"Accuracy {result.accuracy.text()}, macro-F1 {result.macro_f1.text()}, estimated by {folds}-fold "
            f"cross-validation over all {result.test_examples:,} labelled examples: each was scored by a model "
            f"trained on the other {folds - 1} folds, never on itself. The saved model trained on all of them.",))]
    else:
        lines = [Line(("How good.",), (f"Accuracy {result.accuracy.text()}, macro-F1 {result.macro_f1.text()}, on "
                                       f"{result.test_examples:,} test examples the model never saw.",))]
    if 0 < result.test_examples < FEW_TEST_EXAMPLES:
        width = result.accuracy.high - result.accuracy.low
        lines.append(Line(("Why the range is wide.",), (
            f"It rests on {result.test_examples} test examples: one answer more or less right moves accuracy by "
            f"{1 / result.test_examples:.1%}, and the true accuracy could lie anywhere in a span of {width:.0%}. "
            "That is what few examples allow, whatever the method; label more examples (30 or more per class set "
            "aside for testing) to narrow it.",)))
    if result.small_classes:
        few = _listed([(shown(label), f": {count}") for label, count in result.small_classes.items()],
                      SMALL_CLASSES_NAMED)
        lines.append(Line(("Enough test data?",), (
            f"{len(result.small_classes)} of {len(labels)} classes have fewer than {SMALL_CLASS} test examples (",
            *few, "): their numbers are too uncertain to decide on; add test examples for them.")))
    else:
        lines.append(Line(("Enough test data?",), (f"Every class has at least {SMALL_CLASS} test examples.",)))
    for comparison in result.baselines:
        against: tuple[Part, ...] = ("always answering ", Name(shown(majority))) if comparison.name == "majority" \
            else (comparison.name,)
        how = (f"right on {comparison.model_only:,} examples it gets wrong, wrong on {comparison.baseline_only:,} it "
               f"gets right; p = {comparison.p_value:.2g}")
        lines.append(Line(("Better than ", *against, "?"), (
            ("Yes, by more than chance" if comparison.better else "Not by more than chance") + f" ({how}).",)))
    if result.weak_classes:
        weak = _listed([(shown(label), f" (F1 {score:.0%})") for label, score in result.weak_classes],
                       WEAK_CLASSES_NAMED)
        lines.append(Line(("Weak classes.",), (*weak, ": see which classes they are confused with in the confusion "
                                                     "matrix.")))
    if result.target is not None:
        target = result.target
        named: tuple[Part, ...] = (target.text(),) if target.label is None else \
            ("recall of ", Name(shown(target.label)), f" at least {target.value:.0%}")
        lines.append(Line(("Target: ", *named, "."), (
            f"{result.target_status.capitalize()}: {result.target_reason}",)))  # words, no emoji (empty boxes without an emoji font)
    return lines


def confidence_lines(calibration: Calibration, min_confidence: float | None, decided: pd.DataFrame) -> list[Line]:
    """How far its confidence can be trusted, and what its operating point leaves to a person, on test
    (decided: the test predictions as the run answers them, core.evaluation.decision.decided_frame)."""
    title = ("How sure it says it is.",)
    if calibration.ece_after is not None and not calibration.note:
        lines = [Line(title, (
            "When it says it is 90% sure, it is right about 90% of the time: its confidences are calibrated on "
            f"validation (on test, stated confidence and the share right differ by {calibration.ece_after:.1%} on "
            f"average; {calibration.ece_before:.1%} before calibration).",))]
    elif calibration.note:
        lines = [Line(title, (f"Not calibrated: {calibration.note}",))]
    else:
        lines = [Line(title, ("Not calibrated yet: this run has no validation predictions (re-evaluate it on "
                              "Results, Confidence tab).",))]
    if min_confidence is not None:
        figures = answered_figures(decided["confidence"], decided["correct"], min_confidence)
        accuracy = "none" if figures.accuracy is None else f"{figures.accuracy:.1%}"
        lines.append(Line(("Doubtful cases.",), (
            f"Answering only when at least {min_confidence:.1%} sure, it answers {figures.coverage:.0%} of the test "
            f"examples at {accuracy} accuracy; the other {figures.total - figures.answered:,} are marked uncertain, "
            "for a person.",)))
    return lines
