"""The prediction API: `python -m core serve` puts finished runs behind HTTP (FastAPI on uvicorn, docs at /docs).

    app.py          the application: /v1/models, the predict routes and /v1/feedback, built by create_app(settings)
    auth.py         API keys (Authorization: Bearer, checked against storage.api_keys) and a rate limit per key
    limits.py       what one request may hold (body bytes, inputs, text length, image pixels) and the body-size guard
    errors.py       every refusal as {"error": {"code", "message"}}: a stable code and one plain sentence
    schemas.py      request and response bodies, as the OpenAPI docs show them
    prediction.py   a request's inputs -> the run's decision rule (core.evaluation.decision), as Predict and the CLI
    model_cache.py  loaded models, least recently used out past a count and a memory bound
    endpoints.py    which run answers a request to a named endpoint: champion, challenger by share, or shadow
    answer_log.py   logging answers after the reply, and feedback: the true label of an answer (POST /v1/feedback)
    monitoring.py   what the Monitor page shows: traffic, live accuracy, drift, champion against challenger
"""
