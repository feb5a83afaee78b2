"""Train: pick a dataset, a base model, a tuning method and a preset; see what it will cost; queue it.

Widgets -> a RunConfig -> storage.run_requests.enqueue. The background worker trains it; Runs shows it live.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import streamlit as st

from core.catalog import ModelLoadError, checked_model_name, is_available_offline, list_models
from core.methods import COMPARED_BY_DEFAULT, get_method, methods_for, settings_for
from core.run_config import BOOL, CHOICE, INT, RunConfig
from core.jobs.submit import has_measured, images_sized_to_data, queue_run, run_estimate
from core.training.estimate import count_parameters
from core.training.presets import PRESETS, resolve
from pages.shared.errors import error_ui
from pages.shared.formatting import bytes_text, duration_text, params_text
from pages.shared.gate import enter_page
from pages.shared.user_text import short
from pages.shared.continual_ui import continue_form
from storage.datasets import list_datasets

OTHER_MODEL = "other"
DEFAULTS = {f.name: f.default for f in fields(RunConfig)}
ERROR_DETAILS_KEY = "train_error_details"  # at most one error box shows at a time


def speed_text(params: int) -> str:
    return "fast" if params < 30e6 else "medium speed" if params < 100e6 else "slow on a CPU"


def dataset_ui():
    datasets = list_datasets()
    if not datasets:
        st.info("No datasets yet — upload one on **Data**, or load the ready-made example there.")
        st.page_link("pages/data.py", label="Go to Data", icon=":material/upload:")
        st.stop()
    ids = [d.id for d in datasets]
    by_id = {d.id: d for d in datasets}
    asked = st.query_params.get("dataset")
    default = ids.index(int(asked)) if asked and asked.isdigit() and int(asked) in ids else 0
    chosen = st.selectbox("Dataset", ids, index=default, key="train_dataset", format_func=lambda i: (
        f"{short(by_id[i].name)} · {by_id[i].task} · {by_id[i].num_examples} examples · {len(by_id[i].labels)} classes"),
        help="The labeled examples to learn from, as saved on the Data page. The model is judged on the part "
        "of them set aside for testing.")
    return by_id[chosen]


def model_ui(task: str) -> str:
    entries = {e.key: e for e in list_models(task)}
    captions = [f"{params_text(e.params)} parameters · {speed_text(e.params)} · "
                f"{'works offline' if is_available_offline(e) else 'needs internet (downloads once)'}"
                f"{' · ' + e.languages if e.languages else ''} — {e.description}" for e in entries.values()]
    captions.append("Any Hugging Face model id, or a folder with a saved model.")
    choice = st.radio("Base model", [*entries, OTHER_MODEL], captions=captions, key=f"train_model_{task}",
                      format_func=lambda k: entries[k].name if k in entries else "Other model",
                      help=RunConfig.help("model"))
    if choice == OTHER_MODEL:
        return st.text_input("Model id or folder", key="train_model_other", placeholder="e.g. distilroberta-base",
                             help="A model name from huggingface.co (downloaded once, needs internet), or the "
                             "full path of a model folder on the Tuneboard machine: a finished run's model, or one "
                             "in a folder listed in TUNEBOARD_MODEL_DIRS by whoever set up Tuneboard.").strip()
    return choice


def method_ui(task: str) -> str:
    keys = [m.key for m in methods_for(task)]
    default = DEFAULTS["method"]
    return st.radio("Tuning method", keys, key=f"train_method_{task}", index=keys.index(default) if default in keys else 0,
                    captions=[get_method(k).description for k in keys], format_func=lambda k: get_method(k).name,
                    help=RunConfig.help("method"))


def setting_ui(setting, preset_value: Any) -> Any:
    """One Advanced widget, drawn from the RunConfig field's metadata (kind, bounds, help)."""
    meta, name = setting.metadata, setting.name
    label, tip, key = name.replace("_", " ").capitalize(), meta["help"], f"train_adv_{name}"
    if meta["kind"] == BOOL:
        return st.checkbox(label, value=DEFAULTS[name], help=tip, key=key)
    if meta["kind"] == CHOICE:
        return st.selectbox(label, meta["choices"], help=tip, key=key)
    default = DEFAULTS[name]
    placeholder = f"default: {preset_value:g}" if default is None and preset_value is not None else None
    bounds = {"min_value": meta["low"], "max_value": meta["high"], "step": meta.get("step"),
              "format": meta.get("format")}
    if meta["kind"] == INT and default is not None:
        default = int(default)
    return st.number_input(label, value=default, help=tip, key=key, placeholder=placeholder,
                           **{k: v for k, v in bounds.items() if v is not None})


def advanced_ui(task: str, method: str, resolved: RunConfig) -> dict[str, Any]:
    """Overrides of the preset; an empty number field keeps the preset's value (shown as the placeholder).
    The settings shown are the ones that apply to this task and method (core.methods.settings_for)."""
    values: dict[str, Any] = {}
    with st.expander("Advanced settings"):
        columns = st.columns(3)
        for i, setting in enumerate(settings_for(task, get_method(method))):
            with columns[i % 3]:
                values[setting.name] = setting_ui(setting, getattr(resolved, setting.name))
    return values


