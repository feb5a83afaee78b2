"""How numbers read to a person, on the pages and in the report: durations, memory and file sizes, parameter
counts (pages/shared/formatting.py gives the pages these same functions)."""

from __future__ import annotations


def duration_text(seconds: float | None) -> str:
    """under 1 s · 42 s · 3 min 05 s · 2 h 10 min; empty for None."""
    if seconds is None:
        return ""
    if seconds < 1:
        return "under 1 s"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def bytes_text(size: float | None) -> str:
    """312 kB · 4.2 MB · 850 MB · 1.4 GB (decimal units, as memory and downloads are usually quoted)."""
    if size is None:
        return ""
    if size < 1e6:
        return f"{size / 1e3:.0f} kB"
    if size < 1e7:
        return f"{size / 1e6:.1f} MB"
    if size < 1e9:
        return f"{size / 1e6:.0f} MB"
    return f"{size / 1e9:.1f} GB"


def params_text(count: int | None) -> str:
    """74.9K · 22.7M · 1.3B."""
    if count is None:
        return ""
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if count >= limit:
            return f"{count / limit:.1f}{suffix}"
    return str(count)


def percent_text(share: float | None, digits: int = 1) -> str:
    """0.8412 -> 84.1%; empty for None (a table cell with nothing to say stays empty, never "None")."""
    return "" if share is None else f"{share:.{digits}%}"
