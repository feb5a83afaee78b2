"""Continue training with and without replay: does replay keep a continued model from forgetting?

    HF_HUB_OFFLINE=1 .venv/bin/python -m bench.continual [--seed 42] [--replays 0,0.25] [--method head|lora]

The case a team meets: version 1 of SMS spam is mostly ham (600 ham, 150 spam); version 2 adds 450 spam messages and
no ham (the new batch holds mostly one class). A run on version 1 (--method: head only by default, the fastest on a
busy CPU; lora for the adapter case; the offline MiniLM, Quick, 64 tokens) is
continued on version 2 once per replay share, through `python -m core train --from-run`, in a fresh data folder.
Each continued run reports, on the same test rows, before (the version-1 run) and after: version 1's test rows alone
(forgetting) and the rows version 2 added. Results: bench/results/continual_<method>.json and a Markdown table on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from bench.common import ROOT, SMS, machine, machine_line


def _cli(home: Path, *args: str) -> dict:
    env = {**os.environ, "TUNEBOARD_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    env.pop("DATABASE_URL", None)
    done = subprocess.run([sys.executable, "-m", "core", "train", "--json", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    return json.loads(done.stdout)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--replays", default="0,0.25")
    parser.add_argument("--method", default="head")
    parser.add_argument("--sizes", default="600,150,450", help="ham and spam in version 1, spam added in version 2")
    args = parser.parse_args()
    sms = pd.read_csv(SMS, sep="\t")
    sms.columns = ["label", "text"]
    ham, spam = sms[sms["label"] == "ham"].sample(frac=1, random_state=0), sms[sms["label"] == "spam"].sample(
        frac=1, random_state=0)
    with tempfile.TemporaryDirectory(prefix="bench-continual-") as folder:
        folder = Path(folder)
        n_ham, n_spam, n_more = (int(n) for n in args.sizes.split(","))
        v1 = pd.concat([ham.iloc[:n_ham], spam.iloc[:n_spam]])[["text", "label"]]
        more = spam.iloc[n_spam:n_spam + n_more][["text", "label"]]
        v1.to_csv(folder / "v1.csv", index=False)
        more.to_csv(folder / "v2_spam.csv", index=False)
        home = folder / "home"
        started = time.perf_counter()
        parent = _cli(home, "--data", str(folder / "v1.csv"), "--method", args.method, "--max-length", "64",
                      "--seed", str(args.seed))
        rows = [{"run": f"v1 ({args.method})", "replay": "", "trained rows": parent["training"].get("steps"),
                 "seconds": parent["train_seconds"], "v1 test acc": parent["metrics"]["accuracy"]}]
        version = None
        results = {"parent": parent, "continued": {}}
        for share in [float(s) for s in args.replays.split(",")]:
            data = ["--dataset", str(version)] if version else ["--data", str(folder / "v2_spam.csv")]
            run = _cli(home, "--from-run", str(parent["run_id"]), *data, "--replay", str(share))
            version = run["dataset"]["id"]
            results["continued"][str(share)] = run
            sets, trained = run["continual"]["sets"], run["continual"]["trained_on"]
            rows.append({"run": "continued on v2", "replay": f"{share:g}",
                         "trained rows": f"{trained['changed']} new + {trained['replayed']} replayed",
                         "seconds": run["train_seconds"],
                         "v1 test rows: before -> after": _pair(sets["old"]),
                         "added test rows: before -> after": _pair(sets["added"]),
                         "v2 test set: before -> after": _pair(sets["all"]),
                         "ham recall after": run["metrics"]["per_class"]["ham"]["recall"]})
        results["wall_seconds"] = time.perf_counter() - started
    results["machine"] = machine_line(machine())
    results["load_average"] = os.getloadavg()
    out = ROOT / "bench" / "results" / f"continual_{args.method}.json"
    out.write_text(json.dumps(results, indent=2, default=str))
    columns = list(dict.fromkeys(k for row in rows for k in row))
    print("| " + " | ".join(columns) + " |\n|" + "---|" * len(columns))
    for row in rows:
        print("| " + " | ".join(str(row.get(c, "")) for c in columns) + " |")
    print(f"\n{results['machine']}; load average {results['load_average']}; {results['wall_seconds']:.0f} s in all")
    return 0


def _pair(figures: dict) -> str:
    b, a = figures["before"], figures["after"]
    return (f"{b['accuracy']:.1%} [{b['low']:.1%}, {b['high']:.1%}] -> {a['accuracy']:.1%} "
            f"[{a['low']:.1%}, {a['high']:.1%}] (n={figures['examples']})")


if __name__ == "__main__":
    raise SystemExit(main())
