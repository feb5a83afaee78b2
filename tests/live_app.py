"""The real app for tests that need its process: `streamlit run app.py` on a free local port, and a headless
browser session that opens pages over Streamlit's own websocket protocol.

A Streamlit app runs its script only when a browser session asks for a page, and it is that run which starts
the app's background worker (core.jobs.app_worker.ensure_worker in app.py). `visit` is that browser, minus the drawing:
it sends the same messages a browser sends (run the default page, then navigate through the app's own
navigation) and collects what the page showed, exceptions included. No Chromium is needed.
"""

from __future__ import annotations

from collections.abc import Callable
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import ROOT


def wait_until_answers(process: subprocess.Popen, url: str, timeout: float, name: str,
                       details: Callable[[], str]) -> None:
    """Poll `url` until it answers 200. A process that exits first, or a server silent past `timeout`, fails with
    `details()` (where its log is, or the log's end)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with code {process.returncode}; {details()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{name} did not answer {url} within {timeout:.0f} s; {details()}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class PageVisit:
    exceptions: list[str] = field(default_factory=list)  # "Type: message" of every exception the page showed
    traces: list[str] = field(default_factory=list)  # the traceback lines those exceptions showed
    texts: list[str] = field(default_factory=list)  # headings, markdown, alerts and captions, in order
    inputs: dict[str, str] = field(default_factory=dict)  # text box label -> widget id
    session_id: str = ""  # Streamlit's id of the browser session


class LiveApp:
    """One `streamlit run app.py` process (its own session, so a kill reaches only it); restartable after a kill."""

    def __init__(self, home: Path, env: dict[str, str], log: Path, entry: str = "app.py") -> None:
        self.home, self.env, self.log = home, env, log
        self.entry = entry  # what `streamlit run` is given: app.py, or serve.py (app.py behind the upload gate)
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 60.0) -> None:
        command = [sys.executable, "-m", "streamlit", "run", str(ROOT / self.entry), "--server.headless", "true",
                   "--server.port", str(self.port), "--server.address", "127.0.0.1",
                   "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        wait_until_answers(self.process, f"http://127.0.0.1:{self.port}/_stcore/health", timeout, "the app",
                           lambda: f"see {self.log}")

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
            if kind == "new_session":
                visit.session_id = forward.new_session.initialize.session_id
            elif kind == "navigation":
                pages = {p.url_pathname: p.page_script_hash for p in forward.navigation.app_pages}
            elif kind == "delta" and forward.delta.WhichOneof("type") == "new_element":
                element = forward.delta.new_element
                shown = element.WhichOneof("type")
                if shown == "exception":
                    visit.exceptions.append(f"{element.exception.type}: {element.exception.message}")
                    visit.traces += element.exception.stack_trace
                elif shown in ("heading", "markdown", "alert"):
                    visit.texts.append(getattr(element, shown).body)
                elif shown == "text_input":
                    visit.inputs[element.text_input.label] = element.text_input.id
            elif kind == "script_finished" and forward.script_finished != ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                return pages  # a run cut short by st.rerun() is followed by the run that shows the page


class LiveSession:
    """One browser session kept open on a LiveApp: type into the password box, and upload a file the way the
    browser's file uploader does (ask the session for an upload URL over the websocket, then PUT the file with
    Streamlit's XSRF cookie and header, which anyone can make up: the server only checks that they match)."""

    def __init__(self, app: LiveApp, timeout: float = 60.0) -> None:
        self.app, self.timeout = app, timeout
        self.visit = PageVisit()

    def __enter__(self) -> LiveSession:
        from streamlit.proto.BackMsg_pb2 import BackMsg
        from websockets.sync.client import connect

        self.ws = connect(f"ws://127.0.0.1:{self.app.port}/_stcore/stream", subprotocols=["streamlit"],
                          open_timeout=self.timeout, close_timeout=1, max_size=None)
        LiveApp._run(self.ws, BackMsg(), self.visit, self.timeout)
        return self

    def __exit__(self, *exc_info) -> None:
        self.ws.close()

    def type_into(self, label: str, text: str) -> PageVisit:
        """Submit `text` in the text box labelled `label` (as pressing Enter does); what the rerun showed."""
        from streamlit.proto.BackMsg_pb2 import BackMsg

        message, shown = BackMsg(), PageVisit()
        widget = message.rerun_script.widget_states.widgets.add()
        widget.id, widget.string_value = self.visit.inputs[label], text
        LiveApp._run(self.ws, message, shown, self.timeout)
        self.visit.inputs.update(shown.inputs)
        return shown

    def upload(self, name: str, data: bytes) -> int:
        """Send one file to Streamlit's upload endpoint for this session; the HTTP status it answered."""
        import uuid

        from streamlit.proto.BackMsg_pb2 import BackMsg
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
        from streamlit.web.server.starlette.starlette_app_utils import generate_xsrf_token_string

        ask = BackMsg()
        ask.file_urls_request.request_id = "upload-1"
        ask.file_urls_request.session_id = self.visit.session_id
        ask.file_urls_request.file_names.append(name)
        self.ws.send(ask.SerializeToString())
        deadline = time.monotonic() + self.timeout
        while True:
            forward = ForwardMsg()
            forward.ParseFromString(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if forward.WhichOneof("type") == "file_urls_response":
                url = forward.file_urls_response.file_urls[0].upload_url
                break
        token, boundary = generate_xsrf_token_string(), uuid.uuid4().hex
        body = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
                f"Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.app.port}{url}", data=body, method="PUT",
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}",
                     "Cookie": f"_streamlit_xsrf={token}", "X-Xsrftoken": token})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                return answer.status
        except urllib.error.HTTPError as refused:
            return refused.code
