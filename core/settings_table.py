"""A run's settings as a person reads them: one row per setting with its value and where it came from (your choice,
the preset, or the default), instead of the raw config with empty values."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import pandas as pd

from core.methods import get_method, settings_for
from core.methods.quick_choice import GOOD_ENOUGH, NAME
from core.run_config import RunConfig
from core.training.presets import PRESET_FIELDS, resolve

DEFAULTS = {f.name: f.default for f in fields(RunConfig)}
CHOSEN_ALWAYS = ("model", "method", "preset")
# How far training went, from the trained values (not settings, but read beside them).
PROGRESS = {"epochs_run": "Epochs trained", "steps": "Update steps"}


def setting_label(name: str) -> str:
    return name.replace("_", " ").capitalize()


def value_text(value: Any) -> str:
    """Never a raw None, and no scientific notation for ordinary numbers."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.6f}".rstrip("0").rstrip(".") if value < 1 else f"{value:,.4g}"
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 10_000 else str(value)
    return str(value)


def settings_table(task: str, config: dict[str, Any], trained: dict[str, Any]) -> pd.DataFrame:
    """Columns setting, value, from. `config`: the run's config as chosen (None = the preset decides); `trained`:
    what the preset resolved to and how far training went (empty before training starts)."""
    preset = config.get("preset") or DEFAULTS["preset"]
    decided = dict(trained)
    if not trained:  # not trained yet: what the preset will decide (an image size may still follow the images)
        try:
            resolved = resolve(task, RunConfig.from_dict(config))
            decided = {name: getattr(resolved, name) for name in PRESET_FIELDS}
        except (KeyError, ValueError):
            pass
    try:
        shown = [f.name for f in settings_for(task, get_method(config.get("method") or DEFAULTS["method"]))]
    except KeyError:  # a method this version no longer knows: show every setting
        shown = [f.name for f in fields(RunConfig) if f.metadata.get("kind")]
    names = [*CHOSEN_ALWAYS, *shown, *(n for n in PRESET_FIELDS if n not in shown and decided.get(n) is not None)]
    rows = []
    for name in dict.fromkeys(names):
        chosen = config.get(name)
        if name in CHOSEN_ALWAYS:
            value, source = chosen, "your choice"
            if name == "method" and config.get("then_method"):
                source = f"{NAME}: Tuneboard's first choice"
        elif name in PRESET_FIELDS and chosen is None:
            value, source = decided.get(name), f"the {preset} preset"
        else:
            value = chosen if name in config else DEFAULTS.get(name)
            source = "the default" if value == DEFAULTS.get(name) else "your choice"
        rows.append({"setting": setting_label(name), "value": value_text(value), "from": source})
    if config.get("then_method"):
        rows.append({"setting": "Then method", "value": value_text(config["then_method"]),
                     "from": f"{NAME}: trains next if this run scores below {GOOD_ENOUGH:.2f} "
                             "validation macro-F1"})
    rows += [{"setting": label, "value": value_text(trained[key]), "from": "training"}
             for key, label in PROGRESS.items() if trained.get(key) is not None]
    return pd.DataFrame(rows, columns=["setting", "value", "from"])
