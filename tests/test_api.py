"""The prediction API over real HTTP: `python -m core serve` in a subprocess (tests/live_api.py) on real finished runs
(tiny models trained through the CLI, tests/finished_runs.py), keys made through storage as the API keys page makes
them. Plus fast checks of the rate limit, the model cache and --no-auth."""

from __future__ import annotations

import argparse
import base64
import http.client
import io
import json
import os
import re
import shutil
import subprocess
import sys
import time

import pytest
from PIL import Image

from core.api.auth import RateLimiter
from core.api.examples import DEFAULT_URL, REQUEST_VARIABLE, curl_example, feedback_example, python_example
from core.api.model_cache import ModelCache
from core.cli import serve
from storage.api_keys import create_key, revoke_key
from storage.api_log import logged_answers
from storage.export_queue import request_export
from storage.db import reset_engines
from tests.conftest import ROOT
from tests.finished_runs import build_queued_exports, image_run, text_run
from tests.live_api import LiveApi, multipart

TEXTS = ["WINNER!! Claim your FREE prize now, call 09061234567", "Are we still on for lunch at 12 with Sam?"]


# --- Fast: the pieces, without a server -----------------------------------------------------------------------------


def test_the_rate_limit_allows_a_burst_then_one_request_per_share_of_a_minute():
    now = [0.0]
    limiter = RateLimiter(clock=lambda: now[0])
    assert [limiter.take(1, 3) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take(1, 3) == pytest.approx(20.0)  # 3 a minute: the next in 20 s
    assert limiter.take(2, 3) == 0.0  # another key has its own allowance
    now[0] = 19.0
    assert limiter.take(1, 3) == pytest.approx(1.0)
    now[0] = 20.0
    assert limiter.take(1, 3) == 0.0


def test_the_model_cache_keeps_the_most_recently_used_within_its_bounds():
    loads = []

    class Loaded:
        def __init__(self, path):
            loads.append(path.name)

    def get(key, stamp, name):
        return cache.get(key, stamp, lambda: Loaded(ROOT / name))

    cache = ModelCache(max_models=2)
    first = get(1, "a", "one")
    assert get(1, "a", "one") is first and loads == ["one"]
    get(2, "a", "two")
    get(1, "a", "one")  # run 1 used last: run 2 goes when run 3 comes
    get(3, "a", "three")
    assert cache.loaded() == [1, 3] and loads == ["one", "two", "three"]
    get(1, "saved again", "one")  # a new stamp loads afresh
    assert loads[-1] == "one" and len(loads) == 4


def test_no_auth_is_refused_off_loopback(capsys):
    args = argparse.Namespace(host="0.0.0.0", port=8000, no_auth=True, max_body_mb=32.0, max_models=None)
    assert serve.main(args) == 2
    assert "--no-auth is refused with --host 0.0.0.0" in capsys.readouterr().err
    assert serve.is_loopback("127.0.0.1") and serve.is_loopback("::1") and serve.is_loopback("localhost")
    assert not serve.is_loopback("0.0.0.0") and not serve.is_loopback("192.168.1.5")


# --- Over HTTP, against a live server ---------------------------------------------------------------------------------


def live(trained, folder, *args: str):
    home = folder / "home"
    shutil.copytree(trained.home, home)
    api = LiveApi(home, *args).start()
    try:
        yield api
    finally:
        api.stop()


@pytest.fixture(scope="module")
def text_api(tmp_path_factory):
    # a 1 MB body limit, so a test can pass it cheaply
    yield from live(text_run(), tmp_path_factory.mktemp("text_api"), "--max-body-mb", "1")


@pytest.fixture(scope="module")
def image_api(tmp_path_factory):
    yield from live(image_run(), tmp_path_factory.mktemp("image_api"))


@pytest.fixture
def on_text_api(text_api, tuneboard_home, monkeypatch):
    """The server's data folder as this test's own: keys made here are the server's keys."""
    monkeypatch.setenv("TUNEBOARD_HOME", str(text_api.home))
    reset_engines()
    return text_api


@pytest.fixture
def on_image_api(image_api, tuneboard_home, monkeypatch):
    monkeypatch.setenv("TUNEBOARD_HOME", str(image_api.home))
    reset_engines()
    return image_api


def expected_answers(run_id: int, inputs: list) -> list[tuple[str, float, bool]]:
    """What the saved model says by the run's decision rule, computed here, outside the server."""
    from core.evaluation.decision import DecisionRule
    from core.serving.inference import load_predictor
    from storage.results import run_result

    run = run_result(run_id)
    rule = DecisionRule.of_run(run)
    return [rule.decide_one(p)[:3] for p in load_predictor(run.output_dir).predict(inputs)]


@pytest.mark.slow  # a finished run and an API server in a subprocess
def test_predict_with_a_key_answers_by_the_runs_decision_rule(on_text_api):
    from storage.results import save_min_confidence

    api = on_text_api
    info, key = create_key("tests")
    listed = api.call("GET", "/v1/models", key)
    assert listed.status == 200
    (model,) = listed.body["models"]
    assert (model["id"], model["task"], model["classes"], model["available"]) == (1, "text", ["ham", "spam"], True)
    assert set(model["metrics"]) >= {"accuracy", "macro_f1"}

    answer = api.call("POST", "/v1/models/1/predict", key, {"texts": TEXTS, "top_k": 2})
    assert answer.status == 200, answer.body
    got = [(p["label"], p["confidence"], p["uncertain"]) for p in answer.body["predictions"]]
    for (label, confidence, uncertain), want in zip(got, expected_answers(1, TEXTS)):
        assert (label, uncertain) == want[::2] and confidence == pytest.approx(want[1], abs=1e-5)
    first = answer.body["predictions"][0]
    assert [c["label"] for c in first["top"]][0] == first["label"] and len(first["top"]) == 2
    # Each answer is logged for the Monitor page (after the reply is sent, so it may take a moment), without its input.
    deadline = time.monotonic() + 10
    while len(log := logged_answers(1)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    mine = log[log["key_id"] == info.id]
    assert mine[["label", "uncertain"]].values.tolist() == [[label, uncertain] for label, _, uncertain in got]
    assert (mine["latency_ms"] == answer.body["latency_ms"]).all() and mine["request_id"].nunique() == 1

    save_min_confidence(1, 0.999)  # an operating point no answer of this tiny model reaches: all are uncertain
    try:
        one = api.call("POST", "/v1/models/1/predict", key, {"text": TEXTS[0]})
        assert one.body["min_confidence"] == 0.999 and one.body["predictions"][0]["uncertain"] is True
    finally:
        save_min_confidence(1, None)


@pytest.mark.slow  # a finished run and an API server in a subprocess
def test_no_key_an_unknown_key_and_a_revoked_key_get_401(on_text_api):
    api = on_text_api
    for key, code in ((None, "missing_key"), ("tb_not-one-of-ours", "invalid_key")):
        answer = api.call("POST", "/v1/models/1/predict", key, {"text": "hello"})
        assert (answer.status, answer.body["error"]["code"]) == (401, code)
        assert answer.headers.get("www-authenticate") == "Bearer"
        assert "API keys page" in answer.body["error"]["message"]
    assert api.call("GET", "/v1/models").status == 401
    info, key = create_key("soon revoked")
    assert api.call("POST", "/v1/models/1/predict", key, {"text": "hello"}).status == 200
    revoke_key(info.id)
    answer = api.call("POST", "/v1/models/1/predict", key, {"text": "hello"})
    assert answer.status == 401 and answer.body["error"] == {
        "code": "revoked_key", "message": "This API key was revoked; create one on Tuneboard's API keys page."}


@pytest.mark.slow  # a finished run and an API server in a subprocess
def test_too_large_a_body_or_batch_gets_413_and_a_busy_key_429(on_text_api):
    api = on_text_api
    _, key = create_key("tests", requests_per_minute=3)
    big = api.call("POST", "/v1/models/1/predict", key, {"texts": ["x" * 1000] * 3000})  # 3 MB
    assert big.status == 413 and big.body["error"]["code"] == "body_too_large"
    assert "(1 MB)" in big.body["error"]["message"]
    many = api.call("POST", "/v1/models/1/predict", key, {"texts": ["hi"] * 257})
    assert many.status == 413 and many.body["error"] == {
        "code": "too_many_inputs", "message": "The request holds 257 texts; send at most 256 per request."}
    assert api.call("GET", "/v1/models", key).status == 200
    # The big body was refused before its key was looked at; the batch, the call above and this one spend the 3.
    assert api.call("GET", "/v1/models", key).status == 200
    busy = api.call("GET", "/v1/models", key)
    assert busy.status == 429 and busy.body["error"]["code"] == "rate_limited"
    assert int(busy.headers["retry-after"]) >= 1


@pytest.mark.slow  # a finished run and an API server in a subprocess
def test_a_client_still_sending_a_body_too_large_reads_the_413_not_a_broken_pipe(on_text_api):
    # The headers go first and the body half a second later, as a slow uplink sends them: a server that answered at
    # once and closed the connection would make the sending fail before the client reads any answer.
    _, key = create_key("tests")
    body = json.dumps({"texts": ["x" * 1000] * 2000}).encode()  # 2 MB against the test server's 1 MB
    connection = http.client.HTTPConnection("127.0.0.1", on_text_api.port, timeout=60)
    connection.putrequest("POST", "/v1/models/1/predict")
    for name, value in {"Authorization": f"Bearer {key}", "Content-Type": "application/json",
                        "Content-Length": str(len(body))}.items():
        connection.putheader(name, value)
    connection.endheaders()
    time.sleep(0.5)
    for start in range(0, len(body), 64 * 1024):
        connection.send(body[start:start + 64 * 1024])
    answer = connection.getresponse()
    assert answer.status == 413 and json.loads(answer.read())["error"]["code"] == "body_too_large"
    connection.close()


@pytest.mark.slow  # a finished run and an API server in a subprocess
def test_mistakes_in_a_request_get_one_plain_sentence(on_text_api):
    api = on_text_api
    _, key = create_key("tests")
    cases = [
        ({"texts": [1]}, 422, "invalid_request", "texts[0]: Input should be a valid string."),
        ({"images": ["aGVsbG8="]}, 422, "wrong_input_kind", "Run 1 classifies texts, not images; send `text` or `texts`."),
        ({"texts": []}, 422, "no_inputs", None),
    ]
    for body, status, code, message in cases:
        answer = api.call("POST", "/v1/models/1/predict", key, body)
        assert (answer.status, answer.body["error"]["code"]) == (status, code)
        assert message is None or answer.body["error"]["message"] == message
    answer = api.call("POST", "/v1/models/1/predict", key, data=b"{not json", headers={"Content-Type": "application/json"})
    assert (answer.status, answer.body["error"]["code"]) == (422, "invalid_json")
    assert api.call("POST", "/v1/models/7/predict", key, {"text": "hi"}).body["error"]["code"] == "unknown_run"
    assert api.call("GET", "/v1/nothing", key).body["error"]["code"] == "not_found"


@pytest.mark.slow  # an image run and an API server in a subprocess
def test_a_bad_image_gets_one_plain_json_error_and_good_ones_the_models_answer(on_image_api):
    api = on_image_api
    _, key = create_key("tests")
    not_image = api.call("POST", "/v1/models/1/predict", key, {"images": [base64.b64encode(b"plain text").decode()]})
    assert not_image.status == 422 and not_image.body == {"error": {
        "code": "unreadable_image",
        "message": "image 0 could not be read: not an image, or a kind of image that cannot be read. Try a JPEG or PNG."}}
    buffer = io.BytesIO()
    Image.new("RGB", (48, 40), (200, 180, 40)).save(buffer, format="PNG")
    png = buffer.getvalue()
    body, headers = multipart([("good.png", png), ("broken.png", png[: len(png) // 2])])
    broken = api.call("POST", "/v1/models/1/predict", key, data=body, headers=headers)
    assert broken.status == 422 and broken.body["error"]["code"] == "unreadable_image"
    assert broken.body["error"]["message"].startswith("broken.png could not be read: damaged or cut off")
    bad_base64 = api.call("POST", "/v1/models/1/predict", key, {"images": ["%%%"]})
    assert bad_base64.body["error"] == {"code": "invalid_base64", "message": "Image 0 is not valid base64; send each "
                                        "image's bytes encoded as base64 text."}
    texts = api.call("POST", "/v1/models/1/predict", key, {"texts": ["a bee"]})
    assert texts.body["error"]["code"] == "wrong_input_kind"

    body, headers = multipart([("good.png", png)])
    as_file = api.call("POST", "/v1/models/1/predict", key, data=body, headers=headers)
    as_base64 = api.call("POST", "/v1/models/1/predict", key,
                         {"images": ["data:image/png;base64," + base64.b64encode(png).decode()]})
    assert as_file.status == as_base64.status == 200
    (by_file,), (by_base64,) = as_file.body["predictions"], as_base64.body["predictions"]
    assert by_file["name"] == "good.png" and by_file["top"] == by_base64["top"]
    ((label, confidence, _),) = expected_answers(1, [Image.open(io.BytesIO(png)).convert("RGB")])
    assert by_file["label"] == label and by_file["confidence"] == pytest.approx(confidence, abs=1e-5)


def readme_blocks(language: str) -> list[str]:
    deploy = (ROOT / "README.md").read_text().split("## Deploy")[1].split("\n## ")[0]
    return re.findall(rf"```{language}\n(.*?)```", deploy, re.DOTALL)


@pytest.mark.slow  # a finished run and an API server in a subprocess
def test_the_readmes_curl_and_python_examples_work_as_shown(on_text_api):
    api = on_text_api
    curl, feedback = [block for block in readme_blocks("bash") if block.startswith("curl")]
    (python,) = readme_blocks("python")
    # The README shows what the API keys page shows for run 1 on the default address.
    assert curl.strip() == curl_example(1) and python == python_example(1) and feedback.strip() == feedback_example()
    _, key = create_key("readme")
    env = {**os.environ, "TUNEBOARD_KEY": key}
    # Run exactly as shown, on this test's server instead of port 8000 (which may be taken on a test machine).
    done = subprocess.run(["bash", "-c", curl.replace(DEFAULT_URL, api.url)], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    answered = json.loads(done.stdout)
    assert [a["label"] in ("ham", "spam") for a in answered["predictions"]] == [True, True]
    env[REQUEST_VARIABLE] = answered["request_id"]
    done = subprocess.run(["bash", "-c", feedback.replace(DEFAULT_URL, api.url)], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    stored = json.loads(done.stdout)
    assert (stored["request_id"], stored["index"], stored["label"]) == (answered["request_id"], 0, "spam"), stored
    done = subprocess.run([sys.executable, "-c", python.replace(DEFAULT_URL, api.url)], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 2 and all(re.match(r"(ham|spam) 0\.\d+", line) for line in lines)


@pytest.mark.slow  # two finished runs, their API servers, and a real int8 export of each by a real worker
@pytest.mark.parametrize("kind", ["text", "image"])
def test_the_onnx_int8_backend_serves_the_verified_export_and_answers_as_the_pytorch_model(kind, request):
    api = request.getfixturevalue(f"on_{kind}_api")
    _, key = create_key("tests")
    if kind == "text":
        def ask(backend: str | None = None):
            return api.call("POST", "/v1/models/1/predict", key, {"texts": TEXTS, **({"backend": backend} if backend else {})})
    else:
        photos = []
        for colour in ((200, 180, 40), (30, 60, 200), (120, 120, 120)):
            buffer = io.BytesIO()
            Image.new("RGB", (48, 40), colour).save(buffer, format="PNG")
            photos.append((f"{colour[0]}.png", buffer.getvalue()))

        def ask(backend: str | None = None):
            body, headers = multipart(photos)
            if backend:  # a form field beside the files
                body = body.replace(b"--tuneboard-test-boundary--", b"--tuneboard-test-boundary\r\nContent-Disposition: "
                                    b"form-data; name=\"backend\"\r\n\r\n" + backend.encode() + b"\r\n--tuneboard-test-boundary--")
            return api.call("POST", "/v1/models/1/predict", key, data=body, headers=headers)

    before = ask("onnx-int8")
    assert before.status == 409 and before.body["error"]["code"] == "backend_not_exported"
    assert api.call("GET", "/v1/models", key).body["models"][0]["backends"] == ["pytorch"]

    request_export(1, "onnx-int8")
    build_queued_exports()
    assert api.call("GET", "/v1/models", key).body["models"][0]["backends"] == ["pytorch", "onnx-int8"]
    by_pytorch, by_onnx = ask(), ask("onnx-int8")
    assert by_onnx.status == 200 and (by_pytorch.body["backend"], by_onnx.body["backend"]) == ("pytorch", "onnx-int8")
    for ours, theirs in zip(by_pytorch.body["predictions"], by_onnx.body["predictions"], strict=True):
        # int8 weights move probabilities a little; the export was refused had it changed the test set's answers
        assert theirs["label"] == ours["label"] and theirs["confidence"] == pytest.approx(ours["confidence"], abs=0.05)
    assert ask("tensorflow").status == 422
