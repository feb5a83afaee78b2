"""Limits on what an upload may contain. Each guards the machine (memory, disk) or the user's time.

The Streamlit upload size is set in `.streamlit/config.toml` (`server.maxUploadSize`, in MB); the
same number is checked here so the command line and the page refuse the same files.
"""

from __future__ import annotations

from dataclasses import dataclass

MB = 1024 * 1024

MAX_UPLOAD_MB = 1024  # one uploaded file (a CSV, a zip); matches server.maxUploadSize
MAX_IMAGES = 20_000  # image examples per dataset
MAX_CLASSES = 1_000  # a label column with more distinct values is almost surely not a label
MAX_ARCHIVE_ENTRIES = 25_000  # files inside one zip (folders not counted)
MAX_UNCOMPRESSED_MB = 4096  # everything inside one zip, decompressed
MAX_COMPRESSION_RATIO = 200  # an entry that inflates more than this (and past BOMB_MIN_MB) is a zip bomb
BOMB_MIN_MB = 10  # below this size a high ratio is harmless (a blank BMP compresses 1000x)
MAX_IMAGE_PIXELS = 64_000_000  # width x height; larger headers are treated as decompression bombs
# Memory to decode one image and convert it to RGB, judged from its header (core.ingest.decode_memory): a
# 64-megapixel photo needs 488 MB; a 64-megapixel 16-bit scan (1.1 GB before the cheaper conversion) 609 MB.
MAX_DECODE_MB = 512
DECODE_POOL_MB = 1024  # all decodes in flight in this process together, whatever the number of threads
MAX_STORED_SIDE = 1024  # longer side of a stored image in pixels; training uses 224-384
LONG_TEXT_CHARS = 2_000  # texts longer than this are kept, but training reads only their beginning
MAX_TEXT_CHARS = 100_000  # texts are cut to this many characters when stored
MAX_CELL_CHARS = 64 * MB  # one cell as read (csv's limit); a quote that never closes runs on until it
MAX_ROWS = 2_000_000  # rows in one table
# Reading a CSV takes up to about 13x its size in memory at its peak (the text, its rows as Python lists, the
# frame and the checks; 12.6x for 5 MB and 8.9x for 20 MB of short texts, 16.3x and 11.2x before issue 22;
# tests/test_ingest_memory.py), so a table is refused before it is read when that would pass about 3.3 GB.
TABLE_MEMORY_FACTOR = 13
MAX_TABLE_MB = 256
FEW_EXAMPLES = 10  # classes with fewer examples than this get a warning: their scores will be noisy


@dataclass(frozen=True)
class Limits:
    """The limits one ingestion runs under; tests pass smaller ones to trigger each refusal cheaply."""

    max_upload_bytes: int = MAX_UPLOAD_MB * MB
    max_images: int = MAX_IMAGES
    max_classes: int = MAX_CLASSES
    # A dataset needs two classes; rows added to a stored one (a new version, core/datasets/versions.py) may be of one.
    min_classes: int = 2
    max_archive_entries: int = MAX_ARCHIVE_ENTRIES
    max_uncompressed_bytes: int = MAX_UNCOMPRESSED_MB * MB
    max_compression_ratio: float = MAX_COMPRESSION_RATIO
    bomb_min_bytes: int = BOMB_MIN_MB * MB
    max_image_pixels: int = MAX_IMAGE_PIXELS
    max_decode_bytes: int = MAX_DECODE_MB * MB
    decode_pool_bytes: int = DECODE_POOL_MB * MB
    max_stored_side: int = MAX_STORED_SIDE
    long_text_chars: int = LONG_TEXT_CHARS
    max_text_chars: int = MAX_TEXT_CHARS
    max_cell_chars: int = MAX_CELL_CHARS
    max_rows: int = MAX_ROWS
    max_table_bytes: int = MAX_TABLE_MB * MB
    few_examples: int = FEW_EXAMPLES


DEFAULT_LIMITS = Limits()
