"""What one API request may hold, and the guard that refuses a body too large before it reaches an endpoint.

Images are checked by the Data page's own checks (core.ingest.unlabeled.read_image: the pixel limit against
decompression bombs, damaged files named), so the API refuses what Predict refuses, in the same words. Texts longer
than the stored-text limit are refused rather than silently cut. The body limit is counted on the bytes that arrive,
not only on Content-Length, so a chunked upload cannot slip past it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.api.errors import ApiError, error_response
from core.ingest.limits import DEFAULT_LIMITS, MB, Limits

MAX_BODY_MB = 32.0  # one request: 32 MB holds a batch of phone photos as base64 (4/3 of their size)
MAX_INPUTS = 256  # texts or images per request; a larger batch is refused, to be sent in parts
MAX_IMAGES = 32  # images per request: one model batch (core.serving.predict_service.BATCH_SIZE), decoded at once


@dataclass(frozen=True)
class ApiLimits:
    max_body_bytes: int = int(MAX_BODY_MB * MB)
    max_inputs: int = MAX_INPUTS
    max_images: int = MAX_IMAGES
    ingest: Limits = field(default_factory=lambda: DEFAULT_LIMITS)  # image pixels, text length, stored image side

    @property
    def max_text_chars(self) -> int:
        return self.ingest.max_text_chars

    def too_large(self) -> ApiError:
        return ApiError(413, "body_too_large", f"The request is larger than this server takes "
                        f"({self.max_body_bytes / MB:g} MB); send fewer or smaller inputs per request.")

    def check_count(self, count: int, kind: str) -> None:
        """Refuse an empty request or a batch past the limit for its kind ("texts" or "images")."""
        if count == 0:
            raise ApiError(422, "no_inputs", "The request holds nothing to classify; send `texts` (a list of "
                           "strings) or `images` (base64 strings or files).")
        limit = self.max_images if kind == "images" else self.max_inputs
        if count > limit:
            raise ApiError(413, "too_many_inputs", f"The request holds {count:,} {kind}; send at most {limit:,} "
                           "per request.")


class BodyLimitMiddleware:
    """Refuses a request whose body passes `limits.max_body_bytes`: at once when Content-Length says so (the body is
    read and thrown away, see `discard_body`), else as soon as the bytes received pass it (the endpoint reading the
    body gets ApiError 413)."""

    def __init__(self, app: ASGIApp, limits: ApiLimits) -> None:
        self.app, self.limits = app, limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limits.max_body_bytes:
            refusal = self.limits.too_large()
            read_it_all = await discard_body(receive, DISCARD_AT_MOST_TIMES * self.limits.max_body_bytes)
            headers = {} if read_it_all else {"Connection": "close"}
            await error_response(refusal.status, refusal.code, refusal.message, headers)(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limits.max_body_bytes:
                    if message.get("more_body", False):
                        await discard_body(receive, DISCARD_AT_MOST_TIMES * self.limits.max_body_bytes)
                    raise self.limits.too_large()
            return message

        await self.app(scope, counted, send)


# A client sends its whole body before it reads an answer (urllib, requests, curl without Expect: 100-continue); an
# answer sent and the connection closed while it is still sending reaches it as "broken pipe", not as our 413. So a
# body a few times over the limit is read and thrown away first; one far larger is cut off, as it costs us to read.
DISCARD_AT_MOST_TIMES = 4


async def discard_body(receive: Receive, at_most: int) -> bool:
    """Reads the request's body and drops it; True when all of it arrived within `at_most` bytes."""
    discarded = 0
    while discarded <= at_most:
        message = await receive()
        if message["type"] != "http.request":
            return False  # the client went away
        discarded += len(message.get("body", b""))
        if not message.get("more_body", False):
            return True
    return False
