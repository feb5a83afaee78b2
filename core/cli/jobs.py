"""`python -m core worker | runs | cancel RUN_ID | resume RUN_ID` — the job queue from the command line."""

from __future__ import annotations

import argparse
import json
import sys

from storage.run_requests import JobError, request_cancel, request_resume
from storage.runs import list_runs
from storage.workers import alive_workers


def add_arguments(parser: argparse.ArgumentParser, command: str) -> None:
    if command == "worker":
        parser.add_argument("--concurrency", type=int, default=None,
                            help="Runs at a time (default: one per GPU, or one on a CPU-only machine).")
        parser.add_argument("--once", action="store_true", help="Exit when the queue is empty and its runs ended.")
        parser.add_argument("--poll-seconds", type=float, default=1.0, help="How often an idle worker checks the queue.")
        parser.add_argument("--heartbeat-timeout", type=float, default=None, metavar="SECONDS",
                            help="A run on another machine whose worker has been silent this long is marked interrupted "
                                 "(and resumed, if set to resume automatically); default 60.")
        parser.add_argument("--stop-with", default=None, metavar="PROCESS",
                            help="Stop when this process (host:pid:start, as the app passes its own) has stopped.")
    elif command == "runs":
        parser.add_argument("--json", action="store_true", help="Print a JSON list instead of a table.")
        parser.add_argument("--limit", type=int, default=50, help="Show at most this many, newest first.")
    else:  # cancel, resume
        parser.add_argument("run_id", type=int, metavar="RUN_ID")


def main(args: argparse.Namespace) -> int:
    return {"worker": _worker, "runs": _runs, "cancel": _cancel, "resume": _resume}[args.command](args)


def _worker(args: argparse.Namespace) -> int:
    from core.jobs.worker import WorkerSettings, run_worker

    if args.concurrency is not None and args.concurrency < 1:
        print("--concurrency must be at least 1.", file=sys.stderr)
        return 2
    settings = WorkerSettings(concurrency=args.concurrency, once=args.once, poll_seconds=args.poll_seconds,
                              stop_with=args.stop_with)
    if args.heartbeat_timeout is not None:
        if args.heartbeat_timeout <= 2 * settings.heartbeat_seconds:
            print(f"--heartbeat-timeout must be more than {2 * settings.heartbeat_seconds:g} seconds (two heartbeats).",
                  file=sys.stderr)
            return 2
        settings.heartbeat_timeout_seconds = args.heartbeat_timeout
    return run_worker(settings)


def run_summary(run) -> dict:
    """One run as plain values (the `runs --json` row)."""
    config = run.config or {}
    return {
        "run_id": run.id, "status": run.status, "progress": round(run.progress or 0.0, 4),
        "dataset": run.dataset.name if run.dataset else "", "model": config.get("model"),
        "method": config.get("method"), "preset": config.get("preset"), "epoch": run.epoch, "step": run.step,
        "total_steps": run.total_steps, "eta_seconds": run.eta_seconds, "message": run.message, "error": run.error,
        "accuracy": (run.metrics or {}).get("accuracy"), "macro_f1": (run.metrics or {}).get("macro_f1"),
        "created_at": run.created_at.isoformat(timespec="seconds") if run.created_at else None,
    }


def _runs(args: argparse.Namespace) -> int:
    rows = [run_summary(r) for r in list_runs(limit=args.limit)]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("No runs yet. Queue one with `python -m core train --data PATH --background`.")
        return 0
    print(f"{'id':>5}  {'status':<11} {'progress':>8}  {'eta':>7}  {'method':<7} {'model':<24} {'accuracy':>8}  dataset")
    for r in rows:
        eta = f"{r['eta_seconds']:.0f}s" if r["eta_seconds"] is not None and r["status"] == "running" else ""
        accuracy = f"{r['accuracy']:.3f}" if isinstance(r["accuracy"], (int, float)) else ""
        print(f"{r['run_id']:>5}  {r['status']:<11} {100 * r['progress']:>7.0f}%  {eta:>7}  {r['method'] or '':<7} "
              f"{str(r['model'] or '')[:24]:<24} {accuracy:>8}  {r['dataset']}")
    return 0


def _cancel(args: argparse.Namespace) -> int:
    try:
        status = request_cancel(args.run_id)
    except JobError as error:
        print(error, file=sys.stderr)
        return 1
    if status == "cancelled":
        print(f"Run {args.run_id} was still queued and is now cancelled.")
    else:
        print(f"Run {args.run_id}: cancel requested; its worker stops it within seconds.")
    return 0


def _resume(args: argparse.Namespace) -> int:
    try:
        request_resume(args.run_id)
    except JobError as error:
        print(error, file=sys.stderr)
        return 1
    print(f"Run {args.run_id} will resume from its last checkpoint.")
    if not alive_workers():
        print("No worker is running: start one with `python -m core worker`.", file=sys.stderr)
    return 0
