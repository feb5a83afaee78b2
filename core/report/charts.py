"""Plotly figures drawn both on the pages (Results, Runs, Predict) and in the report (core.report): one builder per
chart, from plain data, so a chart in the downloaded report is the one on the page. core/report is the one part of
core that imports plotly (tests/test_layering.py); pages/shared/charts.py adds the figures only pages draw.

Class names and run names are the user's: plotly renders HTML tags in chart text, so they are escaped
(core.report.text.chart). On a category axis the categories are the whole escaped names (two long names that
start alike stay two columns, and a clicked cell gives its whole name back) and the ticks show them shortened.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go

from core.evaluation.results import row_normalized
from core.report.text import chart

CORRECT_COLOR, WRONG_COLOR, BASELINE_COLOR, BEST_COLOR, RUN_COLOR = "#2e7d32", "#c62828", "#9e9e9e", "#f9a825", "#1565c0"


def category(name: object) -> str:
    """A user's name as a category on a chart axis: whole and escaped (what a clicked point reports back)."""
    return chart(name, limit=None)


def category_axis(names: Sequence[object]) -> dict:
    """Axis settings that show each category (see `category`) shortened; the whole name is in the hover box."""
    values = [category(n) for n in names]
    return {"type": "category", "tickmode": "array", "tickvals": values, "ticktext": [chart(n) for n in names]}


def confusion_figure(labels: Sequence[str], matrix: Sequence[Sequence[int]], normalized: bool) -> go.Figure:
    """Heatmap with true classes as rows and predicted classes as columns; hover gives count and row rate.

    A transparent marker sits on every cell: plotly selects points of a scatter trace on click, so the
    page can list the examples of the clicked cell (its x is the predicted class, its y the true class).
    """
    axis = category_axis(labels)
    labels = axis["tickvals"]  # whole and escaped
    n = len(labels)
    rates = row_normalized(matrix)
    counts = [[int(v) for v in row] for row in matrix]
    shown = rates if normalized else counts
    # Cells shrink with many classes so the chart stays on screen; numbers inside only while they fit.
    cell = 60 if n <= 10 else max(12, 700 // n)
    text = [[(f"{rates[i][j]:.0%}" if normalized else str(counts[i][j])) if n <= 25 else "" for j in range(n)]
            for i in range(n)]
    hover = [[f"true {labels[i]} → predicted {labels[j]}<br>{counts[i][j]} examples<br>"
              f"{rates[i][j]:.1%} of true {labels[i]}" for j in range(n)] for i in range(n)]
    figure = go.Figure(go.Heatmap(
        z=shown, x=labels, y=labels, text=text, texttemplate="%{text}", hoverinfo="skip",
        colorscale="Blues", zmin=0, zmax=1 if normalized else None, showscale=False,
    ))
    figure.add_trace(go.Scatter(
        x=[labels[j] for i in range(n) for j in range(n)], y=[labels[i] for i in range(n) for j in range(n)],
        mode="markers", marker={"size": cell * 0.9, "opacity": 0, "symbol": "square"},
        hovertext=[hover[i][j] for i in range(n) for j in range(n)],
        hovertemplate="%{hovertext}<extra></extra>", showlegend=False,
    ))
    figure.update_layout(
        xaxis={"title": "Predicted class", **axis, "side": "top"},
        yaxis={"title": "True class", **axis, "autorange": "reversed"},
        height=max(300, cell * n + 140), margin={"l": 10, "r": 10, "t": 60, "b": 10},
        clickmode="event+select",
    )
    return figure


# The stored metric names (train_loss, val_macro_f1) as a chart's legend says them.
CURVE_NAMES = {"train_loss": "training loss", "val_loss": "validation loss", "val_accuracy": "validation accuracy",
               "val_macro_f1": "validation macro-F1"}
AXIS_NAMES = {"step": "update step", "epoch": "epoch"}


def curve_figure(points: pd.DataFrame, x: str, title: str, y_title: str) -> go.Figure:
    """One line per metric name (points: columns x, name, value); stored names read as words (CURVE_NAMES)."""
    figure = go.Figure()
    for name, group in points.groupby("name", sort=False):
        figure.add_trace(go.Scatter(x=group[x], y=group["value"], mode="lines+markers",
                                    name=CURVE_NAMES.get(str(name), str(name))))
    figure.update_layout(title=title, xaxis_title=AXIS_NAMES.get(x, x), yaxis_title=y_title, height=320,
                         margin={"l": 10, "r": 10, "t": 40, "b": 10})
    return figure


def histogram_figure(histogram: pd.DataFrame) -> go.Figure:
    """Stacked bars of correct and wrong predictions per confidence bin."""
    figure = go.Figure()
    for outcome, color in (("correct", CORRECT_COLOR), ("wrong", WRONG_COLOR)):
        part = histogram[histogram["outcome"] == outcome]
        figure.add_trace(go.Bar(x=[f"{s:.0%}–{e:.0%}" for s, e in zip(part["bin_start"], part["bin_end"])],
                                y=part["count"], name=outcome, marker_color=color))
    figure.update_layout(barmode="stack", xaxis_title="Confidence", yaxis_title="Test examples", height=300,
                         margin={"l": 10, "r": 10, "t": 10, "b": 10})
    return figure


def reliability_figure(tables: dict[str, pd.DataFrame]) -> go.Figure:
    """Accuracy against stated confidence per bin, one line per table ("before" / "after" calibration), with the
    diagonal a perfectly calibrated model would follow (tables: core.evaluation.calibration.reliability)."""
    figure = go.Figure(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfectly calibrated",
                                  line={"dash": "dot", "color": BASELINE_COLOR}))
    for (name, table), color in zip(tables.items(), (WRONG_COLOR, RUN_COLOR)):
        figure.add_trace(go.Scatter(
            x=table["confidence"], y=table["accuracy"], mode="lines+markers", name=name, line={"color": color},
            customdata=table["count"], hovertemplate="said %{x:.0%} sure, right %{y:.0%} (%{customdata} examples)"
                                                     "<extra></extra>"))
    figure.update_layout(xaxis={"title": "Confidence the model states", "range": [0, 1], "tickformat": ".0%"},
                         yaxis={"title": "Share right (test)", "range": [0, 1.02], "tickformat": ".0%"},
                         height=340, margin={"l": 10, "r": 10, "t": 10, "b": 10})
    return figure


