"""A newcomer's path in a real browser, with a many-class text set (issue 26): a CSV and a zip dropped together, rows
kept and why, rare classes warned about; the launch confirmation in view; Home showing what trains and, on
whichever page is open, a notice when it finishes; the Runs page agreeing with itself; Clone opening Train
prefilled; settings and scores in words; and the confusion matrix at 400 px wide.

Data: a stratified sample of ../shared/datasets/fortunes (26 classes, from 'people' down to 'sports'), so the run
stays short. Screenshots go to test-artifacts/browser/ (the README's are taken by tests/test_browser.py and here).
"""

from __future__ import annotations

import csv
import io
import re
import zipfile

import pytest

from tests.conftest import require
from tests.test_browser import RUN_TIMEOUT_S, browser, new_page, open_page, running_app, shot  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.slow]

FORTUNES = "fortunes/fortunes.csv"
SHARE = 0.07  # of each class: about 780 texts, 'people' 83 and 'sports' 8, so the imbalance stays
EMOJI = re.compile("[\U0001F300-\U0001FAFF\u2600-\u27BF\u23E9-\u23FA]")  # the status emoji the pages used to show


def fortunes_sample(path, out) -> tuple[int, int]:
    """Every class's first SHARE of rows, plus one exact duplicate and one empty text: (rows written, classes)."""
    from tests.conftest import SHARED_DATASETS

    rows = list(csv.DictReader(require(SHARED_DATASETS / FORTUNES).open(encoding="utf-8")))
    by_class: dict[str, list[dict]] = {}
    for row in rows:
        by_class.setdefault(row["category"], []).append(row)
    sample = [row for group in by_class.values() for row in group[:max(8, round(len(group) * SHARE))]]
    sample += [sample[0], {"text": "", "category": sample[1]["category"]}]
    with out.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["text", "category"])
        writer.writeheader()
        writer.writerows(sample)
    return len(sample), len(by_class)


def photos_zip(path) -> None:
    """A zip of image class folders dropped beside the CSV (the issue's 'zip of product photos')."""
    from PIL import Image

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for label in ("mugs", "caps"):
            for i in range(3):
                image = io.BytesIO()
                Image.new("RGB", (32, 32), (40 * i, 90, 160)).save(image, "PNG")
                archive.writestr(f"photos/{label}/{i}.png", image.getvalue())
    path.write_bytes(buffer.getvalue())


def main_text(page) -> str:
    return page.get_by_test_id("stMain").inner_text()


@pytest.mark.timeout(RUN_TIMEOUT_S + 420)
def test_a_newcomer_with_many_classes(browser, tuneboard_home, tmp_path):  # noqa: F811
    expect = pytest.importorskip("playwright.sync_api").expect
    table, photos = tmp_path / "fortunes.csv", tmp_path / "photos.zip"
    written, classes = fortunes_sample(tmp_path, table)
    photos_zip(photos)
    with running_app(tuneboard_home) as url:
        page = new_page(browser, url)
        try:
            walk(page, expect, table, photos, written)
        except Exception:
            shot(page, "newcomer_failed")  # what the page showed when a check failed
            raise
        finally:
            page.context.close()
    assert classes == 26


