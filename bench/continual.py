"""Continue training with and without replay: does replay keep a continued model from forgetting?

    HF_HUB_OFFLINE=1 .venv/bin/python -m bench --only continual            # 3 seeds, head only
    HF_HUB_OFFLINE=1 .venv/bin/python -m bench.continual [--seeds 0,1,2] [--replays 0,0.25] [--method head|lora]

The case a team meets: version 1 of SMS spam is mostly ham (3,000 ham, 300 spam); version 2 adds the other 447
spam messages and no ham (the new batch holds one class). A run on version 1 (--method: head only by default, the
fastest on a CPU; the offline MiniLM, Quick, 64 tokens) is continued on version 2 once per replay share, through
`python -m core train --from-run`, in a fresh data folder. Each continued run reports, on the same rows, before (the
version-1 run) and after: version 1's test rows alone (forgetting) and the rows version 2 added. Each seed draws other
messages for the two versions and trains with another seed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from bench.common import ROOT, markdown_table, read_sms

SIZES = (3000, 300)  # ham and spam in version 1; version 2 adds every other spam message
QUICK_SIZES = (600, 150)


def _cli(home: Path, *args: str) -> dict:
    env = {**os.environ, "TUNEBOARD_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    env.pop("DATABASE_URL", None)
    done = subprocess.run([sys.executable, "-m", "core", "train", "--json", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    return json.loads(done.stdout)


def one_seed(method: str, seed: int, sizes: tuple[int, int], replays: list[float]) -> dict[str, Any]:
    """Version 1, its run, and one continued run per replay share; the figures on version 1's test rows."""
    sms = read_sms().rename(columns={"Label": "label", "SMS": "text"})
    ham = sms[sms["label"] == "ham"].sample(frac=1, random_state=seed)
    spam = sms[sms["label"] == "spam"].sample(frac=1, random_state=seed)
    n_ham, n_spam = sizes
    with tempfile.TemporaryDirectory(prefix="bench-continual-") as folder:
        folder = Path(folder)
        pd.concat([ham.iloc[:n_ham], spam.iloc[:n_spam]])[["text", "label"]].to_csv(folder / "v1.csv", index=False)
        spam.iloc[n_spam:][["text", "label"]].to_csv(folder / "v2_spam.csv", index=False)
        home = folder / "home"
        parent = _cli(home, "--data", str(folder / "v1.csv"), "--method", method, "--max-length", "64",
                      "--seed", str(seed))
        result: dict[str, Any] = {"seed": seed, "parent_accuracy": parent["metrics"]["accuracy"],
                                  "parent_seconds": parent["train_seconds"], "continued": {}}
        version = None
        for share in replays:
            data = ["--dataset", str(version)] if version else ["--data", str(folder / "v2_spam.csv")]
            run = _cli(home, "--from-run", str(parent["run_id"]), *data, "--replay", str(share))
            version = run["dataset"]["id"]
            sets, trained = run["continual"]["sets"], run["continual"]["trained_on"]
            result["continued"][f"{share:g}"] = {
                "old": sets["old"], "added": sets["added"], "new_rows": trained["changed"],
                "replayed": trained["replayed"], "seconds": run["train_seconds"],
                "ham_recall": run["metrics"]["per_class"]["ham"]["recall"]}
    return result


def measure(method: str, seeds: list[int], sizes: tuple[int, int], replays: list[float]) -> dict[str, Any]:
    return {"method": method, "sizes": list(sizes), "replays": replays,
            "seeds": [one_seed(method, seed, sizes, replays) for seed in seeds]}


def run(quick: bool) -> dict[str, Any]:
    if quick:
        return measure("head", [0], QUICK_SIZES, [0.0, 0.25])
    return measure("head", [0, 1, 2], SIZES, [0.0, 0.25])


def _side(side: dict) -> str:
    return f"{side['accuracy']:.1%} [{side['low']:.1%}, {side['high']:.1%}]"


def table(result: dict[str, Any]) -> str:
    n_ham, n_spam = result["sizes"]
    rows, drops = [], {}
    for seed in result["seeds"]:
        for share, c in seed["continued"].items():
            old = c["old"]
            drop = 100 * (old["after"]["accuracy"] - old["before"]["accuracy"])
            drops.setdefault(share, []).append(drop)
            rows.append([seed["seed"], share, f"{c['new_rows']} new + {c['replayed']} replayed", old["examples"],
                         _side(old["before"]), _side(old["after"]), f"{drop:+.1f}",
                         f"{old['p_worse']:.2g}", f"{c['ham_recall']:.1%}", _side(c["added"]["after"]),
                         f"{c['seconds']:.0f}"])
    text = (f"Version 1: {n_ham:,} ham and {n_spam:,} spam; version 2 adds the other spam messages only. Method: "
            f"{result['method']}, Quick, MiniLM, 64 tokens. Before = the version-1 run's answers, after = the "
            "continued run's, on the same rows (95% Wilson intervals; p: McNemar's exact test that it got worse).\n\n")
    text += markdown_table(["seed", "replay", "trained on", "v1 test rows", "v1 rows before", "v1 rows after",
                            "change (points)", "p (worse)", "ham recall after", "added test rows after", "train s"],
                           rows)
    text += "\n\n" + markdown_table(
        ["replay", "seeds", "change on v1's test rows, mean (points)", "lowest", "highest"],
        [[share, len(values), f"{statistics.mean(values):+.1f}", f"{min(values):+.1f}", f"{max(values):+.1f}"]
         for share, values in drops.items()])
    return text


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--replays", default="0,0.25")
    parser.add_argument("--method", default="head")
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="ham and spam in version 1")
    args = parser.parse_args()
    sizes = tuple(int(n) for n in args.sizes.split(","))
    result = measure(args.method, [int(s) for s in args.seeds.split(",")], sizes,
                     [float(s) for s in args.replays.split(",")])
    out = ROOT / "bench" / "results" / f"continual_{args.method}.json"
    out.write_text(json.dumps(result, indent=2, default=str))
    print(table(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
