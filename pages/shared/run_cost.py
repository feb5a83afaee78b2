"""The Train page's cost cards: trainable parameters, estimated time and peak memory, the device; for "Fastest good
model", what the method that may follow would add."""

from __future__ import annotations

from typing import Any

import streamlit as st

from core.catalog import ModelLoadError
from core.jobs.submit import has_measured, run_estimate
from core.methods import get_method
from core.methods.quick_choice import then_run
from core.run_config import RunConfig
from core.training.estimate import count_parameters
from pages.shared.errors import error_ui
from pages.shared.formatting import bytes_text, duration_text, params_text


@st.cache_data(show_spinner="Counting the parameters this method trains…", max_entries=64)
def parameter_counts(task: str, config: dict[str, Any], num_labels: int) -> dict[str, Any]:
    try:
        trainable, total = count_parameters(task, RunConfig.from_dict(config), num_labels)
    except (ModelLoadError, ValueError) as error:
        return {"error": str(error), "detail": getattr(error, "detail", "")}
    return {"trainable": trainable, "total": total}


def cost_ui(dataset, config: RunConfig, can_count: bool, error_key: str) -> bool:
    """Trainable parameters, time, memory, device. False when the settings cannot train (the error shown under
    `error_key`: one error box on the page at a time)."""
    try:
        if not can_count or has_measured(dataset, config):
            guess = run_estimate(dataset, config, can_probe=can_count)
        else:
            with st.spinner("Timing a few training steps on this machine (once per model, method and batch; up "
                            "to half a minute)…"):
                guess = run_estimate(dataset, config)
    except (ModelLoadError, ValueError) as error:
        error_ui(str(error), getattr(error, "detail", ""), key=error_key)
        return False
    cards = st.columns(4)
    if can_count:
        counts = parameter_counts(dataset.task, config.to_dict(), len(dataset.labels))
        if "error" in counts:
            error_ui(counts["error"], counts["detail"], key=error_key)
            return False
        share = counts["trainable"] / max(counts["total"], 1)
        cards[0].metric("Trainable parameters", params_text(counts["trainable"]), border=True,
                        help=f"{counts['trainable']:,} of {counts['total']:,} ({share:.2%}) learn; the rest stay frozen.")
        cards[0].caption(f"{share:.2%} of {params_text(counts['total'])}")
    else:
        cards[0].metric("Trainable parameters", "—", border=True)
        cards[0].caption("Counted when the model is downloaded.")
    measured = guess.get("how") == "measured"
    how = ("from a few real training steps timed on this machine" if measured
           else "a rough estimate from typical speeds (no training steps could be timed)")
    cards[1].metric("Estimated time", duration_text(guess["seconds"]), border=True,
                    help=f"{guess['epochs']} epochs, start to saved model; {how}.")
    cards[2].metric("Peak memory", bytes_text(guess["memory_bytes"]), border=True,
                    help="Measured while timing those steps." if measured else "A rough estimate.")
    follow_up_cost_ui(dataset, config, can_count, cards)
    on_gpu = guess["device"] == "cuda"
    cards[3].metric("Runs on", "GPU" if on_gpu else "CPU", border=True)
    cards[3].caption("A GPU was found." if on_gpu else "No GPU found: training uses the CPU.")
    return True


def follow_up_cost_ui(dataset, config: RunConfig, can_count: bool, cards) -> None:
    """"Fastest good model": what the run that may follow would cost, under the first run's figures."""
    then = then_run(config)
    if then is None:
        return
    try:
        with st.spinner("Timing a few training steps of the method that may follow…"):
            guess = run_estimate(dataset, then, can_probe=can_count)
    except (ModelLoadError, ValueError):
        return  # the first run's figures stand; the follow-up's own estimate is made when it is queued
    name = get_method(then.method).name
    cards[1].caption(f"+ {duration_text(guess['seconds'])} if {name} follows")
    cards[2].caption(f"{bytes_text(guess['memory_bytes'])} if {name} follows")