@st.cache_data(show_spinner="Counting the parameters this method trains…", max_entries=64)
def parameter_counts(task: str, config: dict[str, Any], num_labels: int) -> dict[str, Any]:
    try:
        trainable, total = count_parameters(task, RunConfig.from_dict(config), num_labels)
    except (ModelLoadError, ValueError) as error:
        return {"error": str(error), "detail": getattr(error, "detail", "")}
    return {"trainable": trainable, "total": total}


def cost_ui(dataset, config: RunConfig, can_count: bool) -> bool:
    """Trainable parameters, time, memory, device. False when the settings cannot train."""
    try:
        if not can_count or has_measured(dataset, config):
            guess = run_estimate(dataset, config, can_probe=can_count)
        else:
            with st.spinner("Timing a few training steps on this machine (once per model, method and batch; up "
                            "to half a minute)…"):
                guess = run_estimate(dataset, config)
    except (ModelLoadError, ValueError) as error:
        error_ui(str(error), getattr(error, "detail", ""), key=ERROR_DETAILS_KEY)
        return False
    cards = st.columns(4)
    if can_count:
        counts = parameter_counts(dataset.task, config.to_dict(), len(dataset.labels))
        if "error" in counts:
            error_ui(counts["error"], counts["detail"], key=ERROR_DETAILS_KEY)
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
    on_gpu = guess["device"] == "cuda"
    cards[3].metric("Runs on", "GPU" if on_gpu else "CPU", border=True)
    cards[3].caption("A GPU was found." if on_gpu else "No GPU found: training uses the CPU.")
    return True


def launch(dataset, configs: list[RunConfig]) -> None:
    ids = [queue_run(dataset, c, name=f"{c.method} · {c.model}") for c in configs]
    st.session_state["train_launched"] = ids


def launched_ui() -> None:
    launched = st.session_state.get("train_launched")
    if not launched:
        return
    several = len(launched) > 1
    st.success(f"Queued run{'s' if several else ''} {', '.join(f'#{i}' for i in launched)}. The background worker "
               f"trains {'them one after another' if several else 'it'}; closing this tab does not stop it.")
    st.page_link("pages/runs.py", label=f"Follow run #{launched[0]} on Runs", icon=":material/play_circle:",
                 query_params={"run": str(launched[0])})


enter_page()  # a URL may open this page without app.py (pages/shared/gate.py)
st.title("Train")
st.write("Pick a dataset, a base model and a tuning method, check what training will cost, then press **Launch**; "
         "the run trains in the background and you can follow it on **Runs**.")
asked_run = st.query_params.get("from_run")
if asked_run and asked_run.isdigit():  # "Continue training" from Results: a form of its own
    continue_form(int(asked_run))
    launched_ui()
    st.stop()
dataset = dataset_ui()
task = dataset.task
left, right = st.columns(2)
with left:
    model = model_ui(task)
with right:
    method = method_ui(task)
    st.caption(get_method(method).note)
    preset = st.radio("Preset", list(PRESETS), horizontal=True, key="train_preset", format_func=str.capitalize,
                      help=RunConfig.help("preset"))
if not model:
    st.info("Type a Hugging Face model id or a model folder.")
    st.stop()
try:
    model = checked_model_name(model, task)  # a folder typed here is read only under the allowed folders
except ModelLoadError as error:
    error_ui(str(error), error.detail, key=ERROR_DETAILS_KEY)
    st.stop()
base = RunConfig(model=model, method=method, preset=preset)
try:
    resolved = images_sized_to_data(dataset, resolve(task, base))  # what an empty field will train with
except ValueError as error:
    error_ui(str(error), key=ERROR_DETAILS_KEY)
    st.stop()
config = RunConfig.from_dict({**base.to_dict(), **advanced_ui(task, method, resolved)})
entry = next((e for e in list_models(task) if e.key == model), None)
ready = cost_ui(dataset, config, can_count=entry is None or is_available_offline(entry))

if st.button("Launch", type="primary", key="train_launch", disabled=not ready, icon=":material/rocket_launch:",
             help="Queue this run. A background worker trains it; you can close the tab and come back."):
    launch(dataset, [config])
with st.expander("Compare methods"):
    st.caption("Queue one run per method on this dataset and model, with the same preset and settings; "
               "each method keeps its own preset learning rate.")
    chosen = st.multiselect("Methods", [m.key for m in methods_for(task)], key="train_compare_methods",
                            default=[m for m in COMPARED_BY_DEFAULT if get_method(m).applies_to(task)],
                            format_func=lambda k: get_method(k).name,
                            help="The methods to try side by side; Results compares them on the same test examples.")
    if st.button(f"Queue {len(chosen)} runs", key="train_compare", disabled=not (ready and chosen),
                 help="Queue one run per chosen method; the worker trains them one after another."):
        launch(dataset, [RunConfig.from_dict({**config.to_dict(), "method": m, "learning_rate": None}) for m in chosen])

launched_ui()
