"""The fix loop in the browser as a new user walks it (issue 23): upload data with planted label errors, save it,
look for what is wrong, accept the suggestions, save them as the next version, retrain, compare on the same test rows."""

from __future__ import annotations

import csv
import io

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from bench.planted import flip_labels
from core.datasets.examples import example_file
from tests.conftest import ROOT

PLANTED = 24


def planted_upload() -> tuple[bytes, pd.DataFrame, np.ndarray]:
    """The example data (600 support messages, four classes) with PLANTED labels flipped; and the true labels."""
    _, data = example_file()
    clean = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)
    noisy, flipped = flip_labels(clean, "category", PLANTED, seed=3)
    return noisy.to_csv(index=False, quoting=csv.QUOTE_MINIMAL).encode(), clean, flipped


@pytest.mark.slow  # the offline MiniLM reads 600 messages once (about half a minute on 2 free cores), two head fits
@pytest.mark.timeout(1200)  # 7 minutes on the shared machine at load 18
def test_upload_with_planted_errors_review_accept_save_retrain_and_compare(tuneboard_home):
    from core.datasets.store import dataset_dir, load_examples
    from core.run_config import RunConfig
    from core.training import train_run
    from core.training.progress import NullReporter
    from storage.datasets import get_dataset, list_datasets

    data, clean, flipped = planted_upload()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600).run()
    at.switch_page("pages/data.py").run()
    at.file_uploader(key="data_upload").upload("tickets.csv", data, "text/csv").run()
    at.button(key="save_dataset").click().run()
    assert not at.exception
    (noisy,) = list_datasets()
    # 1) review: the planted rows lead the list
    assert at.selectbox(key="review_choice").value == noisy.id
    at.button(key=f"review_go_{noisy.id}").click().run()
    assert not at.exception
    review = at.session_state[f"review_{noisy.id}"]["review"]
    truth = dict(zip((f"line {n + 2}" for n in range(len(clean))), clean["category"]))  # header: line 1
    planted_sources = {f"line {n + 2}" for n in flipped}
    top = review.issues[:PLANTED]
    assert sum(i.source in planted_sources for i in top) >= PLANTED * 0.75
    assert all(i.suggested == truth[i.source] for i in top if i.source in planted_sources)
    # 2) accept every suggestion from the default score up (0.9), the test split left as it is; save them as the next version
    at.button(key=f"review_accept_{noisy.id}").click().run()
    assert not at.exception
    actions = at.session_state[f"review_{noisy.id}"]["actions"]
    assert actions and all(action == "relabel" for action, _ in actions.values())
    at.button(key=f"review_save_{noisy.id}").click().run()
    assert not at.exception
    fixed = next(d for d in list_datasets() if d.id != noisy.id)
    assert any(f"Saved as v2 (dataset #{fixed.id})" in s.value for s in at.success)
    assert (fixed.parent_id, fixed.version) == (noisy.id, 2) and fixed.changes["relabeled"] == len(actions)
    before, after = load_examples(noisy.id), load_examples(fixed.id)
    assert before["split"].tolist() == after["split"].tolist()  # the same rows in the same splits
    test = before["split"] == "test"
    assert before[test].equals(after[test][before.columns])  # the test split as it was
    wrong = lambda frame: int((frame["label"] != frame["source"].map(truth))[~test].sum())
    assert wrong(after) <= wrong(before) // 2  # most planted errors outside the test split are gone
    relabelled = after["label"] != before["label"]
    assert (after.loc[relabelled, "label"] == after.loc[relabelled, "source"].map(truth)).mean() >= 0.9
    # The stored list says where the version came from, and what changed.
    stored = next(d.value for d in at.dataframe if "from" in d.value.columns)
    assert f"#{noisy.id}: {len(actions)} relabeled" in stored["from"].tolist()
    # 3) retrain the head-only model on both and compare on the same test rows, against the true labels
    scores = {}
    for dataset in (noisy, fixed):
        result = train_run(dataset_dir(get_dataset(dataset.id)), dataset.labels, "text", RunConfig(method="head"),
                           tuneboard_home / f"run-{dataset.id}", NullReporter())
        sources = load_examples(dataset.id)["source"]
        scores[dataset.id] = np.mean([p["predicted_label"] == truth[sources[p["example_index"]]]
                                      for p in result.predictions])
    assert scores[fixed.id] >= scores[noisy.id]
