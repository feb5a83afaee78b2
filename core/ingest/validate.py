"""The validation rules, applied in order to every upload (texts and images alike).

Input: a raw frame with columns input, label, split ("" = not given), source, key (what makes two
examples "the same": the stripped text, or an image file's content hash). Output: the kept rows;
every rule that drops something says so in the report. Refusals raise DataError.
"""

from __future__ import annotations

import re

import pandas as pd

from core.ingest.label_variants import apply_variants
from core.ingest.limits import Limits
from core.ingest.report import DataError, Report, name_list, plural

RAW_COLUMNS = ["input", "label", "split", "source", "key"]
NO_USABLE_IMAGES = "No usable images were found in this upload."
INTEGRAL_FLOAT = re.compile(r"^([-+]?\d+)\.0+$")  # "1.0" from a spreadsheet means class "1"


def normalize_labels(labels: pd.Series) -> pd.Series:
    return labels.astype(str).str.strip().str.replace(INTEGRAL_FLOAT, r"\1", regex=True)


def _short(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _sources(rows: pd.DataFrame) -> list[str]:
    return rows["source"].astype(str).tolist()


def clean(raw: pd.DataFrame, task: str, report: Report, limits: Limits, label_column: str | None = None,
          merge_label_variants: bool = False) -> pd.DataFrame:
    """Apply the rules; returns kept rows (same columns). Sets report.rows_read."""
    noun = "image" if task == "image" else "row"
    what = "images" if task == "image" else "texts"
    frame = raw[RAW_COLUMNS].copy()
    report.rows_read = len(frame)
    if frame.empty:
        raise DataError(
            "no_rows",
            "The file has column names but no rows of data. Add labeled examples below the header." if task == "text"
            else NO_USABLE_IMAGES,
            report=report,
        )
    frame["label"] = normalize_labels(frame["label"])
    frame = apply_variants(frame, report, merge_label_variants)  # before the rules, so they see one class
    if task == "text":
        frame["input"] = frame["input"].astype(str)
        # Spacing-insensitive identity, in one pass (a regex replace, then strip, held three copies of the texts).
        frame["key"] = pd.Series([" ".join(text.split()) for text in frame["input"]], index=frame.index, dtype=object)

    # 1) Missing inputs and labels.
    empty_input = frame["key"] == ""
    missing_label = frame["label"] == ""
    where = f" in column '{label_column}'" if label_column else ""
    if missing_label.all():
        raise DataError(
            "no_labels",
            f"Every label{where} is empty. Pick the column that holds the classes." if task == "text"
            else "No image has a label. Check the label column of the CSV.",
            report=report,
        )
    if empty_input.all():
        raise DataError("no_text", "Every text is empty. Pick the column that holds the texts.", report=report)
    if empty_input.any():
        dropped = frame[empty_input]
        report.warning(
            "empty_text",
            f"Dropped {plural(len(dropped), noun)} with an empty text ({name_list(_sources(dropped))}).",
            _sources(dropped),
        )
        report.drop("empty_text", len(dropped))
    dropped = frame[missing_label & ~empty_input]
    if len(dropped):
        report.warning(
            "missing_label",
            f"Dropped {plural(len(dropped), noun)} without a label ({name_list(_sources(dropped))}).",
            _sources(dropped),
        )
        report.drop("missing_label", len(dropped))
    frame = frame[~empty_input & ~missing_label]

    # 2) Very long texts: kept whole on disk (up to a hard cap), but training reads only the beginning.
    if task == "text":
        lengths = frame["input"].str.len()
        cut = lengths > limits.max_text_chars
        if cut.any():
            frame.loc[cut, "input"] = frame.loc[cut, "input"].str.slice(0, limits.max_text_chars)
            report.warning(
                "truncated_texts",
                f"Cut {plural(int(cut.sum()), 'text')} to {limits.max_text_chars:,} characters when storing them.",
                _sources(frame[cut]),
            )
        long = (lengths > limits.long_text_chars) & ~cut
        if long.any():
            report.info(
                "long_texts",
                f"{plural(int(long.sum()), 'text')} {'is' if long.sum() == 1 else 'are'} longer than "
                f"{limits.long_text_chars:,} characters. They are kept, but training reads only the beginning of "
                f"each text (the 'max length' setting on the Train page).",
                _sources(frame[long]),
            )

    # 3) The same example with different labels: there is no right answer, so all its copies go.
    # Masks, not groupby("key").nunique() or drop_duplicates: those took four to five times the upload's size in
    # memory (sorting or copying every text), and kept most of it.
    keys = frame["key"][~frame.duplicated(["key", "label"])]  # each (text, label) pair once
    conflicted = sorted(keys[keys.duplicated()].unique())  # texts that still repeat: with another label
    if len(conflicted):
        rows = frame[frame["key"].isin(conflicted)]
        examples = [
            f"{_short(str(rows.loc[rows['key'] == k, 'input'].iloc[0]) if task == 'text' else rows.loc[rows['key'] == k, 'source'].iloc[0])}"
            f" → {', '.join(sorted(rows.loc[rows['key'] == k, 'label'].unique()))}"
            for k in conflicted
        ]
        report.warning(
            "conflicting_labels",
            f"Dropped {plural(len(rows), noun)}: {plural(len(conflicted), 'the same ' + what[:-1], 'the same ' + what)} "
            f"appeared with different labels, so there is no right answer for {'it' if len(conflicted) == 1 else 'them'}.",
            examples,
        )
        report.drop("conflicting_labels", len(rows))
        frame = frame[~frame["key"].isin(conflicted)]

    # 4) Exact duplicates: one copy stays, so no example sits in both the training and the test set.
    #    Texts that differ only in spacing count too, but are reported apart ("exact" means as written).
    exact = frame.duplicated(subset=["input", "label"] if task == "text" else ["key", "label"], keep="first")
    if exact.any():
        report.warning(
            "duplicates",
            f"Removed {plural(int(exact.sum()), 'exact duplicate')} (the same {what[:-1]} with the same label), "
            f"keeping one copy of each, so no example can be both trained on and tested on.",
            _sources(frame[exact]),
        )
        report.drop("duplicates", int(exact.sum()))
        frame = frame[~exact]
    spacing = frame.duplicated(subset=["key", "label"], keep="first")
    if spacing.any():
        report.warning(
            "near_duplicates",
            f"Also removed {plural(int(spacing.sum()), 'text')} that {'repeats' if spacing.sum() == 1 else 'repeat'} "
            f"another with the same label except for spaces.",
            _sources(frame[spacing]),
        )
        report.drop("near_duplicates", int(spacing.sum()))
        frame = frame[~spacing]

    check_class_count(frame, report, limits, label_column)
    return frame.reset_index(drop=True)


def check_class_count(frame: pd.DataFrame, report: Report, limits: Limits, label_column: str | None = None) -> None:
    classes = sorted(frame["label"].unique())
    if len(classes) > limits.max_classes:
        where = f"The column '{label_column}'" if label_column else "The data"
        raise DataError(
            "too_many_classes",
            f"{where} has {len(classes):,} different labels; Tuneboard handles up to {limits.max_classes:,} classes. "
            f"Check that the right column is picked as the label.",
            report=report,
        )
    if len(classes) < limits.min_classes or not classes:
        raise DataError(
            "fewer_than_two_classes",
            f"All kept examples have the same label ('{classes[0]}'): a classifier needs at least two classes, so "
            f"pick the column that holds the labels or add examples of another class."
            if classes else "No examples are left after removing the problems listed. A classifier needs at least "
            "two classes with a few examples each.",
            report=report,
        )


def summarize(frame: pd.DataFrame, report: Report, limits: Limits) -> None:
    """Fill the summary numbers and the findings about the final class balance."""
    counts = frame["label"].value_counts()
    report.rows_kept = len(frame)
    report.class_counts = {label: int(counts[label]) for label in sorted(counts.index)}
    report.split_counts = {s: int((frame["split"] == s).sum()) for s in ("train", "val", "test")}
    few = [f"{label} ({n})" for label, n in report.class_counts.items() if n < limits.few_examples]
    if few:
        report.warning(
            "few_examples",
            f"{plural(len(few), 'class', 'classes')} {'has' if len(few) == 1 else 'have'} fewer than "
            f"{limits.few_examples} examples: {name_list(few)}. Scores for "
            f"{'it' if len(few) == 1 else 'them'} will be unreliable; add examples if you can.",
            few,
        )
    # A class with under a fifth of the largest class's examples: said plainly, as a warning, naming each one.
    largest = counts.idxmax()
    rare = [label for label in sorted(counts.index, key=lambda label: (counts[label], label))
            if counts[label] * 5 <= counts[largest]]
    if rare:
        named = [f"{label} ({counts[label]:,})" for label in rare]
        one = len(rare) == 1
        report.warning(
            "imbalanced",
            f"{plural(len(rare), 'class', 'classes')} {'has' if one else 'have'} far fewer examples than "
            f"'{largest}' ({counts[largest]:,}): {name_list(named)}. The model sees {'it' if one else 'them'} rarely, "
            f"so it will seldom answer {'it' if one else 'them'} and will score worse there. Add examples if you can, "
            "or turn on Class weighting (Advanced settings on Train); read the per-class scores, not just accuracy.",
            named,
        )
