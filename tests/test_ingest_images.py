"""Images: class folders, splits, a labels CSV, colour modes, EXIF, GIFs, zip limits, and storing."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.datasets.store import dataset_dir, save_dataset
from core.datasets.files import read_examples
from core.ingest import DataError, Limits, ingest_bytes, ingest_files, ingest_path
from storage.datasets import get_dataset
from tests.conftest import HYMENOPTERA, require


# Image and zip factories (also used by tests/test_bad_inputs.py) ---------------------------------------------


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def photo(seed: int, size: tuple[int, int] = (24, 16), fmt: str = "JPEG") -> bytes:
    """A small distinct RGB picture (different seeds give different bytes, so no accidental duplicates)."""
    rng = np.random.default_rng(seed)
    return encode(Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8), "RGB"), fmt)


def class_folders(per_class: int = 4, classes: tuple[str, ...] = ("ants", "bees"), prefix: str = "",
                  seed: int = 0) -> dict[str, bytes]:
    return {f"{prefix}{label}/{label}_{i}.jpg": photo(seed=seed + c * 1000 + i)
            for c, label in enumerate(classes) for i in range(per_class)}


def zip_of(files: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def stored_image(ingested, source_suffix: str) -> Image.Image:
    row = ingested.frame[ingested.frame["source"].str.endswith(source_suffix)].iloc[0]
    return Image.open(row["input"])


# 1) Layouts ------------------------------------------------------------------------------------------------


def test_zip_of_class_folders_becomes_examples_with_generated_names():
    files = class_folders(per_class=5)
    files["ants/an odd name (1)?.jpg"] = photo(99)
    ingested = ingest_bytes("insects.zip", zip_of(files))
    assert ingested.task == "image" and ingested.labels == ["ants", "bees"]
    assert ingested.report.class_counts == {"ants": 6, "bees": 5}
    assert set(ingested.frame["source"]) == set(files)  # the original names are kept for the user
    stored = [Path(p) for p in ingested.frame["input"]]
    assert all(p.parent == ingested.staging_dir / "images" and p.name[:6].isdigit() for p in stored)
    assert all(Image.open(p).mode == "RGB" for p in stored)


def test_common_root_folder_and_train_val_folders_are_honoured():
    files = class_folders(6, prefix="data/train/") | class_folders(3, prefix="data/val/", seed=100)
    ingested = ingest_bytes("data.zip", zip_of(files))
    frame = ingested.frame
    assert (frame.loc[frame["source"].str.startswith("data/val/"), "split"] == "test").all()
    assert set(frame.loc[frame["source"].str.startswith("data/train/"), "split"]) == {"train", "val"}
    assert ingested.report.split_counts == {"train": 10, "val": 2, "test": 6}
    assert ingested.report.get("given_splits") is not None


def test_train_val_and_test_folders_are_all_kept():
    files = (class_folders(4, prefix="train/") | class_folders(2, prefix="validation/", seed=100)
             | class_folders(2, prefix="test/", seed=200))
    ingested = ingest_bytes("data.zip", zip_of(files))
    assert ingested.report.split_counts == {"train": 8, "val": 4, "test": 4}


def test_images_with_a_labels_csv():
    images = {f"pics/img_{i}.png": photo(i, fmt="PNG") for i in range(8)}
    labels = "filename,animal\n" + "".join(f"img_{i}.png,{'cat' if i % 2 else 'dog'}\n" for i in range(8))
    labels += "missing.png,cat\n"
    ingested = ingest_bytes("pets.zip", zip_of(images | {"labels.csv": labels.encode()}))
    assert ingested.labels == ["cat", "dog"] and ingested.report.rows_kept == 8
    assert (ingested.text_column, ingested.label_column) == ("filename", "animal")
    assert ingested.columns == ["filename", "animal"]
    assert ingested.report.get("missing_files").details == ["missing.png"]
    assert all(p.endswith(".png") for p in ingested.frame["input"])  # lossless sources stay lossless


def test_folder_upload_from_the_browser_and_a_folder_on_disk(tmp_path):
    files = class_folders(4, prefix="photos/")
    from_browser = ingest_files(list(files.items()))
    assert from_browser.labels == ["ants", "bees"] and from_browser.source_name == "photos"
    for name, content in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(content)
    from_disk = ingest_path(tmp_path / "photos")
    assert from_disk.report.class_counts == from_browser.report.class_counts == {"ants": 4, "bees": 4}


def test_a_separate_test_zip_replaces_the_test_part():
    train = class_folders(6)
    test = {f"{label}/t{i}.jpg": photo(5000 + c * 10 + i) for c, label in enumerate(("ants", "bees")) for i in range(2)}
    ingested = ingest_bytes("train.zip", zip_of(train), test_file=("test.zip", zip_of(test)))
    frame = ingested.frame
    assert sorted(frame.loc[frame["split"] == "test", "source"]) == sorted(test)
    assert ingested.report.split_counts["val"] == 2


# 2) Colour modes, orientation, animation ------------------------------------------------------------------


def _modes() -> dict[str, bytes]:
    gradient = np.tile(np.arange(0, 65535, 65535 // 24, dtype=np.uint16)[:24], (16, 1))
    rgba = Image.new("RGBA", (24, 16), (255, 0, 0, 0))  # fully transparent red -> white
    return {
        "gray.png": encode(Image.new("L", (24, 16), 128), "PNG"),
        "rgba.png": encode(rgba, "PNG"),
        "palette.gif": encode(Image.new("RGB", (24, 16), (0, 0, 255)).convert("P"), "GIF"),
        "cmyk.jpg": encode(Image.new("CMYK", (24, 16), (0, 255, 255, 0)), "JPEG"),
        "sixteen.png": encode(Image.fromarray(gradient), "PNG"),  # uint16 -> mode I;16
        "photo.webp": encode(Image.new("RGB", (24, 16), (0, 200, 0)), "WEBP"),
        "photo.bmp": encode(Image.new("RGB", (24, 16), (10, 20, 30)), "BMP"),
    }


def test_every_colour_mode_and_format_becomes_rgb():
    files = {f"a/{name}": data for name, data in _modes().items()}
    files |= {f"b/{name}": photo(i) for i, name in enumerate(["1.jpg", "2.jpg", "3.jpg"])}
    ingested = ingest_bytes("modes.zip", zip_of(files))
    assert ingested.report.rows_kept == len(files)
    assert all(Image.open(p).mode == "RGB" for p in ingested.frame["input"])
    assert stored_image(ingested, "rgba.png").getpixel((0, 0)) == (255, 255, 255)
    cmyk = stored_image(ingested, "cmyk.jpg").getpixel((5, 5))
    assert cmyk[0] > 200 and cmyk[1] < 60 and cmyk[2] < 60  # C=0 M=Y=255 is red
    sixteen = np.asarray(stored_image(ingested, "sixteen.png"))[0, :, 0]
    assert sixteen[0] < 10 and sixteen[-1] > 220 and np.all(np.diff(sixteen.astype(int)) >= 0)  # scaled, not clipped
    assert stored_image(ingested, "palette.gif").getpixel((3, 3)) == (0, 0, 255)
    assert "converted_images" in ingested.report.codes


def test_exif_orientation_is_applied():
    wide = Image.new("RGB", (40, 20), (255, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    files = class_folders(3) | {"ants/rotated.jpg": encode(wide, "JPEG", exif=exif.tobytes())}
    ingested = ingest_bytes("rotated.zip", zip_of(files))
    assert stored_image(ingested, "rotated.jpg").size == (20, 40)


def test_animated_gif_keeps_its_first_frame():
    frames = [Image.new("RGB", (16, 16), colour) for colour in [(255, 0, 0), (0, 0, 255)]]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    files = class_folders(3) | {"ants/blink.gif": buffer.getvalue()}
    ingested = ingest_bytes("anim.zip", zip_of(files))
    assert stored_image(ingested, "blink.gif").getpixel((8, 8)) == (255, 0, 0)
    assert ingested.report.get("animated_images").details == ["ants/blink.gif"]


def test_large_images_are_scaled_down_for_storage():
    files = class_folders(3) | {"ants/big.jpg": photo(7, size=(2400, 600))}
    ingested = ingest_bytes("big.zip", zip_of(files))
    assert stored_image(ingested, "big.jpg").size == (1024, 256)
    assert "scaled_images" in ingested.report.codes


# 3) Problems are named ---------------------------------------------------------------------------------------


def test_unreadable_images_and_other_files_are_reported_by_name():
    files = class_folders(4) | {
        "ants/broken.jpg": photo(1)[:200],
        "ants/empty.png": b"",
        "bees/notes.jpg": b"this is text, not a picture",
        "bees/readme.txt": b"hello",
    }
    report = ingest_bytes("mixed.zip", zip_of(files)).report
    unreadable = report.get("unreadable_images")
    assert [d.split(":")[0] for d in unreadable.details] == ["ants/broken.jpg", "ants/empty.png", "bees/notes.jpg"]
    assert "empty file" in unreadable.details[1] and "not an image" in unreadable.details[2]
    assert report.get("non_image_files").details == ["bees/readme.txt"]
    assert report.rows_kept == 8


def test_duplicate_images_are_dropped_and_conflicting_ones_removed():
    files = class_folders(4)
    files["ants/copy.jpg"] = files["ants/ants_0.jpg"]
    files["bees/confused.jpg"] = files["ants/ants_1.jpg"]
    ingested = ingest_bytes("dups.zip", zip_of(files))
    assert "Removed 1 exact duplicate" in ingested.report.get("duplicates").message
    assert "Dropped 2 images" in ingested.report.get("conflicting_labels").message
    assert ingested.report.rows_read == 10 and ingested.report.rows_kept == 7


# 4) Zip limits (small limits given to this ingestion only) ----------------------------------------------


def test_zip_limits_on_total_size_entry_count_and_images():
    data = zip_of(class_folders(4))
    with pytest.raises(DataError) as error:
        ingest_bytes("x.zip", data, limits=Limits(max_uncompressed_bytes=1_000))
    assert error.value.code == "archive_too_large"
    with pytest.raises(DataError) as error:
        ingest_bytes("x.zip", data, limits=Limits(max_archive_entries=5))
    assert error.value.code == "too_many_files" and "limit is 5" in str(error.value)
    with pytest.raises(DataError) as error:
        ingest_bytes("x.zip", data, limits=Limits(max_images=6))
    assert error.value.code == "too_many_images"


def test_zip_bomb_by_ratio_with_a_small_limit():
    files = class_folders(3) | {"ants/zeros.bmp": bytes(200_000)}
    with pytest.raises(DataError) as error:
        ingest_bytes("bomb.zip", zip_of(files), limits=Limits(bomb_min_bytes=100_000))
    assert error.value.code == "zip_bomb" and "zip bomb" in str(error.value)


def test_upload_size_limit():
    with pytest.raises(DataError) as error:
        ingest_bytes("x.zip", zip_of(class_folders(3)), limits=Limits(max_upload_bytes=100))
    assert error.value.code == "upload_too_large"


# 5) Storing -------------------------------------------------------------------------------------------------


def test_saved_images_live_in_the_dataset_folder_under_generated_names():
    ingested = ingest_bytes("insects.zip", zip_of(class_folders(4)))
    dataset_id = save_dataset(ingested, "insects")
    ingested.cleanup()
    folder = dataset_dir(get_dataset(dataset_id))
    examples = read_examples(folder)
    assert examples["input"].str.fullmatch(r"images/\d{6}\.jpg").all()
    assert all(Image.open(folder / p).mode == "RGB" for p in examples["input"])
    assert not ingested.staging_dir.exists()


# 6) The real hymenoptera photos ---------------------------------------------------------------------------


@pytest.mark.slow  # the real data set, zipped and read back: several seconds
def test_hymenoptera_zip(tmp_path):
    root = require(HYMENOPTERA)
    archive = tmp_path / "hymenoptera.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zipped:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                zipped.write(path, "hymenoptera/" + path.relative_to(root).as_posix())
    ingested = ingest_path(archive)
    report = ingested.report
    assert report.rows_read == 398 and report.rows_kept == 398
    assert ingested.labels == ["ants", "bees"]
    frame = ingested.frame
    from_val = frame["source"].str.startswith("hymenoptera/val/")
    assert from_val.sum() == 153 and (frame.loc[from_val, "split"] == "test").all()  # judged on val/, as published
    assert set(frame.loc[~from_val, "split"]) == {"train", "val"}
    gif = frame[frame["source"] == "hymenoptera/train/ants/imageNotFound.gif"]
    assert len(gif) == 1 and Image.open(gif["input"].iloc[0]).mode == "RGB"
    assert "unreadable_images" not in report.codes


def test_streamlit_upload_limit_matches_the_ingestion_limit():
    import tomllib

    from core.ingest.limits import MAX_UPLOAD_MB
    from tests.conftest import ROOT

    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["maxUploadSize"] == MAX_UPLOAD_MB


def test_register_path_reuses_a_stored_image_folder(tmp_path):
    from core.datasets.store import register_path
    from storage.datasets import list_datasets

    for name, content in class_folders(4).items():
        (tmp_path / "photos" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "photos" / name).write_bytes(content)
    first = register_path(tmp_path / "photos")
    assert register_path(tmp_path / "photos") == first
    assert [(d.name, d.task, d.num_examples) for d in list_datasets()] == [("photos", "image", 8)]
