"""Near-copies: test examples that are nearly training examples (the test then measures memory, not skill), and
groups of nearly identical training examples that carry different labels (at least one label is wrong, or the
classes cannot be told apart from the input).

"Nearly" is the cosine similarity of two examples' embeddings at or above a threshold (NEAR_COPY_THRESHOLD unless
the caller says otherwise). Exact and whitespace-only duplicates never get here: ingestion removes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# Cosine similarity of two embeddings (core.training.data_review: mean-pooled text encoder output, or the image
# model's pooled features) from which two examples count as near-copies. On SMS spam with the offline MiniLM
# (bench/label_issues.py, docs/BENCHMARKS.md): 0.80 found 37 of 40 planted paraphrase-like copies (words respelled,
# dropped and swapped) and flagged 44 of 516 test rows of the untouched split, most of them real near-copies (one
# spam template with other numbers, "Ok.." and "Ok..."); 0.85 found 29, 0.90 21, 0.95 only 9. Different messages on
# one subject ("Sorry, I'll call later" / "i can call in ... min") start to appear from about 0.85 down.
NEAR_COPY_THRESHOLD = 0.8
CHUNK = 1024  # rows compared at once: (CHUNK, N) similarities in memory


@dataclass(frozen=True)
class NearCopy:
    test_position: int  # index into the test embeddings
    train_position: int  # index into the training embeddings: the most similar one
    similarity: float


@dataclass(frozen=True)
class ConflictGroup:
    positions: list[int] = field(default_factory=list)  # indices into the training embeddings, 2 or more
    labels: list[int] = field(default_factory=list)  # their class ids, in the same order
    similarity: float = 0.0  # the lowest similarity of the pairs that joined the group


def unit_rows(embeddings: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1 (a zero row stays zero), so a dot product is the cosine."""
    x = np.asarray(embeddings, dtype=np.float32).reshape(len(embeddings), -1)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms > 0, norms, 1.0)


def near_copies(train: np.ndarray, test: np.ndarray, threshold: float = NEAR_COPY_THRESHOLD) -> list[NearCopy]:
    """Each test example whose most similar training example is at or above `threshold`, most similar first."""
    if not len(train) or not len(test):
        return []
    train, test = unit_rows(train), unit_rows(test)
    found = []
    for start in range(0, len(test), CHUNK):
        similarity = test[start:start + CHUNK] @ train.T  # (chunk, N_train)
        best = similarity.argmax(axis=1)
        best_similarity = similarity[np.arange(len(best)), best]
        for offset in np.flatnonzero(best_similarity >= threshold):
            found.append(NearCopy(start + int(offset), int(best[offset]), float(best_similarity[offset])))
    return sorted(found, key=lambda c: (-c.similarity, c.test_position))


def conflicting_groups(embeddings: np.ndarray, labels: np.ndarray,
                       threshold: float = NEAR_COPY_THRESHOLD) -> list[ConflictGroup]:
    """Groups of examples linked by similarities at or above `threshold` (single linkage) whose labels differ,
    largest first."""
    x, labels = unit_rows(embeddings), np.asarray(labels)
    parent = list(range(len(x)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    weakest: dict[int, float] = {}
    for start in range(0, len(x), CHUNK):
        similarity = x[start:start + CHUNK] @ x.T
        rows, columns = np.nonzero(similarity >= threshold)
        for row, column in zip(rows + start, columns):
            if column <= row:  # each pair once, never an example with itself
                continue
            a, b = root(int(row)), root(int(column))
            link = float(similarity[row - start, column])
            if a != b:
                parent[b] = a
                weakest[a] = min(weakest.pop(a, 1.0), weakest.pop(b, 1.0), link)
    members: dict[int, list[int]] = {}
    for i in range(len(x)):
        members.setdefault(root(i), []).append(i)
    groups = [ConflictGroup(m, [int(labels[i]) for i in m], weakest.get(r, 1.0))
              for r, m in members.items() if len(m) > 1 and len(set(labels[m].tolist())) > 1]
    return sorted(groups, key=lambda g: (-len(g.positions), g.positions[0]))
