"""The real app for tests that need its process: `streamlit run app.py` on a free local port, and a headless
browser session that opens pages over Streamlit's own websocket protocol.

A Streamlit app runs its script only when a browser session asks for a page, and it is that run which starts
the app's background worker (core.worker.ensure_worker in app.py). `visit` is that browser, minus the drawing:
it sends the same messages a browser sends (run the default page, then navigate through the app's own
navigation) and collects what the page showed, exceptions included. No Chromium is needed.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import ROOT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class PageVisit:
    exceptions: list[str] = field(default_factory=list)  # "Type: message" of every exception the page showed
    traces: list[str] = field(default_factory=list)  # the traceback lines those exceptions showed
    texts: list[str] = field(default_factory=list)  # headings, markdown, alerts and captions, in order


class LiveApp:
    """One `streamlit run app.py` process (its own session, so a kill reaches only it); restartable after a kill."""

    def __init__(self, home: Path, env: dict[str, str], log: Path) -> None:
        self.home, self.env, self.log = home, env, log
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 60.0) -> None:
        command = [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.headless", "true",
                   "--server.port", str(self.port), "--server.address", "127.0.0.1",
                   "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the app exited with code {self.process.returncode}; see {self.log}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/_stcore/health", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"the app did not answer /_stcore/health within {timeout:.0f} s; see {self.log}")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self, sig: signal.Signals = signal.SIGKILL) -> None:
        """Signal the app's process group (Streamlit and anything it did not detach) and reap it."""
        if self.alive():
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                pass
            self.process.wait(timeout=30)

    def visit(self, page: str = "", timeout: float = 60.0, trigger: str | None = None) -> PageVisit:
        """Open the app in a new session, then go to `page` (its URL path, e.g. "runs") through the navigation.

        `trigger`: then rerun as a browser does when a button is pressed, with the widget id `trigger` (any string:
        the browser is the client, so a visitor can send ids the page never drew)."""
        from streamlit.proto.BackMsg_pb2 import BackMsg
        from websockets.sync.client import connect

        visit = PageVisit()
        with connect(f"ws://127.0.0.1:{self.port}/_stcore/stream", subprotocols=["streamlit"], open_timeout=timeout,
                     close_timeout=1, max_size=None) as ws:
            pages = self._run(ws, BackMsg(), visit, timeout)
            if page:
                move = BackMsg()
                move.rerun_script.page_script_hash = pages[page]
                self._run(ws, move, visit, timeout)
            if trigger is not None:
                press = BackMsg()
                if page:
                    press.rerun_script.page_script_hash = pages[page]
                press.rerun_script.widget_states.widgets.add(id=trigger, trigger_value=True)
                self._run(ws, press, visit, timeout)
        return visit

    @staticmethod
    def _run(ws, message, visit: PageVisit, timeout: float) -> dict[str, str]:
        """Send one rerun request; read until the script finishes. Returns the app's pages: url path -> hash."""
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        message.rerun_script.SetInParent()  # a rerun request, even with every field left at its default
        ws.send(message.SerializeToString())
        pages: dict[str, str] = {}
        deadline = time.monotonic() + timeout
        while True:
            forward = ForwardMsg()
            forward.ParseFromString(ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            kind = forward.WhichOneof("type")
            if kind == "navigation":
                pages = {p.url_pathname: p.page_script_hash for p in forward.navigation.app_pages}
            elif kind == "delta" and forward.delta.WhichOneof("type") == "new_element":
                element = forward.delta.new_element
                shown = element.WhichOneof("type")
                if shown == "exception":
                    visit.exceptions.append(f"{element.exception.type}: {element.exception.message}")
                    visit.traces += element.exception.stack_trace
                elif shown in ("heading", "markdown", "alert"):
                    visit.texts.append(getattr(element, shown).body)
            elif kind == "script_finished":
                return pages