def coverage_figure(curve: pd.DataFrame, chosen: float | None) -> go.Figure:
    """Accuracy of the answered examples against the share answered, from validation
    (curve: core.evaluation.decision.coverage_curve); the chosen operating point marked."""
    figure = go.Figure(go.Scatter(
        x=curve["coverage"], y=curve["accuracy"], mode="lines", name="validation", line={"color": RUN_COLOR},
        customdata=curve["min_confidence"],
        hovertemplate="answer %{x:.0%} at %{y:.1%} accuracy (confidence ≥ %{customdata:.2f})<extra></extra>"))
    if chosen is not None and not curve.empty:
        point = curve[curve["min_confidence"] >= chosen].iloc[-1] if (curve["min_confidence"] >= chosen).any() \
            else curve.iloc[0]
        figure.add_trace(go.Scatter(x=[point["coverage"]], y=[point["accuracy"]], mode="markers", name="chosen",
                                    marker={"size": 12, "color": WRONG_COLOR}))
    figure.update_layout(xaxis={"title": "Share of examples answered", "range": [0, 1.02], "tickformat": ".0%"},
                         yaxis={"title": "Accuracy on those", "tickformat": ".1%"}, height=340,
                         margin={"l": 10, "r": 10, "t": 10, "b": 10})
    return figure


def data_curve_figure(curve) -> go.Figure:
    """Validation accuracy against training examples (core.training.data_curve.DataCurve): the mean of the draws,
    their range as a band, and the trend's reading at twice the data."""
    x = [p.examples for p in curve.points]
    figure = go.Figure([
        go.Scatter(x=x + x[::-1], y=[p.high for p in curve.points] + [p.low for p in curve.points][::-1],
                   fill="toself", line={"width": 0}, fillcolor="rgba(21,101,192,0.15)", name="range of the draws",
                   hoverinfo="skip"),
        go.Scatter(x=x, y=[p.accuracy for p in curve.points], mode="lines+markers", name="head only, validation",
                   line={"color": RUN_COLOR}, hovertemplate="%{x} examples: %{y:.1%}<extra></extra>"),
    ])
    if curve.doubled is not None:
        figure.add_trace(go.Scatter(
            x=[2 * x[-1]], y=[curve.doubled], mode="markers", name="expected with twice the data",
            marker={"color": BEST_COLOR, "size": 11}, error_y={"type": "data", "symmetric": False,
                                                              "array": [curve.doubled_high - curve.doubled],
                                                              "arrayminus": [curve.doubled - curve.doubled_low]},
            hovertemplate="%{x} examples: about %{y:.1%}<extra></extra>"))
    figure.update_layout(xaxis={"title": "Training examples", "type": "log"},
                         yaxis={"title": "Validation accuracy", "tickformat": ".0%"}, height=320,
                         margin={"l": 10, "r": 10, "t": 10, "b": 10})
    return figure


def comparison_figure(table: pd.DataFrame, metric: str = "macro_f1") -> go.Figure:
    """Bars of one metric per run and baseline; the best run in gold, baselines in grey."""
    colors = [BEST_COLOR if best else BASELINE_COLOR if kind == "baseline" else RUN_COLOR
              for best, kind in zip(table["best"], table["kind"])]
    axis = category_axis(table["run"])
    figure = go.Figure(go.Bar(x=axis["tickvals"], y=table[metric], marker_color=colors,
                              text=[None if pd.isna(v) else f"{v:.3f}" for v in table[metric]], textposition="outside"))
    figure.update_layout(xaxis=axis, yaxis={"title": metric.replace("_", "-"), "range": [0, 1.08]}, height=340,
                         margin={"l": 10, "r": 10, "t": 10, "b": 10})
    return figure
