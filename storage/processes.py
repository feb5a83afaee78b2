"""Naming a process so that others can tell whether it still lives: the identity a worker (or the CLI training
in-process) writes into the rows it owns, and the check that finds the dead ones."""

from __future__ import annotations

import os
import socket
from datetime import datetime

import psutil


def process_identity(pid: int | None = None) -> str:
    """`host:pid:start` — names a worker (or CLI) process and tells a dead one from a reused pid."""
    process = psutil.Process(pid or os.getpid())
    return f"{socket.gethostname()}:{process.pid}:{int(process.create_time())}"


def process_alive(identity: str) -> bool | None:
    """True / False for a process on this host; None when it runs elsewhere (only its heartbeat tells)."""
    try:
        host, pid, start = identity.rsplit(":", 2)
        pid_number, start_number = int(pid), int(start)
    except ValueError:
        return None
    if host != socket.gethostname():
        return None
    try:
        process = psutil.Process(pid_number)
        return int(process.create_time()) == start_number and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def owner_gone(identity: str, heartbeat_at: datetime | None, cutoff: datetime) -> bool:
    """Whether the process that owns a running row (run or export) is dead: gone from this host, or, elsewhere,
    silent since before `cutoff`."""
    alive = process_alive(identity)
    return alive is False or (alive is None and (heartbeat_at is None or heartbeat_at < cutoff))
