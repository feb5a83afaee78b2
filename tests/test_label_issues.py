"""What is wrong with the data (issue 23): likely label errors by confident learning on out-of-fold probabilities,
near-copies across the split, conflicting near-identical training examples, and fixes stored as a new dataset."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from core.evaluation.label_issues import find_label_issues
from core.evaluation.near_duplicates import NEAR_COPY_THRESHOLD, conflicting_groups, near_copies
from core.training.head_folds import out_of_fold_probabilities


def blobs(n: int, classes: int, rng: np.random.Generator, spread: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    centers = rng.normal(size=(classes, 32)) * 2.0
    y = rng.integers(0, classes, n)
    return centers[y] + rng.normal(size=(n, 32)) * spread, y


def test_confident_learning_flags_labels_the_model_confidently_contradicts_and_ranks_them_by_doubt():
    probabilities = np.array([
        [0.9, 0.1],    # labelled 0: fine
        [0.05, 0.95],  # labelled 0: the model is sure it is 1 -> most doubted
        [0.25, 0.75],  # labelled 0: p1 reaches class 1's threshold (0.675) -> doubted
        [0.2, 0.8],    # labelled 1: fine
        [0.1, 0.9],    # labelled 1: fine
        [0.65, 0.35],  # labelled 1: p0 reaches class 0's threshold (0.4) -> doubted
        [0.35, 0.65],  # labelled 1: unsure, but p0 stays below class 0's threshold: not flagged
    ])
    labels = np.array([0, 0, 0, 1, 1, 1, 1])
    issues = find_label_issues(probabilities, labels)
    assert [(i.position, i.given, i.suggested) for i in issues] == [(1, 0, 1), (2, 0, 1), (5, 1, 0)]
    assert [i.score for i in issues] == pytest.approx([0.95, 0.75, 0.65])


def test_out_of_fold_probabilities_find_flipped_labels_among_overlapping_classes():
    rng = np.random.default_rng(0)
    x, y = blobs(1200, 4, rng, spread=3.0)  # about 2% of the examples lie nearer another class's centre
    noisy = y.copy()
    flipped = rng.choice(len(y), 40, replace=False)
    noisy[flipped] = (y[flipped] + rng.integers(1, 4, 40)) % 4
    probabilities = out_of_fold_probabilities(x, noisy, 4)
    assert probabilities.shape == (1200, 4) and np.allclose(probabilities.sum(1), 1.0)
    # Out of fold: a head that saw the flipped label would believe it; these do not.
    assert np.mean(probabilities.argmax(1)[flipped] == y[flipped]) > 0.9
    issues = find_label_issues(probabilities, noisy)
    top = {i.position for i in issues[:60]}
    assert len(top & set(flipped.tolist())) >= 36  # of 40, within the 60 most doubted of 1,200
    assert len(issues) < 100  # what is flagged is mostly the flips, not every example near a border
    assert all(i.suggested == y[i.position] for i in issues[:20] if i.position in set(flipped.tolist()))


def test_a_class_with_fewer_examples_than_folds_is_still_predicted():
    rng = np.random.default_rng(1)
    x, y = blobs(60, 2, rng)
    y[:3] = 2  # three examples of a third class, fewer than five folds
    probabilities = out_of_fold_probabilities(x, y, 3)
    assert probabilities.shape == (60, 3) and np.allclose(probabilities.sum(1), 1.0)


def test_near_copies_pair_each_test_example_with_its_training_original_above_the_threshold():
    rng = np.random.default_rng(2)
    train = rng.normal(size=(300, 64))
    test = rng.normal(size=(50, 64))
    test[:10] = train[[5, 17, 42, 99, 100, 150, 200, 250, 260, 299]] + rng.normal(size=(10, 64)) * 0.1  # copies
    found = near_copies(train, test, threshold=0.9)
    assert sorted((c.test_position, c.train_position) for c in found) == list(
        zip(range(10), [5, 17, 42, 99, 100, 150, 200, 250, 260, 299]))
    assert all(c.similarity >= 0.9 for c in found)
    assert found == sorted(found, key=lambda c: -c.similarity)


def test_conflicting_groups_are_near_identical_training_examples_with_different_labels():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(100, 32))
    labels = rng.integers(0, 2, 100)
    x[10] = x[3] * 1.01  # a near-copy with another label: a conflict
    labels[3], labels[10] = 0, 1
    x[20] = x[7] * 0.99  # a near-copy with the same label: no conflict
    labels[7], labels[20] = 1, 1
    x[31], x[32] = x[30] + 0.01, x[30] - 0.01  # a group of three, two labels
    labels[30], labels[31], labels[32] = 0, 0, 1
    groups = conflicting_groups(x, labels, threshold=0.98)
    assert [g.positions for g in groups] == [[30, 31, 32], [3, 10]]
    assert groups[0].labels == [0, 0, 1] and groups[1].labels == [0, 1]


def stored_text_dataset(rows: int = 40) -> int:
    from tests.tiny_training import make_dataset

    return make_dataset(name="tickets", rows=rows)


def test_fixes_become_the_next_version_that_records_its_parent_and_keeps_the_splits(tuneboard_home):
    from core.datasets.fixes import NOTE, Fixes, FixError, save_fixes
    from core.datasets.store import dataset_dir, load_examples
    from storage.datasets import get_dataset

    parent_id = stored_text_dataset()
    before = load_examples(parent_id)
    parent_csv = (dataset_dir(get_dataset(parent_id)) / "examples.csv").read_bytes()
    test_row = int(before.index[before["split"] == "test"][0])
    fixes = Fixes(relabel={0: "spam", 1: "spam"}, drop={2, test_row})
    child_id = save_fixes(parent_id, fixes)
    child, after = get_dataset(child_id), load_examples(child_id)
    assert child_id != parent_id and (child.parent_id, child.lineage_id, child.version) == (parent_id, parent_id, 2)
    assert child.changes["relabeled"] == 1  # row 1 was spam already
    assert child.changes["dropped"] == 2 and child.changes["dropped_from_test"] == 1
    assert child.changes["note"] == NOTE and child.name == "tickets" and child.num_examples == len(before) - 2
    expected = before.assign(row_id=[str(i) for i in before.index]).drop(index=[2, test_row]).reset_index(drop=True)
    expected.loc[0, "label"] = "spam"
    pd.testing.assert_frame_equal(after, expected)  # same order, splits, sources, row ids: only the fixes differ
    assert child.split_counts == {s: int((expected["split"] == s).sum()) for s in ("train", "val", "test")}
    # The parent is as it was, so its runs stay as they were; the same fixes again give the same version.
    assert (dataset_dir(get_dataset(parent_id)) / "examples.csv").read_bytes() == parent_csv
    assert save_fixes(parent_id, fixes) == child_id
    with pytest.raises(FixError, match="not a class of this dataset"):
        save_fixes(parent_id, Fixes(relabel={0: "eggs"}))
    with pytest.raises(FixError, match="Nothing to change"):
        save_fixes(parent_id, Fixes())
    with pytest.raises(FixError, match="no training or no test rows left"):
        save_fixes(parent_id, Fixes(drop=set(before.index[before["split"] == "test"].tolist())))
    with pytest.raises(FixError, match="single class"):
        save_fixes(parent_id, Fixes(relabel={i: "spam" for i in before.index}))
    with pytest.raises(FixError, match="Row 4000 is not in dataset"):
        save_fixes(parent_id, Fixes(drop={4000}))
    # Fixes to the fixed version make version 3 of the same lineage, its rows named as version 2 named them.
    grandchild = get_dataset(save_fixes(child_id, Fixes(drop={0})))
    assert (grandchild.parent_id, grandchild.lineage_id, grandchild.version) == (child_id, parent_id, 3)
    assert load_examples(grandchild.id)["row_id"].tolist() == expected["row_id"].tolist()[1:]


@pytest.mark.slow  # builds a tiny model in a child process and extracts its features (several seconds)
def test_the_command_line_ranks_flipped_rows_first_and_names_their_row_in_the_file(tuneboard_home, tmp_path):
    import json
    import subprocess
    import sys

    from tests.conftest import ROOT

    rows = [("win cash now, call " + str(i), "spam") if i % 3 == 0 else (f"see you at lunch on day {i}", "ham")
            for i in range(120)]
    other = {"spam": "ham", "ham": "spam"}
    flipped = {n: other[rows[n - 1][1]] for n in (17, 42, 88)}  # data row (1 = first under the header) -> wrong label
    lines = ["message,category"] + [f'"{text}",{flipped.get(n, label)}' for n, (text, label) in enumerate(rows, 1)]
    data = tmp_path / "tickets.csv"
    data.write_text("\n".join(lines) + "\n")
    env = {**os.environ, "TUNEBOARD_HOME": str(tuneboard_home), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-m", "core", "label-issues", "--data", str(data), "--model", "tiny-bert",
                           "--top", "3", "--near-copies", "--json"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["examples"] == 120 and len(out["issues"]) == 3
    assert {(i["row"], i["given"]) for i in out["issues"]} == {(n, label) for n, label in flipped.items()}
    assert all(i["suggested"] != i["given"] and 0.5 < i["score"] <= 1 for i in out["issues"])
    assert out["issues"][0]["input"] == rows[out["issues"][0]["row"] - 1][0]
    assert out["near_copy_threshold"] == NEAR_COPY_THRESHOLD
    # The messages differ by a number only: the test ones are near-copies of training ones.
    assert out["near_copies"] and all(c["similarity"] >= NEAR_COPY_THRESHOLD and set(c["test"]) == {"row"}
                                      for c in out["near_copies"])
    # A file that is not there: one sentence, exit code 2.
    missing = subprocess.run([sys.executable, "-m", "core", "label-issues", "--data", str(tmp_path / "nope.csv")],
                             cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert missing.returncode == 2 and "There is no file or folder" in missing.stderr


@pytest.mark.slow  # the offline MiniLM reads 2,000 SMS messages (about half a minute on 2 free cores)
@pytest.mark.timeout(1200)  # on the shared 2-core machine at load 20 the backbone pass on all 5,574 took 11 minutes
def test_label_issues_finds_labels_flipped_in_sms_spam_among_its_top_40(tuneboard_home, tmp_path):
    """The issue's bar, scaled to the first 2,000 SMS messages: 20 random rows flipped (seed 0), at least 14 of them
    (70%, as 35 of 50) in the top 40. The full bar (50 of all 5,574 flipped, 35 in the top 100) and its time are
    measured by bench/label_issues.py."""
    import csv
    import json
    import subprocess
    import sys

    from bench.planted import flip_labels
    from tests.conftest import ROOT, SMS_SPAM, require

    clean = pd.read_csv(require(SMS_SPAM), sep="\t", dtype=str, keep_default_na=False, quoting=csv.QUOTE_NONE)[:2000]
    noisy, flipped = flip_labels(clean, "Label", 20)
    data = tmp_path / "sms_flipped.tsv"
    noisy.to_csv(data, sep="\t", index=False, quoting=csv.QUOTE_NONE)
    env = {**os.environ, "TUNEBOARD_HOME": str(tuneboard_home), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-m", "core", "label-issues", "--data", str(data), "--top", "40", "--json"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=1100)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    planted = set((flipped + 1).tolist())  # data row numbers
    found = [i for i in out["issues"] if i["row"] in planted]
    assert len(found) >= 14, len(found)
    # Each found row is the flipped one, and the suggestion is its true label.
    assert all(i["given"] == noisy.at[i["row"] - 1, "Label"] and i["suggested"] == clean.at[i["row"] - 1, "Label"]
               for i in found)
    assert all(i["input"] == clean.at[i["row"] - 1, "SMS"] for i in out["issues"])


@pytest.mark.slow  # the offline MiniLM reads 800 SMS messages twice (about a minute on 2 free cores)
@pytest.mark.timeout(1200)
def test_paraphrase_like_copies_planted_into_the_test_split_are_found_with_their_training_original(tuneboard_home,
                                                                                                    tmp_path):
    from bench.label_issues import store_examples
    from bench.planted import plant_near_copies
    from core.datasets.store import dataset_dir, load_examples, register_path
    from core.evaluation.near_duplicates import NEAR_COPY_THRESHOLD
    from core.training.data_review import review_dataset
    from storage.datasets import get_dataset
    from tests.conftest import SMS_SPAM, require

    sample = pd.read_csv(require(SMS_SPAM), sep="\t", dtype=str, keep_default_na=False, quoting=3).sample(
        800, random_state=0)
    sample.to_csv(tmp_path / "sms.tsv", sep="\t", index=False, quoting=3)
    clean = get_dataset(register_path(tmp_path / "sms.tsv"))
    untouched = review_dataset(dataset_dir(clean), clean.labels, "text")
    frame, plants = plant_near_copies(load_examples(clean.id), 20, seed=2)
    planted = get_dataset(store_examples(frame, "sms with copies"))
    review = review_dataset(dataset_dir(planted), planted.labels, "text")
    assert review.threshold == NEAR_COPY_THRESHOLD
    pairs = {(c.test_row, c.train_row) for c in review.near_copies}
    assert sum(plant in pairs for plant in plants) >= 15  # of 20, each with the training row it copies
    # On the untouched split far fewer are flagged (some are real near-copies: one spam template, other numbers).
    assert len(untouched.near_copies) <= 0.1 * untouched.test_examples
    assert all(c.similarity >= NEAR_COPY_THRESHOLD for c in review.near_copies)


def test_a_fixed_image_dataset_links_the_kept_images_and_leaves_the_dropped_ones(tuneboard_home):
    from PIL import Image

    from core.datasets.files import write_examples
    from core.datasets.fixes import Fixes, save_fixes
    from core.datasets.store import dataset_dir, load_examples
    from storage.datasets import get_dataset
    from storage.db import session_factory
    from storage.models import Dataset
    from storage.paths import datasets_dir

    with session_factory().begin() as s:
        row = Dataset(name="photos", task="image", labels=["ants", "bees"], num_examples=6)
        s.add(row)
        s.flush()
        folder = datasets_dir() / str(row.id)
        (folder / "images").mkdir(parents=True)
        for i in range(6):
            Image.new("RGB", (8, 8), (40 * i, 0, 0)).save(folder / "images" / f"{i:06d}.png")
        write_examples(folder, pd.DataFrame({
            "input": [f"images/{i:06d}.png" for i in range(6)], "label": ["ants", "bees"] * 3,
            "split": ["train", "train", "train", "train", "test", "test"], "source": [f"p{i}.jpg" for i in range(6)]}))
        row.path, parent_id = f"datasets/{row.id}", row.id
    child_id = save_fixes(parent_id, Fixes(relabel={1: "ants"}, drop={2}))
    child_folder = dataset_dir(get_dataset(child_id))
    kept = load_examples(child_id)
    assert kept["input"].tolist() == [f"images/{i:06d}.png" for i in (0, 1, 3, 4, 5)]
    assert sorted(p.name for p in (child_folder / "images").iterdir()) == [f"{i:06d}.png" for i in (0, 1, 3, 4, 5)]
    assert (child_folder / "images" / "000001.png").read_bytes() == (folder / "images" / "000001.png").read_bytes()
    assert kept.at[1, "label"] == "ants" and kept["source"].tolist() == [f"p{i}.jpg" for i in (0, 1, 3, 4, 5)]
