"""How a command says it failed: one sentence on stderr, the same as a JSON object on stdout with --json, exit 2."""

from __future__ import annotations

import json
import sys


def fail(message: str, as_json: bool, code: str) -> int:
    if as_json:
        print(json.dumps({"status": "error", "code": code, "error": message}))
    print(message, file=sys.stderr)
    return 2
