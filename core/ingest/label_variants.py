"""Labels that are one class written several ways: `spam`, `Spam`, `SPAM`, `sp<zero-width space>am`.

Two labels are variants when they are equal after Unicode normalisation (NFKC), without invisible format
characters (zero-width spaces and joiners, the byte-order mark, soft hyphens), with runs of spaces made
one, and ignoring case. Left alone, each becomes a class of its own and the model is asked to tell
them apart; the upload report flags them, and the Data page offers to merge each group into its most
frequent spelling (an ingestion choice, like the columns, so it is part of the dataset's fingerprint).
"""

from __future__ import annotations

import unicodedata

import pandas as pd

from core.ingest.report import Report, name_list, plural


def variant_key(label: str) -> str:
    text = unicodedata.normalize("NFKC", label)
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")  # U+200B, U+200D, U+FEFF, U+00AD...
    return " ".join(text.split()).casefold()


def shown(label: str) -> str:
    """A label with its invisible characters written out, so two variants never look the same in a message."""
    return "".join(f"<U+{ord(ch):04X}>" if unicodedata.category(ch) == "Cf" else ch for ch in label)


def variant_groups(labels: pd.Series) -> dict[str, list[str]]:
    """{spelling kept: [every spelling in the group]} for groups of two or more; the kept one is the most frequent
    (then one without invisible characters, then the first in sorted order)."""
    counts = labels.value_counts()
    groups: dict[str, list[str]] = {}
    for label in counts.index:
        groups.setdefault(variant_key(label), []).append(label)
    merged = {}
    for spellings in groups.values():
        if len(spellings) > 1:
            kept = min(spellings, key=lambda s: (-counts[s], shown(s) != s, s))
            merged[kept] = sorted(spellings, key=lambda s: (s != kept, s))
    return merged


def apply_variants(frame: pd.DataFrame, report: Report, merge: bool) -> pd.DataFrame:
    """Flag label variants (merge=False) or merge each group into its kept spelling (merge=True)."""
    groups = variant_groups(frame["label"])
    if not groups:
        return frame
    described = [" = ".join(f"'{shown(s)}'" for s in spellings) for spellings in groups.values()]
    if merge:
        mapping = {s: kept for kept, spellings in groups.items() for s in spellings if s != kept}
        frame = frame.assign(label=frame["label"].replace(mapping))
        report.info("labels_merged", f"Merged {plural(len(mapping), 'label')} into the spelling used most often: "
                    f"{'; '.join(described)} (kept: {name_list([shown(k) for k in groups])}).", described)
    else:
        report.warning("label_variants", f"Some labels differ only in capitals, spaces or invisible characters, so "
                       f"each would be a class of its own: {'; '.join(described[:5])}"
                       f"{f' and {len(described) - 5} more' if len(described) > 5 else ''}. Merge them unless the "
                       f"difference means something.", described)
    return frame
