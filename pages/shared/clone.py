"""Train's side of Runs' Clone button: ?clone=RUN fills the Train page's widgets with that run's dataset and settings,
once, and says so; nothing is queued until Launch (issue 26: Clone used to queue a duplicate at once)."""

from __future__ import annotations

from dataclasses import fields

import streamlit as st

from core.catalog import list_models
from core.methods.quick_choice import CHOOSE
from core.run_config import RunConfig, setting_fields
from storage.runs import get_run

OTHER_MODEL = "other"  # the Train page's "Other model" choice (pages/train.py)
DEFAULTS = {f.name: f.default for f in fields(RunConfig)}


def clone_ui() -> None:
    """?clone=RUN (the Clone button on Runs): fill the widgets with that run's dataset and settings, once, and say so.
    Nothing is queued until Launch."""
    asked = st.query_params.get("clone")
    if asked and asked.isdigit():
        del st.query_params["clone"]  # applied once: a later rerun keeps what the user changed since
        run = get_run(int(asked))
        if run is None:
            st.session_state["train_cloned"] = f"There is no run {asked} to clone any more; pick the settings below."
            return
        config, task = run.config or {}, run.dataset.task
        st.session_state["train_dataset"] = run.dataset_id
        model = config.get("model", DEFAULTS["model"])
        if model in {e.key for e in list_models(task)}:
            st.session_state[f"train_model_{task}"] = model
        else:
            st.session_state[f"train_model_{task}"], st.session_state["train_model_other"] = OTHER_MODEL, model
        # A "Fastest good model" run (head only, LoRA if needed) is cloned as that choice, not as head only.
        chosen = CHOOSE if config.get("then_method") else config.get("method", DEFAULTS["method"])
        st.session_state[f"train_method_{task}"] = chosen
        st.session_state["train_preset"] = config.get("preset", DEFAULTS["preset"])
        for setting in setting_fields():
            key = f"train_adv_{setting.name}"
            st.session_state.pop(key, None)
            if config.get(setting.name) is not None:
                st.session_state[key] = config[setting.name]
        st.session_state.pop("train_launched", None)
        st.session_state["train_cloned"] = (f"The settings of run #{run.id} are filled in below: change what you like, "
                                            "then press **Launch** to queue it as a new run.")
    if "train_cloned" in st.session_state:
        st.info(st.session_state["train_cloned"], icon=":material/content_copy:")
