"""Train: pick a dataset, a base model, a tuning method and a preset; see what it will cost; queue it.

Widgets -> a RunConfig -> storage.run_requests.enqueue. The background worker trains it; Runs shows it live.
"Search settings" queues a settings search instead (core.search.start_search), followed on the Search page, whose
"Use these settings" comes back here with `?settings_of=RUN`: the widgets start from that run's settings.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import streamlit as st

from core.catalog import ModelLoadError, checked_model_name, is_available_offline, list_models
from core.evaluation.few_examples import FEW_PER_CLASS, advice, class_counts
from core.methods import COMPARED_BY_DEFAULT, get_method, methods_for, settings_for
from core.methods.quick_choice import (
    CHOOSE, FIRST_METHOD, GOOD_ENOUGH, NAME, THEN_METHOD, first_run, shared_settings,
)
from core.run_config import BOOL, CHOICE, INT, RunConfig
from core.jobs.submit import images_sized_to_data, queue_run
from core.search import SearchError, search_space, start_search
from core.training.presets import PRESETS, resolve
from pages.shared.errors import error_ui
from pages.shared.formatting import duration_text, params_text
from pages.shared.clone import clone_ui
from pages.shared.run_cost import cost_ui
from pages.shared.gate import enter_page
from pages.shared.continual_ui import continue_form
from pages.shared.user_text import code, short
from storage.datasets import list_datasets
from storage.paths import data_home
from storage.runs import get_run

OTHER_MODEL = "other"
DEFAULTS = {f.name: f.default for f in fields(RunConfig)}
ERROR_DETAILS_KEY = "train_error_details"  # at most one error box shows at a time
SUGGESTED_FOLDS = 5  # cross-validation folds set for the user when classes have few examples


def unless_set(key: str, **default: Any) -> dict[str, Any]:
    """A widget's default, left out when its value is already in session state (filled in from a cloned run):
    Streamlit warns on the page when a widget gets both."""
    return {} if key in st.session_state else default


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
    chosen = st.selectbox("Dataset", ids, **unless_set("train_dataset", index=default), key="train_dataset", format_func=lambda i: (
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
                      index=None if f"train_model_{task}" in st.session_state else 0,
                      format_func=lambda k: entries[k].name if k in entries else "Other model",
                      help=RunConfig.help("model"))
    if choice == OTHER_MODEL:
        return st.text_input("Model id or folder", key="train_model_other", placeholder="e.g. distilroberta-base",
                             help="A model name from huggingface.co (downloaded once, needs internet), or the "
                             "full path of a model folder on the Tuneboard machine: a finished run's model, or one "
                             "in a folder listed in TUNEBOARD_MODEL_DIRS by whoever set up Tuneboard.").strip()
    return choice


def few_examples_ui(dataset) -> str | None:
    """When a class has under ~20 training examples: what each method scored at that size when we measured it,
    and the method to pick (the best measured). Returns that method's key, else None."""
    found = advice(class_counts(data_home() / dataset.path), dataset.task)
    if found is None:
        return None
    figure = lambda value, text: "not measured" if value is None else text(value)  # noqa: E731
    rows = "\n".join(f"| {e.name} | {figure(e.two_class_f1, '{:.2f}'.format)} | "
                     f"{figure(e.many_class_f1, '{:.2f}'.format)} | {figure(e.seconds, duration_text)} |"
                     for e in found.expectations)
    best = next(e for e in found.expectations if e.method == found.recommended)
    like = "26 classes (fortunes)" if found.many_classes else "2 classes (SMS spam)"
    leads = (" On data like yours, **no training at all (zero-shot) scored as well** as any method at this size: "
             "labelling more examples is what will help most." if found.zero_shot_leads else "")
    st.info(
        f"**Few examples.** The class {code(found.smallest_class)} has only {found.smallest_count} labelled "
        f"example{'s' if found.smallest_count != 1 else ''} (fewer than {FEW_PER_CLASS}). What each method scored "
        f"when we gave it {found.measured_size} examples per class (macro-F1 on texts it never saw, mean of "
        f"{found.draws} draw{'s' if found.draws != 1 else ''}, "
        "Quick preset, MiniLM, on a 2-core CPU; docs/BENCHMARKS.md):\n\n"
        f"| method | 2 classes (SMS spam) | 26 classes (fortunes) | training time ({like}) |\n|---|---|---|---|\n"
        f"{rows}\n| no training (zero-shot) | {figure(found.zero_shot[0], '{:.2f}'.format)} | "
        f"{figure(found.zero_shot[1], '{:.2f}'.format)} | none |\n\n"
        f"**Recommended: {best.name}**, the best at this size on the data set most like yours ({like}; the "
        f"faster of two that score alike), chosen below, with **{SUGGESTED_FOLDS}-fold "
        "cross-validation** (set under Advanced settings): the fixed split would judge the model on about one "
        "example per class, so instead every example is scored by a model trained without it, and the saved model "
        "trains on all of them. Even so, expect the estimate to be rough: its interval is wide (the verdict on "
        f"Results says how wide); labelling more examples narrows it more than any method can.{leads}",
        icon=":material/lightbulb:")
    return found.recommended


