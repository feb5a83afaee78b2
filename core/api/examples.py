"""The curl and Python calls the README's Deploy section and the API keys page show, written once here.

tests/test_api.py checks that the README holds exactly these (for run 1 on the default address, feedback with the
label "spam") and runs them against a live server. The key comes from the environment variable TUNEBOARD_KEY, never
from the example itself; the feedback call takes the answer's request_id from REQUEST_ID.
"""

from __future__ import annotations

import json

DEFAULT_URL = "http://127.0.0.1:8000"
KEY_VARIABLE = "TUNEBOARD_KEY"
REQUEST_VARIABLE = "REQUEST_ID"
EXAMPLE_TEXTS = ["WINNER!! Claim your free prize now", "Are we still on for lunch?"]


def curl_example(run_id: int, task: str = "text", base_url: str = DEFAULT_URL, endpoint: str | None = None) -> str:
    """One shell line: a text run gets two texts as JSON, an image run one image file as multipart. With `endpoint`
    (a name storage.endpoints allows: letters, digits, - and _), the call goes to that endpoint instead of the run."""
    path = f"/v1/endpoints/{endpoint}/predict" if endpoint else f"/v1/models/{run_id}/predict"
    start = f'curl -s {base_url}{path} -H "Authorization: Bearer ${KEY_VARIABLE}"'
    if task == "image":
        return f"{start} -F files=@photo.jpg"
    return f"{start} -H \"Content-Type: application/json\" -d '{json.dumps({'texts': EXAMPLE_TEXTS})}'"


def feedback_example(label: str = "spam", base_url: str = DEFAULT_URL) -> str:
    """One shell line sending the true label of the first answer of the request in $REQUEST_ID."""
    # The JSON sits in single quotes with the request id spliced in (hex: nothing for the shell to split); a quote in
    # a class name is closed, escaped and reopened.
    quoted = json.dumps(label).replace("'", "'\\''")
    return (f'curl -s {base_url}/v1/feedback -H "Authorization: Bearer ${KEY_VARIABLE}" -H "Content-Type: '
            f'application/json" -d \'{{"request_id": "\'${REQUEST_VARIABLE}\'", "index": 0, "label": {quoted}}}\'')


def python_example(run_id: int, task: str = "text", base_url: str = DEFAULT_URL) -> str:
    """A short script with the standard library only (nothing to install)."""
    if task == "image":
        imports = "import base64, json, os, urllib.request"
        body = '{"images": [base64.b64encode(open("photo.jpg", "rb").read()).decode()]}'
    else:
        imports = "import json, os, urllib.request"
        body = json.dumps({"texts": EXAMPLE_TEXTS})
    return f'''{imports}

request = urllib.request.Request(
    "{base_url}/v1/models/{run_id}/predict",
    data=json.dumps({body}).encode(),
    headers={{"Authorization": f"Bearer {{os.environ['{KEY_VARIABLE}']}}", "Content-Type": "application/json"}},
)
with urllib.request.urlopen(request) as response:
    for answer in json.load(response)["predictions"]:
        print(answer["label"], round(answer["confidence"], 3), "(uncertain)" if answer["uncertain"] else "")
'''
