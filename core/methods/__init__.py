"""The tuning-method registry: one module per method, each a `TuningMethod` that owns what is specific to it
(see core/methods/base.py). Adding a method is adding one module and one `register` call; nothing else
compares method names.

    method = get_method(config.method)
    apply_method(built, config)      # which weights train; a peft wrapper for peft methods
"""

from __future__ import annotations

from dataclasses import Field

from core.catalog import ModelLoadError
from core.methods import bitfit, fewshot, full, head, ia3, lora, prefix, prompt
from core.methods.base import TuningMethod
from core.models.base import BuiltModel
from core.run_config import setting_fields

METHODS: dict[str, TuningMethod] = {}
# The Train page's "Compare methods" starts with these: the fastest, the usual choice and the most thorough.
COMPARED_BY_DEFAULT = ("head", "lora", "full")


def register(method: TuningMethod) -> TuningMethod:
    """Add a method to the registry (the Train page, the CLI and training find it by its key)."""
    if method.key in METHODS:
        raise ValueError(f"A tuning method with the key {method.key!r} is registered already.")
    METHODS[method.key] = method
    return method


def unregister(key: str) -> None:
    METHODS.pop(key, None)


for _module in (full, lora, prompt, prefix, ia3, bitfit, head, fewshot):  # the order the Train page lists them in
    register(_module.METHOD)


def get_method(key: str) -> TuningMethod:
    try:
        return METHODS[key]
    except KeyError:
        raise ValueError(f"Unknown tuning method {key!r}; choose one of: {', '.join(METHODS)}.") from None


def methods_for(task: str) -> list[TuningMethod]:
    return [m for m in METHODS.values() if m.applies_to(task)]


def method_only_settings() -> set[str]:
    """Settings that only the methods listing them read (e.g. lora_rank)."""
    return {name for m in METHODS.values() for name in m.settings}


def settings_for(task: str, method: TuningMethod) -> list[Field]:
    """The settings that mean something for this task and method: what the Train page shows and the CLI takes."""
    only_some = method_only_settings()
    return [f for f in setting_fields() if f.metadata.get("task") in (None, task)
            and (f.name not in only_some or f.name in method.settings)]


def apply_method(built: BuiltModel, config) -> BuiltModel:
    """Set which weights train (in place); peft methods replace built.model with the peft wrapper."""
    method = get_method(config.method)
    if not method.applies_to(built.task):
        raise ModelLoadError(f"{method.name} works on {' and '.join(method.tasks)} data only; pick another method.")
    built.method = method.key
    method.apply(built, config)
    return built


def set_train_mode(built: BuiltModel) -> None:
    get_method(built.method).set_train_mode(built)


__all__ = ["COMPARED_BY_DEFAULT", "METHODS", "TuningMethod", "apply_method", "get_method", "method_only_settings",
           "methods_for", "register", "set_train_mode", "settings_for", "unregister"]
