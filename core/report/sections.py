"""The report's sections for one finished run, each a function of its data (core.report.data.RunData) and the page's
figures (core.report.html.Figures) that returns HTML: the verdict, the data, method and cost, how good against the
baselines and per class, what a continued run gained and forgot, calibration, the operating point, training
curves, mistakes, and the model card facts.

The numbers and sentences are the ones Results shows, from the same functions; choices (calibration, the operating
point, the best run) were made on validation predictions, and the test predictions report.
"""

from __future__ import annotations

import base64
import io
from dataclasses import replace
from pathlib import Path

import pandas as pd

from core.evaluation.calibration import Calibration, reliability
from core.evaluation.compare import baseline_table
from core.evaluation.decision import (
    Answered, DecisionRule, answered_figures, coverage_curve, decided_frame, label_ids,
)
from core.evaluation.gained_forgot import gained_and_forgot
from core.evaluation.results import learning_curves, misclassified, per_class_table, probability_matrix, \
    run_verdict, with_examples
from core.evaluation.threshold import from_stored
from core.evaluation.verdict_text import confidence_lines, majority_label, verdict_lines
from core.report import charts
from core.run_config import RunConfig
from core.report.data import RunData
from core.report.html import Figures, facts, line, name, paragraph, table
from core.report.numbers import bytes_text, duration_text, params_text
from core.report.text import esc, short

ERRORS_SHOWN = 12  # the most confident mistakes listed; a person reads a dozen, not two hundred
TEXT_SHOWN = 300  # characters of an example text
THUMBNAIL_PX = 160
SPLITS = {"train": "training", "val": "validation", "test": "test"}
THREE = "{:.3f}".format


def verdict(data: RunData) -> str:
    run = data.run
    result = run_verdict(data.test, run.labels, run.metrics, data.target)
    lines = verdict_lines(result, run.labels, majority_label(run.metrics, run.labels),
                          run.metrics.get("cross_validation"), run.display_names) + \
        confidence_lines(Calibration.from_dict(run.calibration), run.min_confidence, data.decided)
    return '<div class="verdict">' + "".join(line(item) for item in lines) + "</div>"


def data_summary(data: RunData) -> str:
    run = data.run
    items = [("Dataset", run.dataset_name), ("Task", f"{run.task} classification"), ("Classes", len(run.labels))]
    if data.examples is None:
        return "<h2>Data</h2>" + facts(items + [("Test examples", len(data.test))]) + \
            paragraph("The dataset's files are gone from the server, so its split counts cannot be shown.")
    counts = data.examples.groupby(["label", "split"]).size().unstack(fill_value=0)
    splits = [s for s in SPLITS if s in counts.columns]
    items += [(f"{SPLITS[s].capitalize()} examples", f"{int(counts[s].sum()):,}") for s in splits]
    per_class = pd.DataFrame([{"class": run.shown(label),
                               **{SPLITS[s]: int(counts.at[label, s]) if label in counts.index else 0 for s in splits}}
                              for label in run.labels])
    return ("<h2>Data</h2>" + facts(items) +
            paragraph("The split was fixed at upload: the model learned from the training examples, choices were "
                      "made on the validation examples, and the test examples, never seen before, judge it.") +
            table(per_class))


def method_and_cost(data: RunData) -> str:
    run = data.run
    defaults = RunConfig().to_dict()
    changed = {k: v for k, v in run.config.items() if k not in ("model", "method", "preset", "seed")
               and v is not None and v != defaults.get(k)}
    trained = {k: v for k, v in run.training.items() if k != "peak_memory_bytes" and v not in (None, "")}
    items = [("Model", run.model), ("Method", run.method), ("Preset", run.config.get("preset")),
             ("Settings changed from the preset", ", ".join(f"{k} {v}" for k, v in sorted(changed.items())) or "none"),
             ("Seed", run.config.get("seed")),
             ("Trained with", ", ".join(f"{k} {v}" for k, v in trained.items())),
             ("Training time", duration_text(run.train_seconds)), ("Machine", run.device or "cpu"),
             ("Peak memory", bytes_text(run.training.get("peak_memory_bytes")))]
    return "<h2>Method and cost</h2>" + facts(items)


