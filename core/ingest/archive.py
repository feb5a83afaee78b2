"""Uploaded file collections as a list of `Entry` (a name and a way to read its bytes), safely.

Three sources give the same thing: a zip (`zip_entries`), a folder on disk (`folder_entries`, for the
command line) and a browser multi-file or folder upload (`memory_entries`). Names are only ever
*read* (to find classes and splits); nothing is written to disk under an uploaded name.

Zip safety: entries with absolute paths or `..` refuse the whole archive; the entry count, the total
decompressed size and each entry's compression ratio are limited (zip bombs); encrypted entries are
refused; each entry is read with a cap at its declared size. Zips inside the upload are ignored with
a note; macOS and Windows clutter (`__MACOSX/`, `.DS_Store`, `._*`, `Thumbs.db`) is skipped silently.
"""

from __future__ import annotations

import io
import os
import re
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from core.ingest.limits import MB, Limits
from core.ingest.report import DataError, Report, name_list, plural
from core.ingest.suffixes import ARCHIVE_SUFFIXES, EXCEL_SUFFIXES, IMAGE_KINDS, IMAGE_SUFFIXES, TABLE_SUFFIXES, ZIP_SUFFIX

CLUTTER_NAMES = {".ds_store", "thumbs.db", "desktop.ini", "__macosx", ".git", ".ipynb_checkpoints"}
DRIVE = re.compile(r"^[a-zA-Z]:")


class DamagedEntry(DataError):
    """One file of an upload whose bytes cannot be read (a bad CRC inside a zip, a file that vanished from a
    folder). Image readers skip that file and name it with `reason`; elsewhere it refuses the upload."""

    def __init__(self, name: str, reason: str, details: str):
        super().__init__("damaged_entry", f"'{name}' in the upload could not be read: {reason}. Create the zip "
                         f"again, or leave that file out.", details=details)
        self.reason = reason


@dataclass
class Entry:
    name: str  # posix path inside the upload, e.g. "hymenoptera/train/ants/1.jpg" (never a path on disk)
    size: int  # bytes (decompressed)
    read: Callable[[], bytes]

    @property
    def parts(self) -> tuple[str, ...]:
        return PurePosixPath(self.name).parts

    @property
    def suffix(self) -> str:
        return PurePosixPath(self.name).suffix.lower()


@dataclass
class Sorted:
    """An upload's entries by kind, after clutter and nested archives are set aside."""

    images: list[Entry]
    tables: list[Entry]
    others: list[Entry]


def normalize_name(raw: str) -> str:
    """Backslashes to slashes; refuses absolute paths and `..` (they could point outside any folder)."""
    name = raw.replace("\\", "/")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if name.startswith("/") or DRIVE.match(name) or ".." in parts:
        raise DataError(
            "unsafe_archive_path",
            "The upload contains a file path that points outside its folder (an absolute path or '..'), so it "
            "was refused. Zip the folders again from inside their parent folder.",
            details=f"entry: {raw!r}",
        )
    return "/".join(parts)


def is_clutter(name: str) -> bool:
    parts = name.lower().split("/")
    return any(p in CLUTTER_NAMES or p.startswith("._") or p.startswith(".") for p in parts)


def sort_entries(entries: list[Entry], report: Report) -> Sorted:
    kept = [e for e in entries if not is_clutter(e.name)]
    nested = [e for e in kept if e.suffix in ARCHIVE_SUFFIXES]
    if nested:
        report.info(
            "nested_archive",
            f"Ignored {plural(len(nested), 'archive')} inside the upload ({name_list([e.name for e in nested])}); "
            f"archives inside archives are not opened. Unpack them and upload the folders instead.",
            [e.name for e in nested],
        )
    kept = [e for e in kept if e.suffix not in ARCHIVE_SUFFIXES]
    images = [e for e in kept if e.suffix in IMAGE_SUFFIXES]
    tables = [e for e in kept if e.suffix in TABLE_SUFFIXES]
    others = [e for e in kept if e.suffix not in IMAGE_SUFFIXES | TABLE_SUFFIXES]
    return Sorted(images=images, tables=tables, others=others)


def refuse_without_images(found: Sorted, report: Report) -> None:
    if not found.images:
        others = found.others + found.tables
        raise DataError(
            "no_images",
            f"There are no images in this upload ({IMAGE_KINDS})."
            + (f" It holds {name_list([e.name for e in others])}." if others else ""),
            report=report,
        )


def note_ignored(ignored: list[Entry], report: Report) -> None:
    """Say which files of an image upload were left out because they are not images."""
    if ignored:
        names = [e.name for e in ignored]
        report.info(
            "non_image_files",
            f"Ignored {plural(len(names), 'file')} that {'is' if len(names) == 1 else 'are'} not an image "
            f"({name_list(names)}).",
            names,
        )


def check_image_count(count: int, limits: Limits, report: Report) -> None:
    if count > limits.max_images:
        raise DataError("too_many_images", f"The upload holds {count:,} images; the limit is {limits.max_images:,}. "
                        f"Upload a sample.", report=report)


def is_zip(filename: str, data: bytes) -> bool:
    """A zip by its name, or by its first bytes (an .xlsx is a zip too, and is read as a table)."""
    suffix = PurePosixPath(filename.lower()).suffix
    return suffix == ZIP_SUFFIX or (suffix not in EXCEL_SUFFIXES and data[:4] == b"PK\x03\x04")


