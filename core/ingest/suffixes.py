"""Which file name endings mean what kind of upload: the one place that lists them.

The Data page, the Predict page, the command line and ingestion all take their suffix sets (and the
uploaders' accepted types) from here, so every way in accepts and refuses the same files.
"""

from __future__ import annotations

from collections.abc import Iterable

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".jfif", ".png", ".gif", ".webp", ".bmp"})
IMAGE_KINDS = "JPEG, PNG, GIF, WebP or BMP"  # IMAGE_SUFFIXES in words, for messages
DELIMITED_SUFFIXES = frozenset({".csv", ".tsv", ".tab", ".txt"})  # text tables; the delimiter is sniffed
EXCEL_SUFFIXES = frozenset({".xlsx", ".xlsm"})
OLD_EXCEL_SUFFIX = ".xls"  # refused with a plain message: Save as .xlsx
TABLE_SUFFIXES = DELIMITED_SUFFIXES | EXCEL_SUFFIXES
ZIP_SUFFIX = ".zip"
# Archives are never opened inside an upload (only a zip is, as the upload itself).
ARCHIVE_SUFFIXES = frozenset({ZIP_SUFFIX, ".tar", ".gz", ".tgz", ".bz2", ".xz", ".7z", ".rar"})


def upload_types(*suffixes: str | Iterable[str]) -> list[str]:
    """Suffixes (single ones or sets) as `st.file_uploader(type=...)` takes them: sorted, without the dot."""
    flat = [s for group in suffixes for s in ([group] if isinstance(group, str) else group)]
    return sorted({s.lstrip(".") for s in flat})