CHOOSE_CAPTION = (f"{get_method(FIRST_METHOD).name} first, a model in about a minute; {get_method(THEN_METHOD).name} "
                  f"follows by itself only if that scores below {GOOD_ENOUGH:.0%} validation macro-F1.")


def method_ui(task: str, recommended: str | None = None) -> str:
    """A registry method's key, or CHOOSE (the default unless few examples recommend a method)."""
    keys = [CHOOSE, *(m.key for m in methods_for(task))]
    default = recommended if recommended in keys else CHOOSE
    key = f"train_method_{task}"
    index = None if key in st.session_state else keys.index(default)  # prefilled: kept
    return st.radio("Tuning method", keys, key=key, index=index,
                    captions=[CHOOSE_CAPTION if k == CHOOSE else get_method(k).description for k in keys],
                    format_func=lambda k: NAME if k == CHOOSE else get_method(k).name,
                    help=RunConfig.help("method"))


def setting_ui(setting, preset_value: Any, suggested: Any = None) -> Any:
    """One Advanced widget, drawn from the RunConfig field's metadata (kind, bounds, help); `suggested` replaces
    the field's default (few examples: cross-validation)."""
    meta, name = setting.metadata, setting.name
    label, tip, key = name.replace("_", " ").capitalize(), meta["help"], f"train_adv_{name}"
    prefilled = key in st.session_state  # "Use these settings" set it: the widget takes it from there
    if meta["kind"] == BOOL:
        return st.checkbox(label, **unless_set(key, value=DEFAULTS[name]), help=tip, key=key)
    if meta["kind"] == CHOICE:
        return st.selectbox(label, meta["choices"], help=tip, key=key)
    default = DEFAULTS[name] if suggested is None else suggested
    placeholder = f"default: {preset_value:g}" if default is None and preset_value is not None else None
    bounds = {"min_value": meta["low"], "max_value": meta["high"], "step": meta.get("step"),
              "format": meta.get("format")}
    if meta["kind"] == INT and default is not None:
        default = int(default)
    return st.number_input(label, **unless_set(key, value=default), help=tip, key=key, placeholder=placeholder,
                           **{k: v for k, v in bounds.items() if v is not None})


def advanced_ui(task: str, method: str, resolved: RunConfig, suggested: dict[str, Any]) -> dict[str, Any]:
    """Overrides of the preset; an empty number field keeps the preset's value (shown as the placeholder).
    The settings shown are the ones that apply to this task and method (core.methods.settings_for); with
    "Fastest good model", those both of its methods read."""
    values: dict[str, Any] = {}
    shown = shared_settings(task) if method == CHOOSE else settings_for(task, get_method(method))
    with st.expander("Advanced settings", expanded=bool(suggested)):
        if method == CHOOSE:
            st.caption("Each method's preset sets its learning rate, epochs and batch size; pick a method above to "
                       "set them yourself.")
        columns = st.columns(3)
        for i, setting in enumerate(shown):
            with columns[i % 3]:
                values[setting.name] = setting_ui(setting, getattr(resolved, setting.name),
                                                  suggested.get(setting.name))
    return values


AUTO_RESUME_HELP = ("If the worker training it stops or its machine goes down, any worker resumes the run from its "
                    "last checkpoint by itself. Off: the run waits, interrupted, until you resume or retry it.")


def prefill_from_run(dataset) -> None:
    """`?settings_of=RUN` (the Search page's "Use these settings"): start the widgets from that run's settings, once
    per run asked for, before they are drawn. Its explicit settings go into Advanced; blanks keep the preset's."""
    asked = st.query_params.get("settings_of")
    if not asked or not asked.isdigit() or st.session_state.get("train_prefilled") == asked:
        return
    st.session_state["train_prefilled"] = asked
    run = get_run(int(asked))
    if run is None or run.dataset_id != dataset.id:
        return
    config, task = RunConfig.from_dict(run.config or {}), dataset.task
    models = [e.key for e in list_models(task)]
    if config.model in models:
        st.session_state[f"train_model_{task}"] = config.model
    else:
        st.session_state[f"train_model_{task}"], st.session_state["train_model_other"] = OTHER_MODEL, config.model
    st.session_state[f"train_method_{task}"] = config.method
    st.session_state["train_preset"] = config.preset
    for setting in settings_for(task, get_method(config.method)):
        value = getattr(config, setting.name)
        if value is not None:
            st.session_state[f"train_adv_{setting.name}"] = value
    st.session_state["train_prefilled_note"] = int(asked)


