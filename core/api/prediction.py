"""A predict request -> the run's answers, by the same decision rule every other serving path uses.

1) the run: it must exist, be finished and still have its saved model (core.artifacts);
2) the inputs: texts for a text run, images for an image run, counted and checked (core.api.limits); images are
   decoded by the Predict page's reader (core.ingest.unlabeled.read_image: the pixel limit, damaged files named)
   and, past the side training images are stored at (core.ingest.limits.MAX_STORED_SIDE), shrunk to it as the
   Data page stores them, so a batch of large photos is not held at full size;
3) the model: loaded once and kept (core.api.model_cache), predicting a batch at a time
   (core.serving.predict_service.predict_batches): the saved PyTorch model, or with `"backend": "onnx-int8"` the
   run's verified onnx-int8 export in ONNX Runtime (core.export.onnx_predictor), prepared and decided the same way;
4) the answer: core.evaluation.decision.DecisionRule.of_run(run) (calibrated probabilities, the two-class
   threshold, `uncertain` below the operating point), exactly as Predict, batch downloads and the CLI answer.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from PIL import Image
from pydantic import ValidationError

from core.api.errors import ApiError, from_validation
from core.api.limits import ApiLimits
from core.api.model_cache import ModelCache
from core.api.schemas import ONNX_INT8, PYTORCH, ClassProbability, PredictRequest, PredictResponse, Prediction
from core.artifacts import missing_model_message, model_files_missing
from core.catalog import ModelLoadError
from core.evaluation.decision import DecisionRule
from core.ingest.report import DataError
from core.ingest.unlabeled import read_image
from core.serving.predict_service import predict_batches
from storage.export_queue import offered_export_dir
from storage.models import SUCCEEDED
from storage.results import RunResult, run_result


if TYPE_CHECKING:
    from core.serving.inference import Predictor


@dataclass
class Inputs:
    items: list[Any]  # texts, or decoded RGB images
    names: list[str | None]  # file names of images sent as files; None otherwise


def finished_run(run_id: int) -> RunResult:
    """The run to predict with, or the refusal saying why it cannot."""
    run = run_result(run_id)
    if run is None:
        raise ApiError(404, "unknown_run", f"There is no run {run_id}; GET /v1/models lists the finished runs.")
    if run.status != SUCCEEDED or not run.artifact_dir:
        raise ApiError(409, "run_not_finished", f"Run {run_id} is {run.status}, not finished; only a finished run "
                       "can predict.")
    if model_files_missing(run.output_dir):
        raise ApiError(410, "model_missing", missing_model_message(run.id))
    return run


RUN_RECHECK_SECONDS = 1.0


class RecentRuns:
    """`finished_run` for a server answering many requests: a run found ready is read again from the database at
    most once every `seconds` (reading it and checking its files took 1.5-2.5 ms, a fifth of what the server added to
    a request). So a change to a run (deleted, calibrated again) reaches the API within a second; a run refused is
    looked up afresh on every request, so one that finishes is served at once."""

    def __init__(self, seconds: float = RUN_RECHECK_SECONDS, clock: Callable[[], float] = time.monotonic,
                 lookup: Callable[[int], RunResult] | None = None) -> None:
        self.seconds, self.clock, self.lookup = seconds, clock, lookup or finished_run
        self._found: dict[int, tuple[RunResult, float]] = {}

    def __call__(self, run_id: int) -> RunResult:
        now = self.clock()
        found = self._found.get(run_id)
        if found is not None and now - found[1] < self.seconds:
            return found[0]
        run = self.lookup(run_id)
        self._found[run_id] = (run, now)
        return run


def parse_request(body: bytes) -> PredictRequest:
    try:
        return PredictRequest.model_validate_json(body)
    except ValidationError as error:
        raise from_validation(error) from None


def json_inputs(request: PredictRequest, run: RunResult, limits: ApiLimits) -> Inputs:
    """The texts or base64 images of a JSON request, checked against the run's task and the limits."""
    given = [name for name in ("text", "texts", "images") if getattr(request, name) is not None]
    if len(given) > 1:
        raise ApiError(422, "ambiguous_inputs", f"The request holds both `{given[0]}` and `{given[1]}`; send one "
                       "of `text`, `texts` or `images`.")
    if request.images is not None:
        _expect(run, "image")
        limits.check_count(len(request.images), "images")
        images = [image_input(f"image {i}", _base64(data, i), limits) for i, data in enumerate(request.images)]
        return Inputs(images, [None] * len(images))
    texts = [request.text] if request.text is not None else request.texts or []
    _expect(run, "text")
    limits.check_count(len(texts), "texts")
    for i, text in enumerate(texts):
        if len(text) > limits.max_text_chars:
            raise ApiError(422, "text_too_long", f"Text {i} has {len(text):,} characters; send at most "
                           f"{limits.max_text_chars:,} per text.")
    return Inputs(list(texts), [None] * len(texts))


