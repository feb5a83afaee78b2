"""Request and response bodies of the API, as /docs shows them (field descriptions are the reference)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

BACKENDS = ("pytorch",)  # how a run can be served; onnx-int8 exports are not served yet


class PredictRequest(BaseModel):
    """One of `text`, `texts` or `images`. Images may also be sent as multipart files (field `files`)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"texts": ["WINNER!! Claim your free prize now", "Are we still on for lunch?"]}]})

    text: str | None = Field(None, description="One text to classify (a text run).")
    texts: list[str] | None = Field(None, description="Texts to classify (a text run); answers come in this order.")
    images: list[str] | None = Field(None, description="Images to classify (an image run), each as base64; a "
                                     "`data:image/...;base64,` prefix is allowed.")
    top_k: int = Field(5, ge=1, le=1000, description="How many of the most probable classes to return per input.")
    backend: Literal["pytorch"] = Field("pytorch", description="What runs the model: the saved PyTorch model.")


class ClassProbability(BaseModel):
    label: str
    probability: float = Field(description="Calibrated on the run's validation examples.")


class Prediction(BaseModel):
    index: int = Field(description="The input's position in the request, from 0.")
    name: str | None = Field(None, description="The file name, for images sent as files.")
    label: str = Field(description="The answer, by the run's decision rule (its two-class threshold, if set).")
    confidence: float = Field(description="The answer's calibrated probability.")
    uncertain: bool = Field(description="True when the confidence is below the run's operating point "
                            "(`min_confidence`): a person should check this answer.")
    top: list[ClassProbability] = Field(description="The `top_k` most probable classes, most probable first.")


class PredictResponse(BaseModel):
    run: int
    backend: str
    labels: list[str] = Field(description="Every class, in the run's order.")
    threshold: float | None = Field(None, description="Two classes: the answer is labels[1] when its calibrated "
                                    "probability reaches this; None: the most probable class.")
    min_confidence: float | None = Field(None, description="The run's operating point; None: no answer is marked "
                                         "uncertain.")
    temperature: float = Field(description="The calibration temperature fitted on the run's validation examples.")
    latency_ms: float = Field(description="Time spent predicting on the server, decoding and model included.")
    predictions: list[Prediction]


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
    backends: list[str]
    available: bool = Field(description="False when the run's saved model files are missing (deleted by hand).")
    finished_at: datetime | None = None


class ModelList(BaseModel):
    models: list[ModelInfo]


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable, for programs: e.g. missing_key, unknown_run, unreadable_image.")
    message: str = Field(description="One plain sentence saying what to fix.")


class ErrorBody(BaseModel):
    error: ErrorDetail
