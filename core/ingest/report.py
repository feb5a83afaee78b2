"""The validation report shown before anything is trained, and the error that refuses an upload.

Every finding has a stable `code` (tests and the UI key on it), a severity and one plain sentence.
A refused upload raises `DataError` (a ValueError with a `code`); what was found up to then travels
with it so the page can still show it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

INFO, WARNING, ERROR = "info", "warning", "error"
SHOWN_NAMES = 5  # how many file names or class names a sentence lists before "and N more"


def name_list(names: list[str], limit: int = SHOWN_NAMES) -> str:
    """'a, b and c' / 'a, b, c, d, e and 7 more' — for sentences that name files or classes."""
    quoted = [f"'{n}'" for n in names]
    if len(quoted) <= limit:
        return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]
    return ", ".join(quoted[:limit]) + f" and {len(quoted) - limit} more"


def plural(count: int, word: str, plural_word: str | None = None) -> str:
    """'1 row', '2 rows', '1,234 images'."""
    return f"{count:,} {word if count == 1 else (plural_word or word + 's')}"


# Why examples were left out, after their count, for one and for several (Report.kept_text); the finding of the same
# code says more.
DROP_REASONS = {
    "empty_text": ("with an empty text",) * 2, "missing_label": ("without a label",) * 2,
    "conflicting_labels": ("with a text that also appears under another label",) * 2,
    "duplicates": ("exact duplicate (one copy of each stays)", "exact duplicates (one copy of each stays)"),
    "near_duplicates": ("duplicate except for spaces", "duplicates except for spaces"),
    "small_class_dropped": ("in classes too small to split into training, validation and test",) * 2,
}


@dataclass
class Finding:
    severity: str  # INFO | WARNING | ERROR
    code: str  # stable identifier, e.g. "duplicates", "unreadable_images"
    message: str  # one plain sentence for the user
    details: list[str] = field(default_factory=list)  # e.g. every unreadable file name with its reason


@dataclass
class Report:
    """What ingestion found. `rows_read` counts examples before cleaning; `rows_kept` after."""

    findings: list[Finding] = field(default_factory=list)
    rows_read: int = 0
    rows_kept: int = 0
    class_counts: dict[str, int] = field(default_factory=dict)  # kept examples per class, sorted by name
    split_counts: dict[str, int] = field(default_factory=dict)  # {"train": n, "val": n, "test": n}
    dropped: dict[str, int] = field(default_factory=dict)  # finding code -> examples it left out (read - kept)

    def add(self, severity: str, code: str, message: str, details: list[str] | None = None) -> Finding:
        finding = Finding(severity, code, message, list(details or []))
        self.findings.append(finding)
        return finding

    def drop(self, code: str, count: int) -> None:
        """Count examples left out for the reason the finding `code` gives (the page's "kept, and why not")."""
        self.dropped[code] = self.dropped.get(code, 0) + int(count)

    def kept_text(self, noun: str = "rows") -> str:
        """'Kept 3,415 of 3,417 rows; not kept: 2 exact duplicates (one copy of each stays).' (noun: rows | images)"""
        kept = f"Kept {self.rows_kept:,} of {self.rows_read:,} {noun}"
        if self.rows_kept >= self.rows_read:
            return f"{kept}: every one."
        reasons = [f"{count:,} {DROP_REASONS.get(code, (code, code))[count != 1]}"
                   for code, count in self.dropped.items() if count]
        return f"{kept}; not kept: {', '.join(reasons) or 'see the notes below'}."

    def info(self, code: str, message: str, details: list[str] | None = None) -> Finding:
        return self.add(INFO, code, message, details)

    def warning(self, code: str, message: str, details: list[str] | None = None) -> Finding:
        return self.add(WARNING, code, message, details)

    @property
    def codes(self) -> list[str]:
        return [f.code for f in self.findings]

    def get(self, code: str) -> Finding | None:
        return next((f for f in self.findings if f.code == code), None)

    def of_severity(self, severity: str) -> list[Finding]:
        return [f for f in self.findings if f.severity == severity]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Report:
        findings = [Finding(**f) for f in values.get("findings", [])]
        return cls(
            findings=findings,
            rows_read=int(values.get("rows_read", 0)),
            rows_kept=int(values.get("rows_kept", 0)),
            class_counts=dict(values.get("class_counts", {})),
            split_counts=dict(values.get("split_counts", {})),
            dropped=dict(values.get("dropped", {})),
        )


class DataError(ValueError):
    """An upload that cannot become a dataset. `str(error)` is one sentence telling the user what to fix."""

    def __init__(self, code: str, message: str, *, details: str = "", report: Report | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details  # technical detail (parser message, offending entry), shown apart
        self.report = report  # findings gathered before the refusal, if any
        # A table's columns and the choice that failed, so the page can offer other columns.
        self.columns: list[str] = []
        self.text_column: str | None = None
        self.label_column: str | None = None
