"""`python -m core serve [--host 127.0.0.1] [--port 8000] [--no-auth]`: the prediction API (core.api) on uvicorn.

Every request needs an API key from the app's API keys page. `--no-auth` is refused unless the server listens on a
loopback address (127.0.0.1, ::1, localhost): without keys, anyone who can reach the port could use the models.
"""

from __future__ import annotations

import argparse
import ipaddress
import sys

from core.api.limits import MAX_BODY_MB

LOOPBACK_NAMES = {"localhost"}


def add_arguments(parser: argparse.ArgumentParser, command: str) -> None:
    parser.add_argument("--host", default="127.0.0.1",
                        help="Address to listen on (default 127.0.0.1: this machine only; 0.0.0.0: every network).")
    parser.add_argument("--port", type=int, default=8000, help="Port to listen on (default 8000).")
    parser.add_argument("--no-auth", action="store_true",
                        help="Answer without an API key; only with a loopback --host such as 127.0.0.1.")
    parser.add_argument("--max-body-mb", type=float, default=MAX_BODY_MB, metavar="MB",
                        help=f"Largest request body taken, in MB (default {MAX_BODY_MB:g}).")
    parser.add_argument("--max-models", type=int, default=None, metavar="N",
                        help="Loaded models kept in memory between requests (least recently used out).")


def is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def main(args: argparse.Namespace) -> int:
    if args.no_auth and not is_loopback(args.host):
        print(f"--no-auth is refused with --host {args.host}: without keys anyone who can reach the port could use "
              "the models. Listen on 127.0.0.1 or drop --no-auth and create a key on the API keys page.",
              file=sys.stderr)
        return 2
    if not 0 < args.max_body_mb <= 1024:
        print("--max-body-mb must be more than 0 and at most 1024.", file=sys.stderr)
        return 2
    import uvicorn  # here: `python -m core serve --help` need not import the server

    from core.api.app import ApiSettings, create_app
    from core.api.limits import ApiLimits
    from core.ingest.limits import MB
    from storage.db import init_db

    init_db()  # create or upgrade the database before the first request, not during it
    settings = ApiSettings(auth=not args.no_auth, limits=ApiLimits(max_body_bytes=int(args.max_body_mb * MB)),
                           **({"max_models": args.max_models} if args.max_models else {}))
    where = f"http://{'[' + args.host + ']' if ':' in args.host else args.host}:{args.port}"
    print(f"Tuneboard API on {where} (docs: {where}/docs){'; no API key needed' if args.no_auth else ''}.",
          flush=True)
    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level="warning")
    return 0
