"""Reading batch uploads for scoring (core.ingest.unlabeled): tables, their text column, zips of images."""

from __future__ import annotations

import io
import pandas as pd
import pytest
from PIL import Image

from core.ingest import DataError, ingest_bytes
from core.ingest.unlabeled import read_image, read_images, read_path, read_texts
from core.serving.predict_service import top_classes
from tests.test_bad_inputs import bomb_png, gray16_png, with_bad_crc, zip_bomb
from tests.test_ingest_images import class_folders, photo, zip_of


def png_bytes(color=(200, 10, 10)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), color).save(buffer, format="PNG")
    return buffer.getvalue()


def test_read_table_guesses_the_text_column():
    data = "id,message,channel\n1,Win a free cruise now by replying YES,sms\n2,Are we still on for lunch today?,sms\n"
    table = read_texts("messages.csv", data.encode())
    assert table.frame.columns.tolist() == ["id", "message", "channel"]
    assert table.text_column == "message"
    tab_separated = read_texts("messages.tsv", "text\tlabel\nhello there friend\tham\n".encode())
    assert tab_separated.frame["text"].tolist() == ["hello there friend"]


def test_a_single_column_of_texts_needs_no_label_column():
    # The Data page refuses one column (it needs labels); texts to score need none.
    data = 'text\nhello there friend\n"see you, at six"\n'.encode()
    with pytest.raises(DataError, match="only one column"):
        ingest_bytes("texts.csv", data)
    table = read_texts("texts.csv", data)
    assert table.text_column == "text" and table.frame["text"].tolist() == ["hello there friend", "see you, at six"]


def test_read_table_explains_unreadable_and_empty_uploads():
    with pytest.raises(DataError, match="no rows") as empty:
        read_texts("empty.csv", b"text\n")
    assert empty.value.code == "no_rows" and "label" not in empty.value.message
    with pytest.raises(DataError, match="could not be read"):
        read_texts("sheet.xlsx", b"not a spreadsheet")
    # The Data page's table reader, with its messages: encodings, binary files.
    assert read_texts("latin.csv", "text\nRéunion à côté\n".encode("latin-1")).report.get("encoding") is not None
    with pytest.raises(DataError) as binary:
        read_texts("garbage.csv", bytes(range(256)) * 16)
    assert binary.value.code == "not_text"


def test_read_images_keeps_images_only_and_names_them_by_their_zip():
    archive = zip_of({"bees/b1.PNG": png_bytes(), "ants/a1.png": png_bytes((0, 0, 200)),
                      "__MACOSX/ants/._a1.png": b"resource fork", "notes.txt": b"hello"})
    images = read_images([("field.zip", archive), ("loose.png", png_bytes())])
    assert images.names == ["field.zip/ants/a1.png", "field.zip/bees/b1.PNG", "loose.png"]
    assert images.load(images.entries[0]).getpixel((0, 0)) == (0, 0, 200)
    assert images.report.get("non_image_files").details == ["field.zip/notes.txt"]  # clutter is skipped silently


def test_read_images_refuses_what_the_data_page_refuses():
    cases = {
        "not a zip": ("broken.zip", b"not a zip"),
        "no images": ("notes.zip", zip_of({"readme.md": b"# nothing"})),
        "zip bomb": ("bomb.zip", zip_bomb()),
        "unsafe path": ("evil.zip", zip_of(class_folders(3) | {"../escape.jpg": photo(5)})),
    }
    for case, (name, data) in cases.items():
        with pytest.raises(DataError) as on_data:
            ingest_bytes(name, data)
        with pytest.raises(DataError) as on_predict:
            read_images([(name, data)])
        assert (on_predict.value.code, on_predict.value.message) == (on_data.value.code, on_data.value.message), case


def test_an_unreadable_image_is_named_with_the_data_pages_reason_and_the_rest_kept():
    files = class_folders(3) | {"ants/cut.jpg": photo(11, size=(64, 64))[:300], "bees/huge.png": bomb_png()}
    data_report = ingest_bytes("insects.zip", zip_of(files)).report
    images = read_images([("insects.zip", zip_of(files))])
    assert len(images.entries) == 6 and "ants/cut.jpg" not in images.names
    assert images.report.get("unreadable_images") == data_report.get("unreadable_images")
    assert any("decompression bomb" in detail for detail in images.report.get("unreadable_images").details)
    # Among other uploads, a zip's files are named with the zip's name.
    images = read_images([("insects.zip", zip_of(files)), ("loose.png", png_bytes())])
    assert images.report.get("unreadable_images").details == [
        f"insects.zip/{detail}" for detail in data_report.get("unreadable_images").details]


def test_a_scan_too_large_to_decode_and_a_damaged_entry_are_named_and_the_rest_kept():
    """Issue 22: a 16-bit scan was decoded at 1.1 GB, and one damaged entry ended the batch with zipfile's error."""
    files = class_folders(2) | {"bees/scan.png": gray16_png(), "ants/crc.jpg": photo(12)}
    images = read_images([("field.zip", with_bad_crc(zip_of(files), "ants/crc.jpg"))])
    assert images.names == sorted(class_folders(2))
    unreadable = dict(d.split(": ", 1) for d in images.report.get("unreadable_images").details)
    assert set(unreadable) == {"bees/scan.png", "ants/crc.jpg"}
    assert unreadable["bees/scan.png"].startswith("too large to decode (7,990 x 7,990 16-bit pixels need about 609 MB")
    assert unreadable["ants/crc.jpg"] == "it is damaged inside the zip"
    assert [images.load(entry).size for entry in images.entries] == [(24, 16)] * 4  # the rest load for scoring
    with pytest.raises(DataError) as one:  # the one-image box
        read_image("scan.png", gray16_png())
    assert one.value.message.startswith("scan.png could not be read: too large to decode (7,990 x 7,990")


def test_only_unreadable_images_is_a_plain_refusal():
    with pytest.raises(DataError, match="No usable images") as error:
        read_images([("junk.zip", zip_of({"a/1.jpg": b"", "a/2.jpg": b"nope"}))])
    assert len(error.value.report.get("unreadable_images").details) == 2


def test_read_path_takes_a_folder_of_images_or_a_table(tmp_path):
    (tmp_path / "photos" / "bees").mkdir(parents=True)
    (tmp_path / "photos" / "bees" / "b.png").write_bytes(png_bytes())
    (tmp_path / "photos" / "a.png").write_bytes(png_bytes())
    (tmp_path / "photos" / ".DS_Store").write_bytes(b"\x00")
    assert read_path(tmp_path / "photos", "image").names == ["a.png", "bees/b.png"]
    (tmp_path / "texts.csv").write_text("message\nhello there\n")
    assert read_path(tmp_path / "texts.csv", "text").frame["message"].tolist() == ["hello there"]


def test_top_classes_are_sorted_and_cut():
    top = top_classes({"a": 0.1, "b": 0.6, "c": 0.3}, k=2)
    assert top.to_dict("records") == [{"class": "b", "probability": 0.6}, {"class": "c", "probability": 0.3}]
    assert isinstance(top, pd.DataFrame)


def test_cpu_threads_caps_torch_inside_the_block_and_restores_it():
    import torch

    from core.serving.predict_service import cpu_threads

    before = torch.get_num_threads()
    with cpu_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError), cpu_threads(1):
        raise RuntimeError("a failing prediction")
    assert torch.get_num_threads() == before
    with cpu_threads(None):
        assert torch.get_num_threads() == before
