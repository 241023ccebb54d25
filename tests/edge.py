"""A service's HTTP handler called as the edge calls it, without a listener: the request
carries the actor the edge takes from the verified bearer token, and whatever the handler returns or raises
becomes the response the edge would send (services/messaging/web.py)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from services.messaging.web import refusal, response_of


def request(
    method: str, body: Any = None, *, actor: str | None = "clerk", query=None, data=None
) -> Request:
    """A request as a handler receives it from the edge."""
    if body is not None:
        data = json.dumps(body, ensure_ascii=False).encode()
    built = EnvironBuilder(method=method, data=data, query_string=query).get_request()
    built.actor, built.identity = actor, None  # the token's person, as the edge sets them
    return built


def answer(service_cls: type, call: Callable[[], Any]) -> tuple[int, Any]:
    """The status and JSON body the edge sends for ``call()``, a handler of ``service_cls``."""
    try:
        response = response_of(call())
    except Exception as exc:  # the edge maps every refusal by the service's http_errors
        response = refusal(getattr(service_cls, "http_errors", {}), exc, "test")
    return response.status_code, json.loads(response.get_data())