def search_ui(dataset, config: RunConfig, ready: bool) -> None:
    """Search settings: a time budget, then a search of this method's settings on this dataset and model."""
    method = get_method(config.method)
    with st.expander("Search settings"):
        if config.then_method:
            st.caption("Pick a method above to search its settings.")
            return
        space = search_space(dataset.task, config.method)
        if not space:
            st.caption(f"{method.name} has no settings to search on {dataset.task} data.")
            return
        st.caption(f"Not sure which settings to pick? A search tries several {method.name} settings on this dataset "
                   "and model within the time you give it, keeps the best on the validation examples and explains "
                   f"which settings mattered. It tries: {'; '.join(s.describe() for s in space)}. Each trial is a run "
                   "on the same worker; trials that trail the others are stopped early to leave time for more.")
        budget = st.number_input("Time budget (minutes)", min_value=1, max_value=7 * 24 * 60, value=30, step=5,
                                 key="train_search_budget", help="The whole search: no trial starts that its estimate "
                                 "says cannot finish in the time left. More time tries more settings.")
        if st.button("Start the search", key="train_search", disabled=not ready, icon=":material/travel_explore:",
                     help="Queue the search. The background worker drives it; you can close the tab and come back."):
            try:
                st.session_state["train_search_started"] = start_search(dataset, config.model, config.method, budget)
            except SearchError as error:
                error_ui(str(error), key=ERROR_DETAILS_KEY)
    started = st.session_state.get("train_search_started")
    if started:
        st.success(f"Search #{started} started. The background worker tries settings one after another; closing "
                   "this tab does not stop it.")
        st.page_link("pages/search.py", label=f"Follow search #{started}", icon=":material/travel_explore:",
                     query_params={"search": str(started)})


def launch(dataset, configs: list[RunConfig]) -> None:
    auto_resume = bool(st.session_state.get("train_auto_resume"))
    names = [f"{c.method} · {c.model}" + (f" · {NAME.lower()}" if c.then_method else "") for c in configs]
    ids = [queue_run(dataset, c, name=name, auto_resume=auto_resume) for c, name in zip(configs, names)]
    st.session_state["train_launched"] = (dataset.id, ids)
    st.session_state.pop("train_cloned", None)


def launched_ui(dataset_id: int | None = None) -> None:
    """The confirmation of the last launch; with `dataset_id`, only for that dataset (another's would mislead)."""
    launched_for, launched = st.session_state.get("train_launched") or (None, [])
    if not launched or (dataset_id is not None and launched_for != dataset_id):
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
clone_ui()
dataset = dataset_ui()
task = dataset.task
prefill_from_run(dataset)
if st.session_state.get("train_prefilled_note"):
    st.info(f"Settings filled in from run #{st.session_state['train_prefilled_note']}, the search's best. Check the "
            "cost below and press **Launch** to train it (or change them first).")
recommended = few_examples_ui(dataset)
left, right = st.columns(2)
with left:
    model = model_ui(task)
with right:
    method = method_ui(task, recommended)
    st.caption(get_method(FIRST_METHOD if method == CHOOSE else method).note)
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
base = (first_run(RunConfig(model=model, preset=preset)) if method == CHOOSE
        else RunConfig(model=model, method=method, preset=preset))
try:
    resolved = images_sized_to_data(dataset, resolve(task, base))  # what an empty field will train with
except ValueError as error:
    error_ui(str(error), key=ERROR_DETAILS_KEY)
    st.stop()
suggested = {"cross_validation_folds": SUGGESTED_FOLDS} if recommended else {}
config = RunConfig.from_dict({**base.to_dict(), **advanced_ui(task, method, resolved, suggested)})
entry = next((e for e in list_models(task) if e.key == model), None)
ready = cost_ui(dataset, config, can_count=entry is None or is_available_offline(entry), error_key=ERROR_DETAILS_KEY)

st.checkbox("Resume automatically", key="train_auto_resume", help=AUTO_RESUME_HELP)
if st.button("Launch", type="primary", key="train_launch", disabled=not ready, icon=":material/rocket_launch:",
             help="Queue this run. A background worker trains it; you can close the tab and come back."):
    launch(dataset, [config])
confirmation = st.container()  # right under Launch: the Compare panel below may be open and long
with st.expander("Compare methods"):
    st.caption("Queue one run per method on this dataset and model, with the same preset and settings; "
               "each method keeps its own preset learning rate.")
    chosen = st.multiselect("Methods", [m.key for m in methods_for(task)], key="train_compare_methods",
                            default=[m for m in COMPARED_BY_DEFAULT if get_method(m).applies_to(task)],
                            format_func=lambda k: get_method(k).name,
                            help="The methods to try side by side; Results compares them on the same test examples.")
    if st.button(f"Queue {len(chosen)} runs", key="train_compare", disabled=not (ready and chosen),
                 help="Queue one run per chosen method; the worker trains them one after another."):
        launch(dataset, [RunConfig.from_dict({**config.to_dict(), "method": m, "learning_rate": None,
                                              "then_method": None}) for m in chosen])
with confirmation:
    launched_ui(dataset.id)
search_ui(dataset, config, ready)