def walk(page, expect, table, photos, written: int) -> None:
    """The newcomer's steps, each checking what issue 26 asked of it."""
    expect(page.get_by_role("heading", name="Tuneboard")).to_be_visible()  # the first page, fully drawn
    # 4) Uploads: both files in one uploader; which was read and which not; rows kept and why; rare classes.
    open_page(page, "Data")
    page.locator("input[type=file]").first.set_input_files([str(table), str(photos)])
    expect(page.get_by_text("Only 'fortunes.csv' was read").first).to_be_visible()
    expect(page.get_by_text("Not taken: 'photos.zip'").first).to_be_visible()
    kept = page.get_by_text(re.compile(rf"Kept [\d,]+ of {written:,} rows; not kept: 1 with an empty text, "
                                       r"1 exact duplicate "))
    expect(kept).to_be_visible()
    expect(page.get_by_text(re.compile(r"far fewer examples than 'people'")).first).to_be_visible()
    shot(page, "newcomer_01_data")
    page.get_by_role("button", name="Save dataset").click()
    expect(page.get_by_text("Saved", exact=False).first).to_be_visible()

    # 1) The launch confirmation shows under Launch, in view, even with the Compare panel open.
    open_page(page, "Train")
    page.get_by_text("Head only", exact=True).first.click()
    expect(page.get_by_text("Estimated time")).to_be_visible(timeout=180_000)
    page.get_by_text("Compare methods").click()
    page.get_by_role("button", name="Launch").click()
    confirmation = page.get_by_text("Queued run #1", exact=False).first
    expect(confirmation).to_be_in_viewport()

    # 3) Home: what trains now, with a link; then, on this page, a notice when it finishes, with its score.
    open_page(page, "Home")
    expect(page.get_by_text("Training now")).to_be_visible()
    expect(page.get_by_role("link", name=re.compile("Follow run 1|Run 1:"))).to_be_visible()
    shot(page, "newcomer_02_home_training")
    notice = page.get_by_test_id("stToast").filter(has_text=re.compile(r"Run 1 .*finished: [\d.]+% test accuracy"))
    expect(notice).to_be_visible(timeout=RUN_TIMEOUT_S * 1000)
    page.reload()  # Home again, as a newcomer comes back to it: the latest results, linked
    expect(page.get_by_role("link", name=re.compile(r"#1 fortunes .*% test accuracy"))).to_be_visible()
    shot(page, "newcomer_03_home_finished")

    # 1) and 5) Runs: the picker, the heading and the sidebar agree that it finished; icons, not emoji;
    # settings as setting / value / where from.
    open_page(page, "Runs")
    expect(page.get_by_role("heading", name=re.compile(r"Run 1 \(succeeded\)"))).to_be_visible()
    picker = page.get_by_test_id("stSelectbox").first  # its shown choice may sit in an input's value
    expect(picker).to_be_visible()
    shown = picker.evaluate("el => el.innerText + ' ' + [...el.querySelectorAll('input')].map(i => i.value).join(' ')")
    assert "#1 · head · minilm" in shown and not re.search(r"queued|running", shown)  # no state to go stale
    expect(page.get_by_test_id("stSidebar")).to_contain_text("idle")
    assert not EMOJI.search(main_text(page)), "status emoji render as empty boxes without an emoji font"
    page.get_by_text("Settings", exact=True).click()
    expect(page.get_by_text("Each setting, its value and where it came from")).to_be_visible()
    # the Settings expander's own table (the Workers table comes after it on the page)
    settings = page.get_by_test_id("stExpander").filter(has_text="Each setting, its value").get_by_test_id("stDataFrame")
    expect(settings).to_be_visible()
    shot(page, "newcomer_04_runs")

    # 2) Clone opens Train with the run's settings, and queues nothing.
    page.get_by_role("link", name=re.compile("Clone")).click()
    expect(page.get_by_text("The settings of run #1 are filled in")).to_be_visible()
    expect(page.get_by_role("radio", name=re.compile("Head only"))).to_be_checked()
    open_page(page, "Home")
    expect(page.get_by_test_id("stMetric").filter(has_text="Runs")).to_contain_text("1")

    # 5) Results in words: one number format, no raw None, scores explained, legends without code names.
    open_page(page, "Results")
    expect(page.get_by_text("Confusion matrix", exact=False).first).to_be_visible()
    text = main_text(page)
    assert "None" not in text and not re.search(r"\d\.\d+e-\d", text)
    assert not re.search(r"\b1 test examples\b", text) and "under 1 s left" not in text
    assert re.search(r"\d+\.\d% ", text) and not re.search(r"\b0\.\d{3}\b", text), "percentages, not 0.955"
    expect(page.get_by_text("Precision: of what the model put in a class")).to_be_visible()
    legend = page.locator(".js-plotly-plot .legendtext")
    expect(legend.filter(has_text="training loss").first).to_be_attached()
    assert not legend.filter(has_text=re.compile("train_loss|val_macro_f1")).count()
    shot(page, "newcomer_05_results")

    # 6) At 400 px wide, the biggest confusions as a list instead of a matrix squeezed into a strip.
    page.set_viewport_size({"width": 400, "height": 900})
    page.wait_for_timeout(500)
    matrix = page.locator("[class*='st-key-wide_only'] .js-plotly-plot")
    expect(matrix).to_be_hidden()
    listing = page.locator("[class*='st-key-narrow_only']")
    expect(listing).to_be_visible()
    expect(listing).to_contain_text("biggest confusions")
    assert listing.get_by_role("listitem").count() >= 3
    page.get_by_role("heading", name="Confusion matrix").scroll_into_view_if_needed()  # the list, under its heading
    shot(page, "newcomer_06_results_400px")
    page.set_viewport_size({"width": 1440, "height": 1000})
    expect(matrix).to_be_visible()
