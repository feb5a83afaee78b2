"""What is wrong with a stored dataset: likely label errors, test examples that are near-copies of training
examples, and near-identical training examples with different labels. The Data page and
`python -m core label-issues` both ask `review_dataset`.

1) the head-only model's features of every example (core.training.head_folds: cached, or one backbone pass);
2) out-of-fold probabilities over all splits pooled (5 folds; every example predicted by a head that never saw it),
   then confident learning (core.evaluation.label_issues) ranks the examples whose label the model most doubts.
   Test examples are reviewed too: a wrong test label misjudges every run;
3) embeddings (core.training.features.embeddings: mean-pooled text encoder output, the image model's features),
   cosine similarity: test -> most similar training example, and groups inside training
   (core.evaluation.near_duplicates).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.catalog import DEFAULT_MODELS
from core.datasets.files import read_examples
from core.evaluation.label_issues import find_label_issues
from core.evaluation.near_duplicates import NEAR_COPY_THRESHOLD, conflicting_groups, near_copies
from core.training.head_folds import head_features, out_of_fold_probabilities
from core.training.progress import Reporter


@dataclass(frozen=True)
class LabelIssueRow:
    row: int  # row of examples.csv (0-based)
    split: str
    input: str  # the text, or the image's path inside the dataset folder
    source: str  # where it came from ("line 12", a file name)
    given: str
    suggested: str
    score: float  # 1 - out-of-fold p(given): how strongly the model doubts the label


@dataclass(frozen=True)
class NearCopyRow:
    test_row: int
    train_row: int
    similarity: float
    test_input: str
    train_input: str
    test_label: str
    train_label: str
    test_source: str
    train_source: str


@dataclass(frozen=True)
class ConflictRow:
    rows: list[int]
    inputs: list[str]
    labels: list[str]
    similarity: float


@dataclass
class DataReview:
    model: str
    threshold: float
    issues: list[LabelIssueRow] = field(default_factory=list)  # most doubted first
    near_copies: list[NearCopyRow] = field(default_factory=list)  # most similar first
    conflicts: list[ConflictRow] = field(default_factory=list)
    examples: int = 0
    test_examples: int = 0
    seconds: float = 0.0
    feature_seconds: float = 0.0  # of `seconds`: reading or extracting the features


def review_dataset(dataset_dir: Path, labels: list[str], task: str, model: str | None = None,
                   threshold: float = NEAR_COPY_THRESHOLD, reporter: Reporter | None = None) -> DataReview:
    start = time.perf_counter()
    dataset_dir, model = Path(dataset_dir), model or DEFAULT_MODELS[task]
    frame = read_examples(dataset_dir)
    # 1) features and embeddings
    head = head_features(dataset_dir, labels, task, model, reporter)
    feature_seconds = time.perf_counter() - start
    # 2) label issues, all splits pooled
    x, y, rows = head.pooled()
    probabilities = out_of_fold_probabilities(x, y, len(labels))
    issues = [LabelIssueRow(int(rows[i.position]), frame.at[int(rows[i.position]), "split"],
                            frame.at[int(rows[i.position]), "input"], frame.at[int(rows[i.position]), "source"],
                            labels[i.given], labels[i.suggested], round(i.score, 4))
              for i in find_label_issues(probabilities, y)]
    # 3) near-copies across the split, conflicting groups inside training
    train, test = head.splits["train"], head.splits["test"]
    copies = [NearCopyRow(test.example_index[c.test_position], train.example_index[c.train_position],
                          round(c.similarity, 4), test.inputs[c.test_position], train.inputs[c.train_position],
                          labels[test.labels[c.test_position]], labels[train.labels[c.train_position]],
                          frame.at[test.example_index[c.test_position], "source"],
                          frame.at[train.example_index[c.train_position], "source"])
              for c in near_copies(head.embeddings["train"], head.embeddings.get("test", np.zeros((0, 1))),
                                   threshold)]
    conflicts = [ConflictRow([train.example_index[p] for p in g.positions], [train.inputs[p] for p in g.positions],
                             [labels[label] for label in g.labels], round(g.similarity, 4))
                 for g in conflicting_groups(head.embeddings["train"], train.labels, threshold)]
    return DataReview(model, threshold, issues, copies, conflicts, examples=len(y), test_examples=len(test),
                      seconds=round(time.perf_counter() - start, 2), feature_seconds=round(feature_seconds, 2))
