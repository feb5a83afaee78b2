"""The prediction API for tests over real HTTP: `python -m core serve` in a subprocess on a free local port, with
TUNEBOARD_HOME set to a test's data folder. Stopped by its own process id."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import ROOT
from tests.live_app import free_port, wait_until_answers


@dataclass
class Answer:
    status: int
    body: dict
    headers: dict[str, str]


class LiveApi:
    def __init__(self, home: Path, *args: str) -> None:
        self.home, self.args, self.port = home, args, free_port()
        self.log = home.parent / f"api-{self.port}.log"
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        env = {**os.environ, "TUNEBOARD_HOME": str(self.home), "HF_HUB_OFFLINE": "1"}
        env.pop("DATABASE_URL", None)
        return env

    def start(self, timeout: float = 120.0) -> LiveApi:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen([sys.executable, "-m", "core", "serve", "--port", str(self.port), *self.args],
                                            cwd=ROOT, env=self.env(), stdout=out, stderr=subprocess.STDOUT)
        wait_until_answers(self.process, f"{self.url}/openapi.json", timeout, "the API",
                           lambda: self.log.read_text()[-2000:])
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=20)

    def call(self, method: str, path: str, key: str | None = None, json_body: object = None, data: bytes | None = None,
             headers: dict[str, str] | None = None) -> Answer:
        """One request over HTTP; an error status is an Answer too (its JSON body), never an exception."""
        headers = dict(headers or {})
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        if json_body is not None:
            data = json.dumps(json_body).encode()
            headers.setdefault("Content-Type", "application/json")
        request = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=120) as answer:
                return Answer(answer.status, json.loads(answer.read()), dict(answer.headers))
        except urllib.error.HTTPError as error:
            return Answer(error.code, json.loads(error.read()), dict(error.headers))


def multipart(files: list[tuple[str, bytes]], field: str = "files") -> tuple[bytes, dict[str, str]]:
    """A multipart/form-data body holding `files`, as a browser or `curl -F` sends it."""
    boundary = "tuneboard-test-boundary"
    parts = [f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{name}\"\r\n"
             f"Content-Type: application/octet-stream\r\n\r\n".encode() + data + b"\r\n" for name, data in files]
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}
