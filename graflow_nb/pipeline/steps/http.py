"""``type: http``: one HTTP request with the standard library, answer as data.

Params: ``url`` (http or https only), ``method`` (GET), ``headers``, ``query`` (added
to the URL, encoded), ``body`` (a string is sent as is; anything else as JSON with
``Content-Type: application/json``), ``check`` (true: a 4xx/5xx answer fails the step
with ``HttpStatusError``; false: it is returned like any other).  The step's
``timeout`` is the socket timeout in seconds (none by default).
Result: ``{"status", "headers", "body", "json"}`` (``json`` is the parsed body when the
answer says it is JSON, else None).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from ..errors import HttpStatusError, StepTimeoutError
from .base import StepContext, StepType

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]

SCHEMA = {
    "type": "object",
    "properties": {
        "url": {"type": "string", "minLength": 1},
        "method": {"type": "string", "enum": METHODS},
        "headers": {"type": "object", "additionalProperties": {"type": "string"}},
        "query": {"type": "object"},
        "body": {},
        "check": {"type": "boolean"},
    },
    "required": ["url"],
    "additionalProperties": False,
}


def _scheme_problem(url: str) -> str | None:
    if url.startswith("${"):
        return None
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme not in ("http", "https"):
        return f"url {url!r} must start with http:// or https:// (got scheme {scheme or 'none'!r})"
    return None


def check(step: dict[str, Any]) -> list[tuple[tuple, str]]:
    params = step.get("params")
    url = params.get("url") if isinstance(params, dict) else None
    problem = _scheme_problem(url) if isinstance(url, str) else None
    return [(("params", "url"), problem)] if problem else []


def _request(params: dict[str, Any]) -> urllib.request.Request:
    url = str(params["url"])
    problem = _scheme_problem(url)
    if problem:
        raise ValueError(problem)
    if params.get("query"):
        joiner = "&" if urllib.parse.urlsplit(url).query else "?"
        url += joiner + urllib.parse.urlencode({k: str(v) for k, v in params["query"].items()})
    headers = {str(k): str(v) for k, v in (params.get("headers") or {}).items()}
    body = params.get("body")
    data = None
    if body is not None:
        if isinstance(body, (bytes, str)):
            data = body.encode("utf-8") if isinstance(body, str) else body
        else:
            data = json.dumps(body).encode("utf-8")
            if not any(k.lower() == "content-type" for k in headers):
                headers["Content-Type"] = "application/json"
    return urllib.request.Request(url, data=data, headers=headers, method=params.get("method", "GET"))


def _answer(status: int, headers: Any, raw: bytes) -> dict[str, Any]:
    charset = headers.get_content_charset() or "utf-8"
    text = raw.decode(charset, errors="replace")
    parsed = None
    if "json" in (headers.get_content_type() or ""):
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
    return {"status": status, "headers": dict(headers.items()), "body": text, "json": parsed}


def run(params: dict[str, Any], step: StepContext) -> dict[str, Any]:
    request = _request(params)
    try:
        with urllib.request.urlopen(request, timeout=step.timeout) as response:
            answer = _answer(response.status, response.headers, response.read())
    except urllib.error.HTTPError as error:
        answer = _answer(error.code, error.headers, error.read())
        if params.get("check", True):
            raise HttpStatusError(request.get_method(), request.full_url, error.code, answer["body"]) from None
    except TimeoutError as error:
        raise StepTimeoutError(
            f"step {step.step_id!r}: {request.get_method()} {request.full_url} took longer than {step.timeout}s"
        ) from error
    except urllib.error.URLError as error:
        if isinstance(error.reason, TimeoutError):
            raise StepTimeoutError(
                f"step {step.step_id!r}: {request.get_method()} {request.full_url} took longer than {step.timeout}s"
            ) from error
        raise
    return answer


HTTP = StepType("http", run, params_schema=SCHEMA, supports_timeout=True, check=check)
