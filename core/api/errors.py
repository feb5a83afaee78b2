"""Every refusal the API makes is `{"error": {"code": "...", "message": "..."}}`: a stable code a program can branch
on, and one plain sentence a person can act on. Validation errors, unknown addresses and crashes included."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("tuneboard.api")

# Status -> code and sentence for what Starlette itself refuses (an unknown address, a wrong method).
HTTP_ERRORS = {
    404: ("not_found", "There is nothing at this address; /docs lists the API's addresses."),
    405: ("method_not_allowed", "This address does not take this method; /docs says which one it takes."),
}


class ApiError(Exception):
    """A refusal: HTTP status, stable code, one sentence saying what to fix (and headers such as Retry-After)."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


def validation_message(errors: list[dict]) -> str:
    """Pydantic's first complaint as one sentence naming the field: "texts[2]: Input should be a valid string."."""
    first = errors[0] if errors else {}
    where = ""
    for part in first.get("loc", ()):
        if part in ("body", "path", "query"):
            continue
        where += f"[{part}]" if isinstance(part, int) else (f".{part}" if where else str(part))
    message = str(first.get("msg", "the request is not valid")).rstrip(".")
    message = message.removeprefix("Value error, ")
    more = f" ({len(errors) - 1} more problem{'s' if len(errors) > 2 else ''} after it)" if len(errors) > 1 else ""
    return f"{where}: {message}{more}." if where else f"{message[:1].upper()}{message[1:]}{more}."


def from_validation(error: ValidationError | RequestValidationError) -> ApiError:
    errors = list(error.errors())
    if errors and errors[0].get("type") == "json_invalid":
        return ApiError(422, "invalid_json", "The request body is not valid JSON; send an object such as "
                        '{"texts": ["first text", "second text"]}.')
    return ApiError(422, "invalid_request", validation_message(errors))


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_request: Request, error: ApiError) -> JSONResponse:
        return error_response(error.status, error.code, error.message, error.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, error: RequestValidationError) -> JSONResponse:
        refusal = from_validation(error)
        return error_response(refusal.status, refusal.code, refusal.message)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, error: StarletteHTTPException) -> JSONResponse:
        code, message = HTTP_ERRORS.get(error.status_code, (f"http_{error.status_code}", f"{error.detail}."))
        return error_response(error.status_code, code, message, getattr(error, "headers", None))

    @app.exception_handler(Exception)
    async def crash(request: Request, error: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path, exc_info=error)
        return error_response(500, "internal_error", "Something went wrong on the server while answering; the "
                              "server's log has the details.")