def check_upload_size(size: int, limits: Limits, fix: str = "Upload a smaller file.") -> None:
    """`size` in bytes: of an upload, or of a file on disk before it is read (`fix` then says "Use")."""
    if size > limits.max_upload_bytes:
        raise DataError("upload_too_large", f"The file is {size / MB:,.0f} MB; the limit is "
                        f"{limits.max_upload_bytes / MB:,.0f} MB. {fix}")


def read_regular_file(path: Path, limits: Limits) -> bytes:
    """A file named on the command line, read only if it is a regular file and at most the upload limit.

    A device (/dev/zero) never ends and a FIFO blocks until someone writes to it, and both report a size of 0,
    so the kind is checked first, and the read stops one byte past the limit whatever the size said.
    """
    if not path.exists():
        raise DataError("not_found", f"There is no file or folder at {path}.")
    if not path.is_file():  # follows a symlink to a regular file; false for devices, FIFOs and sockets
        raise DataError("not_a_file", f"{path} is not a regular file (it is a device, a pipe or a socket). Give a "
                        f"file or a folder.")
    check_upload_size(path.stat().st_size, limits, fix="Use a smaller file.")
    with path.open("rb") as handle:
        data = handle.read(limits.max_upload_bytes + 1)
    check_upload_size(len(data), limits, fix="Use a smaller file.")  # it grew, or its size was not what it said
    return data


def _check_count(count: int, limits: Limits) -> None:
    if count > limits.max_archive_entries:
        raise DataError(
            "too_many_files",
            f"The upload holds {count:,} files; the limit is {limits.max_archive_entries:,}. Upload fewer files.",
        )


def zip_entries(data: bytes, limits: Limits) -> list[Entry]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = [i for i in archive.infolist() if not i.is_dir()]
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError) as error:
        raise DataError("bad_zip", "This zip file is damaged and could not be opened. Create it again and upload it.",
                        details=str(error)) from error
    _check_count(len(infos), limits)
    names = [normalize_name(i.filename) for i in infos]  # refuses the whole archive on one unsafe name
    total = sum(i.file_size for i in infos)
    if total > limits.max_uncompressed_bytes:
        raise DataError(
            "archive_too_large",
            f"The zip unpacks to {total / MB:,.0f} MB, more than the {limits.max_uncompressed_bytes / MB:,.0f} MB "
            f"allowed. Upload a smaller set of files.",
        )
    for info, name in zip(infos, names):
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > limits.bomb_min_bytes and ratio > limits.max_compression_ratio:
            raise DataError(
                "zip_bomb",
                "The zip contains a file that unpacks to far more than its compressed size (a 'zip bomb'), so it "
                "was refused.",
                details=f"{name}: {info.compress_size:,} -> {info.file_size:,} bytes (x{ratio:,.0f})",
            )
        if info.flag_bits & 0x1:
            raise DataError("encrypted_zip", "The zip is password-protected. Upload it without a password.",
                            details=name)

    def reader(info: zipfile.ZipInfo) -> Callable[[], bytes]:
        def read() -> bytes:
            try:
                with archive.open(info) as handle:
                    content = handle.read(info.file_size + 1)  # never more than declared (+1 to notice a lie)
            # A bad CRC, a corrupt deflate stream, a cut-off entry or an unknown compression method: this one
            # file is damaged, not necessarily the whole zip.
            except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError) as error:
                raise DamagedEntry(info.filename, "it is damaged inside the zip", f"{type(error).__name__}: {error}") from error
            if len(content) > info.file_size:
                raise DataError("zip_bomb", "A file in the zip is larger than the zip says, so the upload was refused.",
                                details=info.filename)
            return content

        return read

    return [Entry(name=name, size=info.file_size, read=reader(info)) for info, name in zip(infos, names)]


def folder_entries(folder: Path, limits: Limits) -> list[Entry]:
    """Every regular file under `folder` (symlinks are not followed), named relative to it."""
    entries: list[Entry] = []
    for root, dirs, files in os.walk(folder, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not is_clutter(d))
        for file in sorted(files):
            path = Path(root) / file
            if path.is_symlink() or not path.is_file():
                continue
            name = path.relative_to(folder).as_posix()
            entries.append(Entry(name=name, size=path.stat().st_size, read=_file_reader(path, name)))
            _check_count(len(entries), limits)
    total = sum(e.size for e in entries)
    if total > limits.max_uncompressed_bytes:
        raise DataError("archive_too_large", f"The folder holds {total / MB:,.0f} MB of files, more than the "
                        f"{limits.max_uncompressed_bytes / MB:,.0f} MB allowed.")
    return entries


def _file_reader(path: Path, name: str) -> Callable[[], bytes]:
    def read() -> bytes:
        try:
            return path.read_bytes()
        except OSError as error:  # removed or locked since the folder was listed
            raise DamagedEntry(name, "it could not be read from the disk", f"{type(error).__name__}: {error}") from error

    return read


def memory_entries(files: list[tuple[str, bytes]], limits: Limits) -> list[Entry]:
    """Files from a browser upload; a folder upload names them with their relative path."""
    _check_count(len(files), limits)
    total = sum(len(content) for _, content in files)
    if total > limits.max_uncompressed_bytes:
        raise DataError("archive_too_large", f"The upload holds {total / MB:,.0f} MB of files, more than the "
                        f"{limits.max_uncompressed_bytes / MB:,.0f} MB allowed.")
    return [Entry(name=normalize_name(name), size=len(content), read=lambda c=content: c) for name, content in files]
