"""The Data page's review of a stored dataset: likely label errors to keep, relabel or drop (one by one, or every
suggestion above a score at once), test examples that are near-copies of training examples (to drop from the test
split), and near-identical training examples with different labels. The fixes are saved as the dataset's next
version (core.datasets.fixes), so runs on the old version stay as they were.

Widgets -> core.training.data_review.review_dataset (once per dataset, kept in session state) -> the fixes chosen
(session state: row -> action) -> core.datasets.fixes.save_fixes -> a link to train on the fixed version.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd
import streamlit as st

from core.datasets.fixes import NOTE, Fixes, FixError, save_fixes
from core.datasets.store import dataset_dir
from core.datasets.versions import version_name
from core.evaluation.near_duplicates import NEAR_COPY_THRESHOLD
from pages.shared.errors import error_ui
from pages.shared.user_text import md, short
from storage.datasets import get_dataset

if TYPE_CHECKING:
    from storage.models import Dataset

KEEP, RELABEL, DROP = "keep", "relabel", "drop"
SHOWN = 500  # the most doubted rows listed (the score slider still reaches every flagged row)
IMAGES_SHOWN = 12
DEFAULT_ACCEPT_SCORE = 0.9


def _state(dataset_id: int) -> dict:
    """This dataset's review, the actions chosen (row -> (action, label)) and the editor's version."""
    return st.session_state.setdefault(f"review_{dataset_id}", {"review": None, "actions": {}, "version": 0})


def _accept(dataset_id: int, score: float, keep_test: bool) -> None:
    """Button callback: every suggestion scoring at least `score` becomes a relabel (test rows only if allowed)."""
    state = _state(dataset_id)
    for issue in state["review"].issues:
        if issue.score >= score and not (keep_test and issue.split == "test"):
            state["actions"][issue.row] = (RELABEL, issue.suggested)
    state["version"] += 1  # a fresh editor shows the new choices


def _issues_ui(dataset: Dataset, state: dict) -> None:
    review = state["review"]
    st.markdown(f"**Likely label errors** · {len(review.issues):,} of {review.examples:,} examples have a label the "
                "model doubts.")
    st.caption("Each example was predicted by a model that never saw it (5 folds of the fast head-only model); the "
               "score is how strongly that model doubts the given label (0 to 1), the suggestion is its answer. "
               "Keep the label, relabel it or drop the example.")
    if not review.issues:
        return
    left, middle, right = st.columns([2, 2, 1], vertical_alignment="bottom")
    score = left.slider("Accept every suggestion scoring at least", 0.5, 1.0, DEFAULT_ACCEPT_SCORE, 0.01,
                        key=f"review_accept_score_{dataset.id}",
                        help="Relabels every listed example at or above this score with the suggested class.")
    keep_test = middle.checkbox("Leave the test split as it is", value=True, key=f"review_keep_test_{dataset.id}",
                                help="Runs before and after the fixes are then judged on the same test examples.")
    count = sum(i.score >= score and not (keep_test and i.split == "test") for i in review.issues)
    right.button(f"Accept {count:,}", key=f"review_accept_{dataset.id}", on_click=_accept,
                 args=(dataset.id, score, keep_test), disabled=not count)
    shown = review.issues[:SHOWN]
    actions = state["actions"]
    table = pd.DataFrame({
        "row": [i.source for i in shown], "split": [i.split for i in shown],
        "example": [short(i.input, 300) for i in shown], "given": [i.given for i in shown],
        "suggested": [i.suggested for i in shown], "score": [i.score for i in shown],
        "action": [actions.get(i.row, (KEEP, i.suggested))[0] for i in shown],
        "new label": [actions.get(i.row, (KEEP, i.suggested))[1] for i in shown],
    })
    edited = st.data_editor(
        table, key=f"review_issues_{dataset.id}_{state['version']}", hide_index=True, num_rows="fixed",
        disabled=["row", "split", "example", "given", "suggested", "score"],
        column_config={
            "action": st.column_config.SelectboxColumn("action", options=[KEEP, RELABEL, DROP], required=True),
            "new label": st.column_config.SelectboxColumn("new label", options=dataset.labels, required=True,
                                                          help="The class a relabelled example gets."),
            "score": st.column_config.ProgressColumn("score", min_value=0.0, max_value=1.0, format="%.2f"),
        })
    for issue, action, label in zip(shown, edited["action"], edited["new label"]):
        if action == KEEP:
            actions.pop(issue.row, None)
        else:
            actions[issue.row] = (action, label)
    if dataset.task == "image":
        folder = dataset_dir(dataset)
        st.image([str(folder / i.input) for i in shown[:IMAGES_SHOWN]], width=96,
                 caption=[md(f"{i.given} → {i.suggested} ({i.score:.2f})") for i in shown[:IMAGES_SHOWN]])


def _near_copies_ui(dataset: Dataset, state: dict) -> bool:
    """The pairs, and whether the user drops the test copies."""
    review = state["review"]
    st.markdown(f"**Near-copies across the split** · {len(review.near_copies):,} of {review.test_examples:,} test "
                f"examples are near-copies of a training example (embedding cosine similarity at least "
                f"{review.threshold:.2f}).")
    if not review.near_copies:
        return False
    st.caption("A test example the model has nearly seen in training measures memory, not skill: the test "
               "accuracy looks better than it is.")
    st.dataframe(pd.DataFrame({
        "similarity": [c.similarity for c in review.near_copies],
        "test example": [short(c.test_input, 200) for c in review.near_copies],
        "training example": [short(c.train_input, 200) for c in review.near_copies],
        "test label": [c.test_label for c in review.near_copies],
        "training label": [c.train_label for c in review.near_copies],
    }), hide_index=True, key=f"review_near_copies_{dataset.id}")
    return st.checkbox(f"Drop these {len(review.near_copies):,} examples from the test split",
                       key=f"review_drop_copies_{dataset.id}",
                       help="They leave the dataset; the training examples they copy stay.")


def _conflicts_ui(dataset: Dataset, state: dict) -> None:
    conflicts = state["review"].conflicts
    st.markdown(f"**Near-identical training examples with different labels** · {len(conflicts):,} groups.")
    if not conflicts:
        return
    st.caption("At least one label in each group is probably wrong, or the classes cannot be told apart from "
               "these inputs; relabel or drop them above if they are listed there.")
    st.dataframe(pd.DataFrame({
        "examples": [" | ".join(short(text, 120) for text in c.inputs) for c in conflicts],
        "labels": [" | ".join(c.labels) for c in conflicts],
        "similarity": [c.similarity for c in conflicts],
    }), hide_index=True, key=f"review_conflicts_{dataset.id}")


def _save_ui(dataset: Dataset, state: dict, drop_copies: bool) -> None:
    actions = state["actions"]
    fixes = Fixes(relabel={row: label for row, (action, label) in actions.items() if action == RELABEL},
                  drop={row for row, (action, _) in actions.items() if action == DROP})
    if drop_copies:
        fixes.drop |= {c.test_row for c in state["review"].near_copies}
    st.markdown(f"**Your fixes** · {len(fixes.relabel):,} to relabel, {len(fixes.drop):,} to drop.")
    note = st.text_input("Note for the new version", value=NOTE, key=f"review_name_{dataset.id}",
                         help="The fixes are saved as the dataset's next version, listed with this note under "
                         "Versions; the version you reviewed and its runs stay as they were.")
    if st.button("Save the fixes as a new version", key=f"review_save_{dataset.id}", type="primary",
                 disabled=not fixes):
        try:
            with st.spinner("Saving the fixed version…"):
                new_id = save_fixes(dataset.id, fixes, note)
                from core.training.head_folds import carry_features  # torch: only when saving

                carry_features(dataset_dir(dataset), dataset_dir(get_dataset(new_id)), fixes.drop, dataset.labels,
                               dataset.task, state["review"].model)
            state["saved"] = new_id
            st.rerun()  # the stored datasets above list the new one
        except FixError as error:
            error_ui(str(error), key=f"review_save_error_{dataset.id}")
    if state.get("saved"):
        saved = get_dataset(state["saved"])
        st.success(f"Saved as {version_name(saved)} (dataset #{saved.id}). Train the same model on it and compare "
                   "the test results with the run on the version you reviewed.")
        st.page_link("pages/train.py", label="Train a model on the fixed version", icon=":material/model_training:",
                     query_params={"dataset": str(state["saved"])})


def data_review_ui(dataset: Dataset) -> None:
    state = _state(dataset.id)
    if state["review"] is None:
        st.caption("Tuneboard predicts every example with a model that never saw it and compares examples by "
                   "meaning: seconds once the fast head-only model has read the dataset, otherwise the model first "
                   "reads every example once (minutes for thousands).")
        if not st.button("Look for label errors and near-copies", key=f"review_go_{dataset.id}",
                         icon=":material/troubleshoot:"):
            return
        from core.training.data_review import review_dataset  # torch: only when asked

        with st.spinner("Predicting every example out of fold and comparing examples…"):
            state["review"] = review_dataset(dataset_dir(dataset), dataset.labels, dataset.task,
                                             threshold=NEAR_COPY_THRESHOLD)
    st.caption(f"Reviewed with {md(state['review'].model)} in {state['review'].seconds:.0f} s.")
    _issues_ui(dataset, state)
    drop_copies = _near_copies_ui(dataset, state)
    _conflicts_ui(dataset, state)
    _save_ui(dataset, state, drop_copies)