def file_inputs(files: list[tuple[str, bytes]], run: RunResult, limits: ApiLimits) -> Inputs:
    """Images sent as multipart files (field `files`)."""
    _expect(run, "image")
    limits.check_count(len(files), "images")
    return Inputs([image_input(name, data, limits) for name, data in files], [name for name, _ in files])


def _expect(run: RunResult, task: str) -> None:
    if run.task != task:
        send = "`text` or `texts`" if run.task == "text" else "`images` (base64) or image files"
        raise ApiError(422, "wrong_input_kind", f"Run {run.id} classifies {run.task}s, not {task}s; send {send}.")


def _base64(data: str, index: int) -> bytes:
    if data.startswith("data:"):
        data = data.partition(",")[2]  # data:image/png;base64,....
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(422, "invalid_base64", f"Image {index} is not valid base64; send each image's bytes encoded "
                       "as base64 text.") from None


def image_input(name: str, data: bytes, limits: ApiLimits) -> Image.Image:
    """One image as the model gets it, or a 422 naming it and saying why it cannot be read."""
    try:
        image = read_image(name, data, limits.ingest)
    except DataError as error:
        raise ApiError(422, "unreadable_image", error.message) from None
    side = limits.ingest.max_stored_side
    if max(image.size) > side:
        image.thumbnail((side, side), Image.Resampling.LANCZOS)  # as the Data page stores training images
    return image


def served_model(run: RunResult, backend: str, cache: ModelCache) -> Predictor:
    """The run's model as `backend` serves it, from the cache or loaded into it."""
    # torch and ONNX Runtime are imported on the first request, not when the server starts
    stamp: tuple = (run.artifact_dir, run.finished_at)
    if backend == ONNX_INT8:
        export_dir = offered_export_dir(run.id, ONNX_INT8)
        if export_dir is None:
            raise ApiError(409, "backend_not_exported", f"Run {run.id} has no verified onnx-int8 export; make one "
                           "on the run's Results page (Download), or leave out `backend` to use the PyTorch model.")
        stamp += (str(export_dir),)

        def load() -> Predictor:
            from core.export.onnx_predictor import load_onnx_predictor

            return load_onnx_predictor(run.output_dir, export_dir)
    else:
        def load() -> Predictor:
            from core.serving.inference import load_predictor

            return load_predictor(run.output_dir)
    try:
        return cache.get((run.id, backend), stamp, load)
    except ModelLoadError as error:
        raise ApiError(500, "model_load_failed", str(error)) from None


def predict(run: RunResult, inputs: Inputs, top_k: int, cache: ModelCache, backend: str = PYTORCH) -> PredictResponse:
    """The run's answers for checked inputs (blocking: call it from a worker thread)."""
    start = time.perf_counter()
    predictor = served_model(run, backend, cache)
    rule = DecisionRule.of_run(run)  # calibrated, the saved threshold, uncertain below the operating point
    predictions = []
    for index, (name, probabilities) in enumerate(zip(inputs.names, predict_batches(predictor, inputs.items))):
        label, confidence, uncertain, calibrated = rule.decide_one(probabilities)
        ranked = sorted(calibrated.items(), key=lambda item: item[1], reverse=True)[:top_k]
        predictions.append(Prediction(
            index=index, name=name, label=label, label_name=run.shown(label), confidence=round(confidence, 6),
            uncertain=uncertain, top=[ClassProbability(label=c, label_name=run.shown(c), probability=round(p, 6))
                                      for c, p in ranked]))
    return PredictResponse(run=run.id, backend=backend, labels=list(rule.labels), threshold=rule.threshold,
                           min_confidence=rule.min_confidence, temperature=rule.temperature,
                           latency_ms=round((time.perf_counter() - start) * 1000, 2), predictions=predictions)
