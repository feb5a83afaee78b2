"""Data ingestion: an upload (a table of texts, a zip or folder of images) -> examples + a validation report.

    from core.ingest import ingest_bytes, ingest_files, ingest_path, DataError
    ingested = ingest_bytes("spam.tsv", data)           # raises DataError with a plain message if unusable
    ingested.frame                                       # input, label, split, source
    ingested.report.findings                             # what was dropped and why, in plain words

Store it with `core.datasets.store.save_dataset(ingested, name)`.
"""

from __future__ import annotations

from core.ingest.ingested import Ingested
from core.ingest.limits import DEFAULT_LIMITS, Limits
from core.ingest.pipeline import ingest_bytes, ingest_files, ingest_path
from core.ingest.report import ERROR, INFO, WARNING, DataError, Finding, Report
from core.ingest.split import SPLIT_SEED

__all__ = [
    "DEFAULT_LIMITS", "ERROR", "INFO", "SPLIT_SEED", "WARNING", "DataError", "Finding", "Ingested", "Limits",
    "Report", "ingest_bytes", "ingest_files", "ingest_path",
]
