"""Reading batch uploads for scoring: tables, their text column, zips of images."""

from __future__ import annotations

import io
import zipfile

import pandas as pd
import pytest
from PIL import Image

from core.predict_service import BatchError, extract_images, guess_text_column, read_table, top_classes


def png_bytes(color=(200, 10, 10)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), color).save(buffer, format="PNG")
    return buffer.getvalue()


def test_read_table_guesses_the_text_column():
    data = "id,message,channel\n1,Win a free cruise now by replying YES,sms\n2,Are we still on for lunch today?,sms\n"
    frame = read_table("messages.csv", data.encode())
    assert frame.columns.tolist() == ["id", "message", "channel"]
    assert guess_text_column(frame) == "message"
    tab_separated = read_table("messages.tsv", "text\tlabel\nhello there friend\tham\n".encode())
    assert tab_separated["text"].tolist() == ["hello there friend"]


def test_read_table_explains_unreadable_and_empty_uploads():
    with pytest.raises(BatchError, match="no rows") as empty:
        read_table("empty.csv", b"text\n")
    assert empty.value.code == "empty"
    with pytest.raises(BatchError, match="could not be read"):
        read_table("sheet.xlsx", b"not a spreadsheet")


def test_extract_images_keeps_images_only_and_never_writes_outside(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("bees/b1.PNG", png_bytes())
        archive.writestr("ants/a1.png", png_bytes((0, 0, 200)))
        archive.writestr("__MACOSX/ants/._a1.png", b"resource fork")
        archive.writestr("notes.txt", b"hello")
        archive.writestr("../escape.png", png_bytes())
    out = tmp_path / "out"
    out.mkdir()
    images = extract_images(buffer.getvalue(), out)
    assert [name for name, _ in images] == ["../escape.png", "ants/a1.png", "bees/b1.PNG"]
    assert all(path.parent == out for _, path in images)
    assert not (tmp_path / "escape.png").exists()
    assert Image.open(images[1][1]).getpixel((0, 0)) == (0, 0, 200)


def test_extract_images_refuses_bad_or_empty_zips(tmp_path):
    with pytest.raises(BatchError) as bad:
        extract_images(b"not a zip", tmp_path)
    assert bad.value.code == "bad_zip"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("readme.md", b"# nothing")
    with pytest.raises(BatchError, match="no images"):
        extract_images(buffer.getvalue(), tmp_path)


def test_top_classes_are_sorted_and_cut():
    top = top_classes({"a": 0.1, "b": 0.6, "c": 0.3}, k=2)
    assert top.to_dict("records") == [{"class": "b", "probability": 0.6}, {"class": "c", "probability": 0.3}]
    assert isinstance(top, pd.DataFrame)


def test_cpu_threads_caps_torch_inside_the_block_and_restores_it():
    import torch

    from core.predict_service import cpu_threads

    before = torch.get_num_threads()
    with cpu_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError), cpu_threads(1):
        raise RuntimeError("a failing prediction")
    assert torch.get_num_threads() == before
    with cpu_threads(None):
        assert torch.get_num_threads() == before
