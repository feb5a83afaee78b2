"""A folder export as one zip file to download."""

from __future__ import annotations

import zipfile
from pathlib import Path


def make_zip(out_dir: Path) -> Path:
    """<out_dir>.zip beside the folder, its files under the folder's name (so unzipping makes one folder).

    Weights are already compact (safetensors, ONNX), so DEFLATE saves little there; it is kept for the text files.
    Written under a temporary name and renamed, so a half-written zip is never offered.
    """
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise FileNotFoundError(f"There is no export folder at {out_dir}.")
    target = out_dir.with_name(out_dir.name + ".zip")
    partial = target.with_name(target.name + ".partial")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(p for p in out_dir.rglob("*") if p.is_file()):
            archive.write(path, Path(out_dir.name) / path.relative_to(out_dir))
    partial.replace(target)
    return target
