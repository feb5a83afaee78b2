"""The API application: `create_app(settings)` -> a FastAPI app (uvicorn serves it: core/cli/serve.py).

    GET  /v1/models                         finished runs: id, name, task, classes, metrics, backends
    POST /v1/models/{run}/predict           JSON (`text`, `texts` or base64 `images`) or multipart image `files`
    POST /v1/endpoints/{name}/predict       the same, answered by a named endpoint's champion or challenger
    POST /v1/feedback                       the true label of an answer (request_id and index from a predict reply)
    GET  /docs, /openapi.json               the reference, open to all (every /v1 route needs a key)

Each answer is logged (storage.api_log: time, key, run, latency, label, confidence, uncertain; the input text only
for a key that opts in) by one thread after the reply is sent, for the Monitor page (core/api/answer_log.py).

Prediction runs off the event loop, so a slow model call does not hold up other requests, and always on the same
one thread (`ModelThread`); the model stays loaded between requests (core.api.model_cache).
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from fastapi import BackgroundTasks, Depends, FastAPI, Request, Response
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from core.api.answer_log import AnswerLog, give_feedback, new_request_id, rows_of
from core.api.auth import RateLimiter, require_key
from core.api.endpoints import Route, route
from core.api.errors import ApiError, install_error_handlers
from core.api.limits import ApiLimits, BodyLimitMiddleware
from core.api.model_cache import MAX_MODEL_BYTES, MAX_MODELS, ModelCache
from core.api.prediction import Inputs, RecentRuns, file_inputs, json_inputs, parse_request, predict
from core.api.schemas import (
    BACKENDS, ONNX_INT8, PYTORCH, ErrorBody, FeedbackRequest, FeedbackResponse, ModelInfo, ModelList, PredictRequest, PredictResponse,
)
from core.artifacts import model_files_missing
from storage.api_keys import KeyInfo
from storage.export_queue import offered_export_dir
from storage.models import CHALLENGER
from storage.results import RunResult, finished_runs

DESCRIPTION = """Predict with the models trained in Tuneboard.

Every `/v1` request needs an API key, made on Tuneboard's **API keys** page: `Authorization: Bearer <key>`.
Answers follow each run's decision rule, as the app's Predict page does: calibrated probabilities, the two-class
threshold and `uncertain` below the run's operating point. Each reply has a `request_id`: send it with an answer's
`index` and the true label to `POST /v1/feedback`, and the Monitor page shows live accuracy. Errors are
`{"error": {"code": ..., "message": ...}}`."""

log = logging.getLogger("tuneboard.api")


@dataclass(frozen=True)
class ApiSettings:
    auth: bool = True  # False only with --no-auth on a loopback address (core/cli/serve.py checks)
    limits: ApiLimits = field(default_factory=ApiLimits)
    max_models: int = MAX_MODELS  # loaded models kept between requests
    max_model_bytes: int = MAX_MODEL_BYTES  # and their weights' memory, least recently used out


# Refusals /docs lists for every /v1 route.
ERRORS = {status: {"model": ErrorBody, "description": text} for status, text in {
    401: "No key, an unknown key or a revoked key.", 413: "The body or the batch is too large.",
    422: "The request cannot be used; the message says what to fix.", 429: "Too many requests for this key."}.items()}
PREDICT_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": {"$ref": "#/components/schemas/PredictRequest"}},
    "multipart/form-data": {"schema": {"type": "object", "required": ["files"], "properties": {
        "files": {"type": "array", "items": {"type": "string", "format": "binary"}, "description": "Image files."},
        "top_k": {"type": "integer", "default": 5}}}}}}}


class ModelThread:
    """The one thread every model call of the server runs on. PyTorch's CPU kernels (OpenMP) keep a team of threads
    for each thread that calls them: calls spread over a pool of threads can start several teams, which then compete
    for the same cores. One caller keeps one team; concurrent requests queue for it, as they would for the cores
    anyway."""

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tuneboard-model")

    async def run(self, function, *args):
        return await asyncio.wrap_future(self._executor.submit(function, *args))

    def run_blocking(self, function, *args):
        """From a worker thread (a background task): wait for the call's turn on the model thread."""
        return self._executor.submit(function, *args).result()

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)


