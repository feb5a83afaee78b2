"""What the Monitor page shows of a run's API traffic, from its logged answers (storage.api_log.logged_answers).

Latency is counted per request (one figure for all the answers of a batch); the class mix and the share of
uncertain answers per answer.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class Traffic:
    requests: int
    answers: int
    p50_ms: float | None
    p95_ms: float | None
    uncertain_share: float | None  # answers below the run's operating point
    class_mix: pd.DataFrame  # columns: class, answers, share; most answered first
    over_time: pd.DataFrame  # per hour: time, requests, p50_ms, p95_ms


def traffic(log: pd.DataFrame) -> Traffic:
    if log.empty:
        empty_mix = pd.DataFrame(columns=["class", "answers", "share"])
        return Traffic(0, 0, None, None, None, empty_mix, pd.DataFrame(columns=["time", "requests", "p50_ms", "p95_ms"]))
    requests = log.drop_duplicates("request_id")  # one latency per request
    counts = log["label"].value_counts()
    mix = pd.DataFrame({"class": counts.index, "answers": counts.to_numpy(), "share": (counts / len(log)).to_numpy()})
    hourly = requests.assign(time=pd.to_datetime(requests["created_at"]).dt.floor("h")).groupby("time")["latency_ms"]
    over_time = pd.DataFrame({"requests": hourly.size(), "p50_ms": hourly.quantile(0.5),
                              "p95_ms": hourly.quantile(0.95)}).reset_index()
    return Traffic(len(requests), len(log), float(requests["latency_ms"].quantile(0.5)),
                   float(requests["latency_ms"].quantile(0.95)), float(log["uncertain"].astype(bool).mean()),
                   mix, over_time)
