"""Charts show the user's class and run names as text: plotly renders <a href>, <b> and <br> in chart text."""

from __future__ import annotations

import json

import pandas as pd

from pages.shared.charts import (
    category, class_balance_figure, comparison_figure, confusion_figure, probability_figure, threshold_figure,
)

LINK = "[Login again](https://evil.example) ![p](http://127.0.0.1:9/x.png)"
HTML = '<a href="https://evil.example">x</a>'
LONG = HTML + " and then a very long class name" * 9  # about 330 characters
LONG_TOO = HTML + " and then a very long class name, another one" * 7  # starts like LONG


def figure_text(figure) -> str:
    """Every string of the figure as st.plotly_chart sends it to the browser (to_json writes < as \\u003c)."""
    return json.dumps(json.loads(figure.to_json()), ensure_ascii=False)


def test_class_names_are_escaped_and_cut_on_the_axes_and_whole_in_the_hover():
    labels = [LINK, LONG, LONG_TOO]
    figure = confusion_figure(labels, [[1, 0, 0], [0, 1, 0], [0, 0, 1]], normalized=False)
    assert "<a " not in figure_text(figure)  # neither in ticks, nor categories, nor hover
    for axis in (figure.layout.xaxis, figure.layout.yaxis):
        assert list(axis.tickvals) == [category(label) for label in labels]  # whole and escaped: three columns
        assert axis.ticktext[1].startswith("&lt;a href=") and len(axis.ticktext[1]) < 60  # cut
        assert axis.ticktext[1] == axis.ticktext[2]  # cut alike, yet two columns
    heatmap, cells = figure.data
    assert list(heatmap.x) == list(figure.layout.xaxis.tickvals)
    assert cells.hovertext[4].startswith(f"true {category(LONG)} → predicted {category(LONG)}<br>")


def test_every_chart_escapes_the_names_it_shows():
    top = pd.DataFrame({"class": [HTML, LINK], "probability": [0.7, 0.3]})
    curve = pd.DataFrame({"threshold": [0.1, 0.5], "name": ["precision", "precision"], "value": [0.5, 0.6]})
    table = pd.DataFrame({"run": [f"#1 {HTML}", "majority baseline"], "kind": ["run", "baseline"],
                          "best": [True, False], "macro_f1": [0.8, 0.4]})
    frame = pd.DataFrame({"label": [HTML, HTML, LINK], "split": ["train", "test", "train"]})
    for figure in (probability_figure(top), threshold_figure(curve, 0.5, HTML), comparison_figure(table),
                   class_balance_figure(frame)):
        text = figure_text(figure)
        assert "<a " not in text and "&lt;a href=" in text


def test_the_same_names_unescaped_would_reach_the_chart():
    """What the escaping guards against: plotly keeps the tags in the figure and the browser renders them."""
    import plotly.graph_objects as go

    assert "<a " in figure_text(go.Figure(go.Bar(x=[HTML], y=[1])))