def how_good(data: RunData, figures: Figures) -> str:
    run, metrics = data.run, data.run.metrics
    per_class = per_class_table(metrics, run.labels, run.display_names)
    per_class["support"] = per_class["support"].astype("Int64")
    return ("<h2>How good, against the baselines</h2>" +
            paragraph("On the test examples. The baselines need no training: always answering the most common "
                      "class, and (for texts) an untuned model matching texts to the class names.") +
            table(baseline_table(metrics).rename(columns={"macro_f1": "macro-F1"}),
                  {"accuracy": THREE, "macro-F1": THREE}) +
            "<h3>Per class</h3>" + table(per_class, {"precision": THREE, "recall": THREE, "f1": THREE}) +
            "<h3>Confusion matrix</h3>" +
            paragraph("Rows are the true classes, columns what the model said (most probable class), in test "
                      "examples.") +
            figures.html(charts.confusion_figure(run.label_names, metrics["confusion_matrix"]["matrix"],
                                                 normalized=False)))


def gained_and_forgot_section(data: RunData) -> str:
    """A continued run: before (the run it continued) and after on the same test rows; nothing for other runs."""
    found = gained_and_forgot(data.run.metrics, data.run.shown)
    if found is None:
        return ""
    return ("<h2>What it gained and forgot</h2>" + paragraph(esc(found.intro)) + table(found.table) +
            "".join(line(note) for note in (found.grown, found.advice) if note is not None))


def calibration(data: RunData, figures: Figures) -> str:
    run = data.run
    stored = Calibration.from_dict(run.calibration)
    items = [("Temperature (fitted on validation)", f"{stored.temperature:.2f}"),
             ("Validation examples it was fitted on", stored.validation_examples or None),
             ("Calibration error on test, model's own", None if stored.ece_before is None else f"{stored.ece_before:.3f}"),
             ("Calibration error on test, calibrated", None if stored.ece_after is None else f"{stored.ece_after:.3f}"),
             ("Note", stored.note)]
    probabilities, y_true = probability_matrix(data.test, run.labels), label_ids(data.test["true_label"], run.labels)
    tables = {"model's own": reliability(probabilities, y_true)}
    if stored.temperature != 1.0:
        tables["calibrated"] = reliability(DecisionRule.of_run(run).calibrated(probabilities), y_true)
    return ("<h2>Can its confidence be trusted?</h2>" +
            paragraph("A well-calibrated model that says “80% sure” is right about 80% of the time. The calibration "
                      "error is the average gap between stated confidence and the share right (0 is perfect); "
                      "measured on test.") + facts(items) + figures.html(charts.reliability_figure(tables)))


def _answered(figures_on: Answered, split: str) -> str:
    if not figures_on.answered:
        return f"{split}: answers none of {figures_on.total:,} examples."
    return (f"{split}: answers {figures_on.coverage:.0%} ({figures_on.answered:,} of {figures_on.total:,}) at "
            f"{figures_on.accuracy:.1%} accuracy; {figures_on.total - figures_on.answered:,} go to a person.")


def operating_point(data: RunData, figures: Figures) -> str:
    run = data.run
    out = "<h2>Which answers it leaves to a person</h2>"
    if len(run.labels) == 2 and run.threshold is not None:
        positive = run.labels[1]
        out += paragraph(f"Two classes: it answers {name(run.shown(positive))} when its calibrated probability is "
                         f"at least {from_stored(run.threshold, positive, run.labels):.2f} (the saved threshold).")
    if data.val.empty:
        return out + paragraph("This run was stored before Tuneboard kept validation predictions, so no operating "
                               "point could be chosen (re-evaluate it on Results, Confidence tab).")
    plain = replace(DecisionRule.of_run(run), min_confidence=None)
    val, test = decided_frame(data.val, plain), decided_frame(data.test, plain)
    out += paragraph("The curve, drawn on the validation examples, shows how accurate the answers it gives are when "
                     "it answers only the cases it is most sure of; the marked point is the one saved with the run.")
    out += figures.html(charts.coverage_figure(coverage_curve(val["confidence"], val["correct"]), run.min_confidence))
    if run.min_confidence is None:
        return out + paragraph("No operating point is saved: every answer is given without an uncertain mark.")
    return out + paragraph(
        f"Saved: answers below {run.min_confidence:.1%} confidence are marked uncertain.<br>" +
        _answered(answered_figures(val["confidence"], val["correct"], run.min_confidence),
                  "Validation (where it was chosen)") + "<br>" +
        _answered(answered_figures(test["confidence"], test["correct"], run.min_confidence), "Test (what to expect)"))


