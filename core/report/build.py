"""A finished run, or a comparison of runs of one dataset, as one HTML file to hand over:
`build_report(run_id, compare=[...]) -> str` (the Results page's Report tab and `python -m core report`).

A comparison starts with the Compare table (the best run chosen on validation, its test numbers beside) and each
run's verdict, then reports the first run in full.
"""

from __future__ import annotations

from collections.abc import Iterable

from core.evaluation.compare import comparison_table
from core.evaluation.results import validation_metrics
from core.report import charts
from core.report.data import ReportError, RunData, load_run
from core.report.html import Figures, page, paragraph, table
from core.report.sections import run_sections, verdict
from core.report.text import esc

__all__ = ["ReportError", "build_report", "report_file_name"]
THREE = "{:.3f}".format


def build_report(run_id: int, compare: Iterable[int] = ()) -> str:
    """The report's HTML; raises ReportError (one plain sentence) for a run that has none."""
    main = load_run(run_id)
    others = [load_run(i) for i in dict.fromkeys(compare) if i != run_id]
    for other in others:
        if other.run.dataset_id != main.run.dataset_id:
            raise ReportError(f"Run {other.run.id} was trained on {other.run.dataset_name!r}, run {run_id} on "
                              f"{main.run.dataset_name!r}: only runs of one dataset, judged on the same test "
                              "examples, can be compared.")
    figures = Figures()
    runs = [main] + others
    heading = f"Run #{run_id}" if not others else "Runs " + ", ".join(f"#{d.run.id}" for d in runs)
    title = f"{heading} on {main.run.dataset_name}: Tuneboard report"
    intro = (f"<h1>{esc(title)}</h1>" +
             paragraph(f"How good a model fine-tuned on {esc(main.run.dataset_name)} is, how sure that is, what it "
                       "cost, and where it goes wrong. Every number is measured on test examples the model never "
                       "saw while training."))
    body = intro + (comparison(runs, figures) if others else "") + run_sections(main, figures)
    return page(title, body)


def comparison(runs: list[RunData], figures: Figures) -> str:
    validation = {d.run.id: validation_metrics(d.val, d.run.labels) for d in runs}
    compared = comparison_table([d.run for d in runs], validation)
    shown = compared.drop(columns=["kind"]).rename(columns={
        "val_macro_f1": "validation macro-F1", "macro_f1": "macro-F1", "train_seconds": "train time (s)",
        "trainable_params": "trainable parameters", "size_mb": "size on disk (MB)"})
    best = compared[compared["best"]]
    chosen = paragraph("The best run (highlighted) is chosen on the validation examples; its test numbers are what "
                       "to expect from it." + (f" Best: {esc(best['run'].iloc[0])}." if not best.empty else
                                                " No run has validation predictions to choose on."))
    if any(v is None for v in validation.values()):
        chosen += paragraph("Runs without a validation score were stored before Tuneboard kept validation "
                            "predictions; re-evaluate them on Results, Confidence tab, to include them.")
    verdicts = "".join(f"<h3>Run #{d.run.id} · {esc(d.run.model)} · {esc(d.run.method)}</h3>" + verdict(d)
                       for d in runs)
    return ("<section><h2>Comparison</h2>" + chosen +
            table(shown.drop(columns=["best"]).assign(best=shown["best"].map({True: "best", False: ""})),
                  {"validation macro-F1": THREE, "accuracy": THREE, "macro-F1": THREE,
                   "train time (s)": "{:.1f}".format, "size on disk (MB)": "{:.1f}".format,
                   "trainable parameters": "{:,.0f}".format},
                  row_class=lambda row: "best" if row["best"] else "") +
            figures.html(charts.comparison_figure(compared)) + "<h2>Each run's verdict</h2>" + verdicts +
            "</section>")


def report_file_name(run_id: int, compare: Iterable[int] = ()) -> str:
    ids = [run_id] + [i for i in dict.fromkeys(compare) if i != run_id]
    return "tuneboard-report-run-" + "-".join(str(i) for i in ids) + ".html"
