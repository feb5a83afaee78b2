"""Request and response bodies of the API, as /docs shows them (field descriptions are the reference)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

PYTORCH, ONNX_INT8 = "pytorch", "onnx-int8"
BACKENDS = (PYTORCH, ONNX_INT8)  # how a run can be served: its saved model, or its verified onnx-int8 export


class PredictRequest(BaseModel):
    """One of `text`, `texts` or `images`. Images may also be sent as multipart files (field `files`)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"texts": ["WINNER!! Claim your free prize now", "Are we still on for lunch?"]}]})

    text: str | None = Field(None, description="One text to classify (a text run).")
    texts: list[str] | None = Field(None, description="Texts to classify (a text run); answers come in this order.")
    images: list[str] | None = Field(None, description="Images to classify (an image run), each as base64; a "
                                     "`data:image/...;base64,` prefix is allowed.")
    top_k: int = Field(5, ge=1, le=1000, description="How many of the most probable classes to return per input.")
    backend: Literal["pytorch", "onnx-int8"] = Field(PYTORCH, description="What runs the model: `pytorch`, the "
                                                     "saved model; `onnx-int8`, the run's verified onnx-int8 export "
                                                     "in ONNX Runtime (made on its Results page; see a model's "
                                                     "`backends`).")


class ClassProbability(BaseModel):
    label: str = Field(description="The class as the data names it (the key to match on).")
    label_name: str = Field(description="The class as people read it: its display name set on the Data page, or "
                            "`label` when it has none.")
    probability: float = Field(description="Calibrated on the run's validation examples.")


class Prediction(BaseModel):
    index: int = Field(description="The input's position in the request, from 0.")
    name: str | None = Field(None, description="The file name, for images sent as files.")
    label: str = Field(description="The answer, by the run's decision rule (its two-class threshold, if set), as "
                       "the data names it (the key to match on).")
    label_name: str = Field(description="The answer as people read it (the class's display name, or `label`).")
    confidence: float = Field(description="The answer's calibrated probability.")
    uncertain: bool = Field(description="True when the confidence is below the run's operating point "
                            "(`min_confidence`): a person should check this answer.")
    top: list[ClassProbability] = Field(description="The `top_k` most probable classes, most probable first.")


class PredictResponse(BaseModel):
    request_id: str = Field("", description="This request's id: send it, with an answer's `index`, to "
                            "POST /v1/feedback once the true label is known.")
    run: int = Field(description="The run that answered.")
    endpoint: str | None = Field(None, description="The endpoint asked, for /v1/endpoints/{name}/predict.")
    role: Literal["champion", "challenger"] | None = Field(None, description="Which of the endpoint's runs "
                                                           "answered.")
    backend: str
    labels: list[str] = Field(description="Every class, in the run's order.")
    threshold: float | None = Field(None, description="Two classes: the answer is labels[1] when its calibrated "
                                    "probability reaches this; None: the most probable class.")
    min_confidence: float | None = Field(None, description="The run's operating point; None: no answer is marked "
                                         "uncertain.")
    temperature: float = Field(description="The calibration temperature fitted on the run's validation examples.")
    latency_ms: float = Field(description="Time spent predicting on the server, decoding and model included.")
    predictions: list[Prediction]


class FeedbackRequest(BaseModel):
    """The true label of one answered input, to measure live accuracy (the Monitor page)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"request_id": "3f2a9c0d5e6b4a718293a4b5c6d7e8f9", "index": 0, "label": "spam"}]})

    request_id: str = Field(min_length=1, max_length=64, description="The `request_id` of the predict response.")
    index: int = Field(0, ge=0, description="The answer's `index` in that response (0 for the first input).")
    label: str = Field(min_length=1, max_length=200, description="The true class: one of the run's `labels`.")


class FeedbackResponse(BaseModel):
    request_id: str
    index: int
    label: str = Field(description="The true label, as stored.")
    answer: str = Field(description="What the API answered for this input.")
    correct: bool = Field(description="Whether the answer was the true label.")
    replaced: bool = Field(description="True when an earlier label for this answer was replaced by this one.")


class ModelInfo(BaseModel):
    id: int
    name: str
    title: str = Field(description="How the app names the run: '#12 sms · minilm · lora'.")
    dataset: str
    task: Literal["text", "image"]
    classes: list[str]
    model: str
    method: str
    metrics: dict[str, float] = Field(description="Test-set figures: accuracy, macro_f1 and the like.")
    threshold: float | None = None
    min_confidence: float | None = None
    backends: list[str] = Field(description="What can serve it (a predict request's `backend`): `pytorch` always, "
                                "`onnx-int8` once a verified export exists.")
    available: bool = Field(description="False when the run's saved model files are missing (deleted by hand).")
    finished_at: datetime | None = None


class ModelList(BaseModel):
    models: list[ModelInfo]


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable, for programs: e.g. missing_key, unknown_run, unreadable_image.")
    message: str = Field(description="One plain sentence saying what to fix.")


class ErrorBody(BaseModel):
    error: ErrorDetail