def training_curves(data: RunData, figures: Figures) -> str:
    curves = learning_curves(data.points)
    if curves["loss"].empty and curves["validation"].empty:
        return "<h2>Training curves</h2>" + paragraph("No curves were recorded for this run.")
    out = "<h2>Training curves</h2>"
    if not curves["loss"].empty:
        out += figures.html(charts.curve_figure(curves["loss"], "step", "Loss", "loss"))
    if not curves["validation"].empty:
        out += figures.html(charts.curve_figure(curves["validation"], "epoch", "Validation", "score"))
    return out


def errors(data: RunData) -> str:
    run = data.run
    out = "<h2>Mistakes</h2>"
    if data.examples is None:
        return out + paragraph("The dataset's files are gone from the server, so examples cannot be shown.")
    joined = with_examples(data.decided, data.examples)
    wrong = misclassified(joined, ERRORS_SHOWN)
    out += paragraph(f"{int((~joined['correct']).sum()):,} of {len(joined):,} test examples are misclassified. "
                     f"The most confident mistakes{' (up to ' + str(ERRORS_SHOWN) + ')' if len(wrong) else ''} often "
                     "point to wrong labels in the data:")
    if wrong.empty:
        return out
    if run.task != "image":
        shown = pd.DataFrame({"text": [short(t, TEXT_SHOWN) for t in wrong["input"]],
                              "true": wrong["true_label"].map(run.shown),
                              "predicted": wrong["predicted_label"].map(run.shown), "confidence": wrong["confidence"]})
        return out + table(shown, {"confidence": "{:.0%}".format})
    cards = []
    for row in wrong.itertuples():
        image = _thumbnail(run.dataset_dir / row.input)
        picture = f'<img src="{image}" alt="{esc(row.source)}">' if image else f"(image missing: {esc(row.source)})"
        cards.append(f"<figure>{picture}<figcaption>{esc(row.source)}<br>true {name(run.shown(row.true_label))}<br>"
                     f"predicted {name(run.shown(row.predicted_label))} · {row.confidence:.0%}</figcaption></figure>")
    return out + '<div class="examples">' + "".join(cards) + "</div>"


def _thumbnail(path: Path) -> str | None:
    """A small JPEG of the image as a data: URI (inside the file, so the report needs no other file)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            small = image.convert("RGB")
            small.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX))
            buffer = io.BytesIO()
            small.save(buffer, "JPEG", quality=82)
    except (OSError, UnidentifiedImageError):
        return None
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def model_card(data: RunData) -> str:
    run = data.run
    share = None if not run.trainable_params or not run.total_params else \
        f"{run.trainable_params / run.total_params:.2%} of the weights trained"
    items = [("Model", run.model), ("Method", run.method), ("Trainable parameters", params_text(run.trainable_params)),
             ("Total parameters", params_text(run.total_params)), ("Share trained", share),
             ("Size on disk", bytes_text(run.size_bytes)), ("Classes", ", ".join(run.label_names)),
             ("Temperature", f"{Calibration.from_dict(run.calibration).temperature:.2f}"),
             ("Uncertain below", None if run.min_confidence is None else f"{run.min_confidence:.1%} confidence"),
             ("Finished", None if run.finished_at is None else f"{run.finished_at:%Y-%m-%d %H:%M} UTC")]
    return "<h2>Model card</h2>" + facts(items)


def run_sections(data: RunData, figures: Figures) -> str:
    """Everything about one run, in the order a reader decides: the verdict first, the evidence after."""
    run = data.run
    title = f"Run #{run.id}: {esc(run.dataset_name)} · {esc(run.model)} · {esc(run.method)}"
    return (f"<section><h2>{title}</h2>" + verdict(data) + "</section>" +
            "".join(f"<section>{part}</section>" for part in (
                data_summary(data), method_and_cost(data), how_good(data, figures), gained_and_forgot_section(data),
                calibration(data, figures), operating_point(data, figures), training_curves(data, figures),
                errors(data), model_card(data)) if part))
