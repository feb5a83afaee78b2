"""The names people read for a dataset's classes: `topping_up_by_card` is shown as "Topping up by card".

The raw label stays the key everywhere (stored predictions, metrics, the model's config, the API's `label`); a
display name is only how it is shown. New datasets get a suggestion for every label that looks like an identifier
(words joined by underscores, or camelCase); other labels keep their own spelling (hyphens and dots are left alone:
"e-mail" and "3.5" are written that way on purpose). The Data page
edits them (check_names says what is wrong with an edit).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

MAX_NAME_CHARS = 80
_SEPARATORS = re.compile(r"_+")
# camelCase: a lower-case start of two letters or more, then a capital ("cardPayment"; not "iPhone" or "YouTube")
_CAMEL = re.compile(r"(?<=[a-z]{2})(?=[A-Z])")


class LabelNameError(ValueError):
    """An edit the Data page cannot save; the message says what to change."""


def suggested_name(label: str) -> str:
    """`topping_up_by_card` -> "Topping up by card", `cardPayment` -> "Card payment"; anything else unchanged."""
    camel = label[:1].islower() and _CAMEL.search(label)
    if not re.search(r"[A-Za-z]", label) or not (_SEPARATORS.search(label) or camel):
        return label
    words = _SEPARATORS.sub(" ", _CAMEL.sub(" ", label) if camel else label).split()
    if not words:
        return label
    words = [w.lower() if w[1:].islower() or len(w) == 1 else w for w in words]  # keep ATM, YouTube as written
    return " ".join([words[0][:1].upper() + words[0][1:], *words[1:]])


def suggested_names(labels: Sequence[str]) -> dict[str, str]:
    """The suggestions that differ from their label (what a new dataset stores); none where two classes would
    read alike, since their raw labels at least differ."""
    names = {label: suggested_name(label) for label in labels}
    counts = Counter(name.casefold() for name in names.values())
    return {label: name for label, name in names.items() if name != label and counts[name.casefold()] == 1}


def check_names(labels: Sequence[str], edited: dict[str, str]) -> dict[str, str]:
    """The display names to store from an edit (label -> name, only those that differ from the label), or
    LabelNameError naming the first problem: an empty name, one too long, or two classes shown alike."""
    names: dict[str, str] = {}
    for label in labels:
        name = " ".join(str(edited.get(label) or "").split())
        if not name:
            raise LabelNameError(f"The class {label!r} has no display name; type one, or its label to show it as is.")
        if len(name) > MAX_NAME_CHARS:
            raise LabelNameError(f"The display name for {label!r} has {len(name)} characters; keep it to "
                                 f"{MAX_NAME_CHARS}.")
        names[label] = name
    seen: dict[str, str] = {}
    for label, name in names.items():
        if name.casefold() in seen:
            raise LabelNameError(f"The classes {seen[name.casefold()]!r} and {label!r} would both be shown as "
                                 f"{name!r}; give each its own name.")
        seen[name.casefold()] = label
    return {label: name for label, name in names.items() if name != label}