def create_app(settings: ApiSettings | None = None) -> FastAPI:
    settings = settings or ApiSettings()
    model_thread, answer_log = ModelThread(), AnswerLog()

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        yield
        model_thread.close()
        answer_log.close()  # after the model thread: a shadow's answers still being made are logged too

    app = FastAPI(title="Tuneboard prediction API", version="1", description=DESCRIPTION, lifespan=lifespan,
                  openapi_tags=[{"name": "models", "description": "Finished runs and their predictions."},
                                {"name": "endpoints", "description": "Named endpoints: a champion run, and a "
                                 "challenger given a share of the requests or answering in its shadow."},
                                {"name": "monitoring", "description": "True labels for answers given."}])
    app.state.settings = settings
    app.state.rate_limiter = RateLimiter()
    app.state.models = ModelCache(settings.max_models, settings.max_model_bytes)
    ready_run = RecentRuns()
    app.add_middleware(BodyLimitMiddleware, limits=settings.limits)
    install_error_handlers(app)

    @app.get("/v1/models", response_model=ModelList, tags=["models"], responses=ERRORS,
             dependencies=[Depends(require_key)], summary="The finished runs that can predict")
    def list_models() -> ModelList:
        return ModelList(models=[model_info(run) for run in finished_runs()])

    @app.post("/v1/models/{run_id}/predict", response_model=PredictResponse, tags=["models"],
              summary="Classify texts or images with a finished run",
              responses={**ERRORS, 404: {"model": ErrorBody, "description": "No such run."}},
              openapi_extra=PREDICT_BODY)
    async def predict_route(run_id: int, request: Request,
                            key: KeyInfo | None = Depends(require_key)) -> Response:
        payload = await read_payload(request, settings.limits)
        request_id = new_request_id()
        answer, texts = await model_thread.run(lambda: answer_with(ready_run(run_id), payload, request_id))
        answer_log.expect(request_id)
        answer_log.put(request_id, rows_of(key, answer, texts))
        return json_reply(answer)

    @app.post("/v1/endpoints/{name}/predict", response_model=PredictResponse, tags=["endpoints"],
              summary="Classify with a named endpoint: its champion, or its challenger for a set share",
              responses={**ERRORS, 404: {"model": ErrorBody, "description": "No such endpoint."}},
              openapi_extra=PREDICT_BODY)
    async def endpoint_route(name: str, request: Request, background: BackgroundTasks,
                             key: KeyInfo | None = Depends(require_key)) -> Response:
        payload = await read_payload(request, settings.limits)
        request_id = new_request_id()

        def answer_endpoint() -> tuple[Route, PredictResponse, list[str] | None]:
            chosen = route(name, request_id, ready_run)
            return chosen, *answer_with(chosen.answering, payload, request_id, name, chosen.role)

        chosen, answer, texts = await model_thread.run(answer_endpoint)
        answer_log.expect(request_id, parts=1 if chosen.shadow is None else 2)
        answer_log.put(request_id, rows_of(key, answer, texts))
        if chosen.shadow is not None:
            background.add_task(answer_shadow, chosen.shadow, payload, request_id, name, key, texts)
        return json_reply(answer)

    def answer_shadow(run: RunResult, payload: Payload, request_id: str, name: str, key: KeyInfo | None,
                      texts: list[str] | None) -> None:
        """After the reply (a background task): the shadow challenger's answers, logged beside the champion's and
        never returned."""
        rows = []
        try:
            unseen, _ = model_thread.run_blocking(answer_with, run, payload, request_id, name, CHALLENGER)
            rows = rows_of(key, unseen, texts, shadow=True)
        except Exception:  # the champion's answer was sent; a shadow that fails must not take the server down
            log.exception("the shadow run %s could not answer request %s", run.id, request_id)
        finally:
            answer_log.put(request_id, rows)

    @app.post("/v1/feedback", response_model=FeedbackResponse, tags=["monitoring"],
              summary="Send the true label of an answer, for live accuracy on the Monitor page",
              dependencies=[Depends(require_key)], responses={**ERRORS, 404: {
                  "model": ErrorBody, "description": "No answer has this request_id and index."}})
    def feedback_route(feedback: FeedbackRequest) -> FeedbackResponse:
        return give_feedback(feedback, answer_log)  # FastAPI runs a plain def in its thread pool

    def answer_with(run: RunResult, payload: Payload, request_id: str, endpoint: str | None = None,
                    role: str | None = None) -> tuple[PredictResponse, list[str] | None]:
        """On the model thread: the request's inputs checked against the run, its answers, and the texts a key that
        opts in keeps. The run is read, the inputs checked and the model called in one hop off the event loop: each
        hop between threads added a few milliseconds of waiting to every request."""
        inputs = checked_inputs(payload, run, settings.limits)
        answer = predict(run, inputs, payload.top_k, app.state.models, payload.backend)
        return answer.model_copy(update={"request_id": request_id, "endpoint": endpoint, "role": role}), \
            texts_of(run, inputs)

    _add_request_schema(app)
    return app


