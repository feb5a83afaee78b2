"""What the Monitor page shows of the API's traffic, from its logged answers (storage.api_log): per run, and per
named endpoint comparing its champion and challenger.

Latency is counted per request (one figure for all the answers of a batch); the class mix, the share of uncertain
answers and live accuracy per answer. Live accuracy counts the answers whose true label was sent back
(POST /v1/feedback), with a Wilson interval: a handful of labels says little, and the interval shows how little.

Drift compares the mix of classes the run answered with the mix of its training split, as a total variation
distance: the share of answers that would have to change class for the two mixes to match (0: the same mix; 1: no
class in common). It is the model's answers that are counted, not the truth, so a rise means either that the inputs
changed or that the model answers them differently; live accuracy tells the two apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from core.datasets.files import read_examples
from core.evaluation.verdict import Interval, accuracy_interval

OVER_TIME_COLUMNS = ["time", "requests", "p50_ms", "p95_ms", "uncertain_share"]


@dataclass(frozen=True)
class LiveAccuracy:
    correct: int
    labelled: int  # answers with a true label sent back
    interval: Interval  # the accuracy and its 95% Wilson interval


@dataclass(frozen=True)
class Traffic:
    requests: int
    answers: int
    p50_ms: float | None
    p95_ms: float | None
    uncertain_share: float | None  # answers below the run's operating point
    class_mix: pd.DataFrame  # columns: class, answers, share; most answered first
    over_time: pd.DataFrame  # per hour: time, requests, p50_ms, p95_ms, uncertain_share
    accuracy: LiveAccuracy | None  # None: no true label sent back yet


@dataclass(frozen=True)
class Drift:
    score: float  # total variation distance between the answered and the training class mix, 0..1
    mix: pd.DataFrame  # columns: class, answered, training (shares); every class of either

    def sentence(self) -> str:
        return (f"{self.score:.0%} of the answers would have to change class for the answers' class mix to match the "
                "training data's.")


def live_accuracy(log: pd.DataFrame) -> LiveAccuracy | None:
    labelled = log[log["true_label"].notna()] if "true_label" in log else log.iloc[:0]
    if labelled.empty:
        return None
    correct = int((labelled["label"] == labelled["true_label"]).sum())
    return LiveAccuracy(correct, len(labelled), accuracy_interval(correct, len(labelled)))


def traffic(log: pd.DataFrame) -> Traffic:
    if log.empty:
        empty_mix = pd.DataFrame(columns=["class", "answers", "share"])
        return Traffic(0, 0, None, None, None, empty_mix, pd.DataFrame(columns=OVER_TIME_COLUMNS), None)
    requests = log.drop_duplicates("request_id").astype({"latency_ms": float})  # one latency per request
    counts = log["label"].value_counts()
    mix = pd.DataFrame({"class": counts.index, "answers": counts.to_numpy(), "share": (counts / len(log)).to_numpy()})
    hourly = requests.assign(time=pd.to_datetime(requests["created_at"]).dt.floor("h")).groupby("time")["latency_ms"]
    uncertain = log.assign(time=pd.to_datetime(log["created_at"]).dt.floor("h"),
                           uncertain=log["uncertain"].astype(bool)).groupby("time")["uncertain"].mean()
    over_time = pd.DataFrame({"requests": hourly.size(), "p50_ms": hourly.quantile(0.5),
                              "p95_ms": hourly.quantile(0.95), "uncertain_share": uncertain}).reset_index()
    return Traffic(len(requests), len(log), float(requests["latency_ms"].quantile(0.5)),
                   float(requests["latency_ms"].quantile(0.95)), float(log["uncertain"].astype(bool).mean()),
                   mix, over_time, live_accuracy(log))


def training_mix(dataset_dir: Path) -> pd.Series:
    """Each class's share of the training split (class -> share), from the stored dataset's examples."""
    examples = read_examples(Path(dataset_dir))
    return examples.loc[examples["split"] == "train", "label"].value_counts(normalize=True)


def drift(class_mix: pd.DataFrame, training: pd.Series) -> Drift | None:
    """The answered class mix (Traffic.class_mix) against the training mix; None when either is empty."""
    if class_mix.empty or training.empty:
        return None
    answered = pd.Series(class_mix["share"].to_numpy(), index=class_mix["class"].to_numpy(), dtype=float)
    classes = list(dict.fromkeys([*training.index, *answered.index]))
    both = pd.DataFrame({"class": classes, "answered": answered.reindex(classes, fill_value=0.0).to_numpy(),
                         "training": training.reindex(classes, fill_value=0.0).to_numpy()})
    score = 0.5 * float((both["answered"] - both["training"]).abs().sum())
    return Drift(min(1.0, max(0.0, score)), both)


# --- Champion and challenger on one endpoint ---------------------------------------------------------------------


@dataclass(frozen=True)
class RunFigures:
    run_id: int
    role: str  # "champion" | "challenger": its role now
    requests: int
    p50_ms: float | None
    p95_ms: float | None
    accuracy: LiveAccuracy | None


@dataclass(frozen=True)
class Comparison:
    runs: list[RunFigures]  # champion first: each run's answers through the endpoint (shadow answers included)
    shadowed: int  # answers both runs gave (shadowed requests)
    agreement: float | None  # the share of those where both gave the same label; None: none shadowed

    def table(self) -> pd.DataFrame:
        """One row per run, as the Monitor page shows it."""
        return pd.DataFrame([{
            "role": f.role, "run": f"#{f.run_id}", "requests": f.requests, "p50 ms": f.p50_ms, "p95 ms": f.p95_ms,
            "accuracy on feedback": f.accuracy.interval.value if f.accuracy else None,
            "95% interval": (f"{f.accuracy.interval.low:.0%} to {f.accuracy.interval.high:.0%}" if f.accuracy
                             else ""),
            "answers with feedback": f.accuracy.labelled if f.accuracy else 0} for f in self.runs])


def compare(log: pd.DataFrame, roles: dict[int, str]) -> Comparison:
    """Champion against challenger on an endpoint's log (storage.api_log.endpoint_answers); `roles`: run id -> its
    role now. Counted by run, not by the role logged, so each run keeps its figures when a promotion swaps roles."""
    figures = []
    for run_id, role in roles.items():
        seen = traffic(log[log["run_id"] == run_id] if not log.empty else log)
        figures.append(RunFigures(run_id, role, seen.requests, seen.p50_ms, seen.p95_ms, seen.accuracy))
    both = log[log["run_id"].isin(list(roles))] if not log.empty else log
    pairs = both.groupby(["request_id", "answer_index"])["label"].agg(["nunique", "size"]) if not both.empty else None
    if pairs is None or not (shadowed := pairs[pairs["size"] == 2]).shape[0]:
        return Comparison(figures, 0, None)
    return Comparison(figures, len(shadowed), float((shadowed["nunique"] == 1).mean()))
