"""The server's upload gate: with TUNEBOARD_PASSWORD set, Streamlit's upload endpoint takes files only for browser
sessions that signed in.

Why: the password form is drawn by the app's script, but Streamlit accepts uploads at
`/_stcore/upload_file/<session id>/<file id>` on its own, for any session that is open. A visitor who never
signed in could open a session, ask it for upload URLs and send files, which Streamlit keeps in memory for the
session's life (two 200 MB uploads: 400 MB that stayed). Streamlit 1.67's server is Starlette, and `st.App` lets an
app put ASGI middleware in front of it; `serve.py` puts this one there, which answers 403 before a byte of the body
is read.

Plain ASGI (no Starlette import) so that it runs in front of Streamlit's own middleware and stays small.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from core.access.sign_in import is_signed_in, password_set

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Streamlit's route is `{base url}/_stcore/upload_file/{session_id}/{file_id}`, each part one path segment.
UPLOAD_PATH = re.compile(r"/_stcore/upload_file/(?P<session_id>[^/]+)/[^/]+$")
REFUSED = b"Sign in to Tuneboard before uploading files."

_installed = False


def installed() -> bool:
    """True once a server in this process has put the gate in front of Streamlit (pages/shared/gate.py asks)."""
    return _installed


class UploadGate:
    def __init__(self, app: ASGIApp) -> None:
        global _installed
        self.app = app
        _installed = True  # Starlette builds its middleware when the server starts, before any session exists

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and "upload_file" in scope["path"] and password_set() and not self._allowed(scope):
            await send({"type": "http.response.start", "status": 403,
                        "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                                    (b"content-length", str(len(REFUSED)).encode())]})
            await send({"type": "http.response.body", "body": REFUSED})
            return
        await self.app(scope, receive, send)

    @staticmethod
    def _allowed(scope: Scope) -> bool:
        # The browser's CORS preflight carries no cookies or session; it uploads nothing.
        if scope["method"] == "OPTIONS":
            return True
        match = UPLOAD_PATH.search(scope["path"])
        return match is not None and is_signed_in(match["session_id"])