@dataclass(frozen=True)
class Payload:
    """What a predict request sent, read off the connection and not yet checked against a run."""

    body: PredictRequest | None  # a JSON request
    files: list[tuple[str, bytes]] | None  # or a multipart one's image files
    top_k: int
    backend: str


async def read_payload(request: Request, limits: ApiLimits) -> Payload:
    """A predict request's JSON body or multipart image files, with its top_k and backend."""
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        files, top_k, backend = await read_files(request, limits)
        return Payload(None, files, top_k, backend)
    body = parse_request(await request.body())
    return Payload(body, None, body.top_k, body.backend)


def checked_inputs(payload: Payload, run: RunResult, limits: ApiLimits) -> Inputs:
    if payload.files is not None:
        return file_inputs(payload.files, run, limits)
    return json_inputs(payload.body, run, limits)


def json_reply(answer: PredictResponse) -> Response:
    """The answer as JSON, serialized by pydantic directly: FastAPI's own path validates the model again and encodes
    it field by field in Python, on every request (the route keeps `response_model` for /docs)."""
    return Response(answer.model_dump_json(), media_type="application/json")


def texts_of(run: RunResult, inputs: Inputs) -> list[str] | None:
    """What may be logged of the inputs, for a key that opts in: texts only, never images."""
    return [str(text) for text in inputs.items] if run.task == "text" else None


async def read_files(request: Request, limits: ApiLimits) -> tuple[list[tuple[str, bytes]], int, str]:
    """A multipart request's image files (field `files`), its `top_k` and its `backend`."""
    try:
        async with request.form(max_files=limits.max_images, max_fields=10) as form:
            files = [(upload.filename or f"file {i}", await upload.read())
                     for i, upload in enumerate(form.getlist("files")) if isinstance(upload, UploadFile)]
            top_k, backend = form.get("top_k", "5"), form.get("backend", PYTORCH)
    except StarletteHTTPException as error:  # Starlette's multipart parser: a malformed form, too many files
        if "Too many files" in str(error.detail):
            raise ApiError(413, "too_many_inputs", f"The form holds too many files; send at most "
                           f"{limits.max_images} images per request.") from None
        raise ApiError(422, "invalid_form", f"The form could not be read ({str(error.detail).rstrip('.')}); send "
                       "images as multipart/form-data files in the field `files`.") from None
    if not isinstance(top_k, str) or not top_k.isdigit() or not 1 <= int(top_k) <= 1000:
        raise ApiError(422, "invalid_request", "top_k: must be a whole number from 1 to 1000.")
    if backend not in BACKENDS:
        raise ApiError(422, "invalid_request", f"backend: must be one of {', '.join(BACKENDS)}.")
    if not files:
        raise ApiError(422, "no_inputs", "The form holds no image files; send them in the field `files`.")
    return files, int(top_k), str(backend)


def model_info(run: RunResult) -> ModelInfo:
    metrics = {name: float(value) for name, value in run.metrics.items()
               if isinstance(value, (int, float)) and not isinstance(value, bool)}
    return ModelInfo(id=run.id, name=run.name, title=run.title, dataset=run.dataset_name, task=run.task,
                     classes=run.labels, model=run.model, method=run.method, metrics=metrics,
                     threshold=run.threshold if len(run.labels) == 2 else None, min_confidence=run.min_confidence,
                     backends=[PYTORCH] + ([ONNX_INT8] if offered_export_dir(run.id, ONNX_INT8) else []), available=not model_files_missing(run.output_dir),
                     finished_at=run.finished_at)


def _add_request_schema(app: FastAPI) -> None:
    """Put PredictRequest into /openapi.json's components (the route reads its body by hand, see PREDICT_BODY)."""
    build = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = build()
            schema.setdefault("components", {}).setdefault("schemas", {})["PredictRequest"] = \
                PredictRequest.model_json_schema(ref_template="#/components/schemas/{model}")
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi
