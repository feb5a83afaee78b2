"""Text bytes -> str: byte-order marks, UTF-16 without one, UTF-8, and files that mix UTF-8 with Windows-1252.

A file is read as UTF-8 whenever it holds UTF-8 at all. One line saved in Latin-1 (an accent typed in an
old editor, rows pasted from another file) used to switch the whole file to Windows-1252 and garble
every other accent (`cafÃ©`), so the one real `café` then became a class of its own. Now only the bytes
that are not UTF-8 are read as Windows-1252, and their lines are named. A file with no UTF-8 in it
is read as Windows-1252 whole, as before.
"""

from __future__ import annotations

import codecs
import re
import threading
from dataclasses import dataclass, field

UTF8 = "UTF-8"
CP1252 = "Windows-1252 (Latin-1)"
UTF16_ZERO_SHARE = 0.25  # ASCII in UTF-16 is every other byte zero: at least this share of all bytes
ONE_SIDE_SHARE = 0.9  # and nearly all of them on one side (even: big-endian, odd: little-endian)
UTF8_SEQUENCE = re.compile(rb"[\xc2-\xf4][\x80-\xbf]+")  # a lead byte and its continuation bytes
BOMS = [
    (b"\xef\xbb\xbf", "utf-8-sig", "UTF-8 with BOM"),
    (b"\xff\xfe\x00\x00", "utf-32", "UTF-32"),
    (b"\x00\x00\xfe\xff", "utf-32", "UTF-32"),
    (b"\xff\xfe", "utf-16", "UTF-16"),
    (b"\xfe\xff", "utf-16", "UTF-16"),
]


@dataclass
class Decoded:
    text: str
    encoding: str  # "UTF-8", "UTF-16", "Windows-1252 (Latin-1)"...
    repaired_lines: list[int] = field(default_factory=list)  # 1-based lines read as Windows-1252 in a UTF-8 file


# Where the UTF-8 decoder met bytes that are not UTF-8, for the call running on this thread.
_repairs = threading.local()


def _as_cp1252(error: UnicodeDecodeError) -> tuple[str, int]:
    bad = error.object[error.start:error.end]
    _repairs.starts.append(error.start)
    # cp1252 leaves five bytes undefined (0x81, 0x8D, 0x8F, 0x90, 0x9D); Latin-1 reads every byte.
    return "".join(_byte_as_cp1252(bytes([b])) for b in bad), error.end


def _byte_as_cp1252(byte: bytes) -> str:
    try:
        return byte.decode("cp1252")
    except UnicodeDecodeError:
        return byte.decode("latin-1")


codecs.register_error("tuneboard-cp1252", _as_cp1252)


def _try(data: bytes, codec: str) -> str | None:
    try:
        return data.decode(codec)
    except UnicodeDecodeError:
        return None


def _utf16_without_bom(data: bytes) -> str | None:
    """ASCII-range UTF-16 is also valid UTF-8 (NUL is a character), so this is asked before UTF-8."""
    zeros = data.count(0)
    if len(data) < 2 or zeros < UTF16_ZERO_SHARE * len(data):
        return None
    even = data[0::2].count(0)
    if even >= ONE_SIDE_SHARE * zeros:
        return _try(data, "utf-16-be")
    if zeros - even >= ONE_SIDE_SHARE * zeros:
        return _try(data, "utf-16-le")
    return None


def _lines_of(data: bytes, offsets: list[int]) -> list[int]:
    """1-based line numbers of byte offsets (sorted), counting newlines once through the file."""
    lines, line, position = [], 1, 0
    for offset in offsets:
        line += data.count(b"\n", position, offset)
        position = offset
        if not lines or lines[-1] != line:
            lines.append(line)
    return lines


def _mixed(data: bytes) -> Decoded:
    """UTF-8 with some bytes that are not: those read as Windows-1252. No UTF-8 at all: Windows-1252 whole."""
    if not UTF8_SEQUENCE.search(data):  # not one UTF-8 character: skip the byte-by-byte repair
        return Decoded(_try(data, "cp1252") or data.decode("latin-1"), CP1252)
    _repairs.starts = []
    try:
        text = data.decode("utf-8", errors="tuneboard-cp1252")
        starts = _repairs.starts
    finally:
        del _repairs.starts
    non_ascii = len(data) - len(data.translate(None, bytes(range(128, 256))))
    if len(starts) == non_ascii:  # every byte above 127 failed as UTF-8: the file was saved as Windows-1252
        return Decoded(_try(data, "cp1252") or data.decode("latin-1"), CP1252)
    return Decoded(text, UTF8, _lines_of(data, starts))


def decode_text(data: bytes) -> Decoded:
    """Byte-order mark, else UTF-16 by its zero bytes, else UTF-8 (repairing lines that are Windows-1252)."""
    for bom, codec, name in BOMS:
        if data.startswith(bom):
            text = _try(data, codec)
            if text is not None:
                return Decoded(text, name)
    text = _utf16_without_bom(data)
    if text is not None:
        return Decoded(text, "UTF-16")
    text = _try(data, "utf-8")
    if text is not None:
        return Decoded(text, UTF8)
    return _mixed(data)
