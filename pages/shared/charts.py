"""Plotly figures for the pages, built from plain data (no streamlit here, so tests can build them directly).

The figures the downloaded report draws too (the confusion matrix, curves, calibration, coverage, the comparison,
the data-size learning curve)
are built once in core.report.charts and imported from there; the ones only pages draw (the threshold curve, a
prediction's probabilities, the class balance of an upload) are here. Names are escaped as in core.report.charts.
"""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from core.report.charts import (
    BASELINE_COLOR, BEST_COLOR, CORRECT_COLOR, RUN_COLOR, WRONG_COLOR, category, category_axis, comparison_figure,
    confusion_figure, coverage_figure, curve_figure, data_curve_figure, histogram_figure, reliability_figure,
)
from core.report.text import chart

__all__ = ["BASELINE_COLOR", "BEST_COLOR", "CORRECT_COLOR", "RUN_COLOR", "WRONG_COLOR", "category", "category_axis",
           "class_balance_figure", "comparison_figure", "confusion_figure", "coverage_figure", "curve_figure",
           "data_curve_figure", "histogram_figure", "probability_figure", "reliability_figure", "threshold_figure"]


def threshold_figure(curve: pd.DataFrame, threshold: float, positive: str) -> go.Figure:
    """Precision / recall / F1 of the positive class against the threshold, with the chosen one marked."""
    figure = curve_figure(curve, "threshold", f"'{chart(positive)}' detection across thresholds", "score")
    figure.add_vline(x=threshold, line_dash="dash", line_color=WRONG_COLOR)
    return figure


def probability_figure(top: pd.DataFrame) -> go.Figure:
    """Horizontal bars of the top classes' probabilities (top: columns class, probability; most likely first)."""
    axis = category_axis(top["class"])
    figure = go.Figure(go.Bar(x=top["probability"], y=axis["tickvals"], orientation="h", marker_color=RUN_COLOR,
                              text=[f"{p:.1%}" for p in top["probability"]], textposition="auto"))
    figure.update_layout(xaxis={"range": [0, 1], "title": "probability"}, yaxis={**axis, "autorange": "reversed"},
                         height=60 + 40 * len(top), margin={"l": 10, "r": 10, "t": 10, "b": 10})
    return figure


def class_balance_figure(frame: pd.DataFrame) -> go.Figure:
    """Stacked bars of examples per class, one colour per split (frame: one row per example, columns label, split)."""
    balance = frame.groupby(["label", "split"]).size().reset_index(name="examples")
    axis = category_axis(balance["label"].drop_duplicates())
    balance["label"] = balance["label"].map(category)
    figure = px.bar(balance, x="label", y="examples", color="split", title="Examples per class",
                    category_orders={"split": ["train", "val", "test"]}, labels={"label": "class"})
    figure.update_xaxes(**axis)
    return figure
