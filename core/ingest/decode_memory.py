"""How much memory decoding one image needs, judged from its header, and the budget all decodes share.

A small file can hold a huge picture: a 125 KB PNG of 7,990 x 7,990 16-bit pixels took 1.1 GB to decode and
convert, and the decode threads each took one, so a zip of two peaked at 2.4 GB. The pixel limit alone
does not see the bands or the bytes per band, so `decode_cost` counts them (from the header, before
anything is decoded) and `DECODE_BUDGET` lets the threads of every upload in this process (the page's
sessions share one) hold at most `Limits.decode_pool_bytes` of decoded images at once.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

# Bytes per pixel of a decoded frame as Pillow holds it: three bands are padded to four (RGB is RGBX).
ONE_BYTE_MODES = {"1", "L", "P"}
TWO_BYTE_MODES = {"I;16", "I;16L", "I;16B", "I;16N"}
HIGH_DEPTH_MODES = TWO_BYTE_MODES | {"I", "F"}
TRANSPARENT_MODES = {"RGBA", "LA", "PA", "RGBa", "La"}
RGB_BYTES = 4  # the 8-bit RGB result (padded, as above)


def frame_bytes_per_pixel(mode: str) -> int:
    if mode in ONE_BYTE_MODES:
        return 1
    if mode in TWO_BYTE_MODES:
        return 2
    return 4  # I and F (one 32-bit band), and every multi-band mode (RGB, RGBA, CMYK, LA...)


def decode_cost(width: int, height: int, mode: str, transparent_palette: bool = False) -> int:
    """Bytes that decoding a frame and converting it to 8-bit RGB (core.ingest.images) hold at their peak.

    Twice the frame (the frame and a copy: EXIF rotation, or the numpy copy of a 16-bit / float frame), plus
    what the conversion makes: the 8-bit gray array and image, or the alpha band and an RGBA copy, and the
    RGB result. An RGB frame needs no conversion. tests/test_bad_inputs.py measures a decode against this.
    """
    frame = frame_bytes_per_pixel(mode)
    if mode == "RGB":
        work = 0
    elif mode in HIGH_DEPTH_MODES:
        work = 1 + 1 + RGB_BYTES
    elif mode in TRANSPARENT_MODES or transparent_palette:
        work = 1 + (0 if mode == "RGBA" else 4) + RGB_BYTES
    else:
        work = RGB_BYTES
    return width * height * (2 * frame + work)


class MemoryBudget:
    """Bytes of decoding in flight in this process; a decode waits until its cost fits under the capacity."""

    def __init__(self) -> None:
        self._used = 0
        self._free = threading.Condition()

    @property
    def used(self) -> int:
        return self._used

    @contextmanager
    def reserve(self, cost: int, capacity: int) -> Iterator[None]:
        """Hold `cost` bytes for the block. One decode always fits when nothing else is in flight (a cost over
        the capacity is refused before it gets here), so waiting never deadlocks."""
        with self._free:
            self._free.wait_for(lambda: self._used == 0 or self._used + cost <= capacity)
            self._used += cost
        try:
            yield
        finally:
            with self._free:
                self._used -= cost
                self._free.notify_all()


DECODE_BUDGET = MemoryBudget()
