"""Start a run that asked for several devices (RunConfig.devices) as that many training processes, through torchrun
(`torch.distributed.run`, in this process): `python -m core.jobs.distributed_launch RUN_ID --worker-id W ...`, started
by the worker in place of `core.jobs.runner` (same arguments). Each process runs `core.jobs.runner`, which sees
torchrun's RANK and trains its share (core/training/distributed.py); the main one records the run.

When the run cannot use several processes (core.training.distributed.processes_for says why: head only, few-shot,
cross-validation, too few GPUs) it trains in this one process, as a plain runner would, and its log says why.
This process dies with the worker (as a runner does), and torchrun's processes die with it.
"""

from __future__ import annotations

import argparse
import sys

from core.jobs import runner
from core.run_config import RunConfig
from storage.paths import run_files
from storage.runs import get_run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.jobs.distributed_launch",
                                     description="Train one claimed run on several processes (started by the worker).")
    parser.add_argument("run_id", type=int)
    parser.add_argument("--worker-id", required=True)
    parser.add_argument("--parent-pid", type=int, default=None)
    parser.add_argument("--train-fn", default=runner.DEFAULT_TRAIN_FN)
    args = parser.parse_args(argv)
    if args.parent_pid is not None:
        runner.die_with_parent(args.parent_pid)
    from core.training.distributed import processes_for

    run = get_run(args.run_id)
    processes, why = processes_for(RunConfig.from_dict(run.config)) if run is not None else (1, "")
    common = [str(args.run_id), "--worker-id", args.worker_id, "--train-fn", args.train_fn]
    if processes == 1:
        if why:
            with run_files(args.run_id).log.open("a", encoding="utf-8") as log:
                log.write(f"Training in one process: {why}.\n")
        return runner.main(common + (["--parent-pid", str(args.parent_pid)] if args.parent_pid else []))
    from torch.distributed.run import main as torchrun

    # --standalone: a rendezvous on this machine only, on a free port; the worker's GPU choice (CUDA_VISIBLE_DEVICES)
    # is inherited by every process.
    torchrun(["--standalone", f"--nproc_per_node={processes}", "-m", "core.jobs.runner", *common])
    return 0


if __name__ == "__main__":
    sys.exit(main())
