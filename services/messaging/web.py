"""The HTTP edge: nameko's `http`, on one listener per process and address (http_listener.py).

    from services.messaging.web import http, read_json

    class ClaimsService:
        name = "claims"
        log_context = LogContext()                     # services.messaging.logs
        http_errors = {NotFound: 404, ClaimsError: 422}  # expected exceptions -> status
        access = Guard(POLICY)                          # services/access: who may call what

        @http("POST", "/claims/<string:claim_id>/submit", max_body=64 * 1024)
        def http_submit(self, request, claim_id):
            # request.actor: the verified token's person, "王芳 (sub)"
            return self.submit(claim_id, request.actor, read_json(request).get("not_applicable"))

    (A bank's callback, signed instead: `@http("POST", "/payments/callbacks/bank/<code>",
    auth=False)`. A route needing a token in a service without a Guard stops it at setup.)

A drop-in for nameko's `http`. Each container's `WebEdge` joins the process's listener for
its WEB_SERVER_ADDRESS (the first binds it, at setup, so an address in use stops the container
before it consumes anything), adds its routes at start and leaves when it stops (the last
one out closes the socket); each request is handed to the entrypoint owning the route, and
that container spawns the worker.

The edge is the one place for, per request: the request id (made or taken by the listener,
put in the worker's context data here, so logs and RPC calls carry it), the caller's identity
(`Authorization: Bearer <JWT>`, verified here only, services/access/tokens.py: 401 when
missing or bad; put in the context data as `identity`, where the service's Guard checks its
access table, services/access/guard.py; only routes signed by their callers, bank and SMS
callbacks, say `auth=False`), the body limit (HTTP_MAX_BODY bytes, or the route's `max_body`;
refused with 413 by Content-Length before the body is read; a chunked body is read one byte
past it at most), JSON error bodies, the mapping of a service's expected exceptions (its
`http_errors`) to statuses, and a generic 500 with the request id for anything else (the
traceback goes to the masked log, never to the caller).

A handler answers a Response (passed on), `(status, body)`, or a body; bodies are JSON.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from functools import partial
from typing import Any

from eventlet.event import Event
from nameko.extensions import Entrypoint, ProviderCollector, SharedExtension
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from services.access.guard import IDENTITY_KEY, Guard
from services.access.policy import Forbidden
from services.access.tokens import AuthSettings, TokenRefused, TokenVerifier
from services.messaging.http_address import parse_address
from services.messaging.http_listener import GENERIC_ERROR, Listener, json_error, json_response

ADDRESS_KEY = "WEB_SERVER_ADDRESS"  # nameko's key, so `nameko run` configs keep working
DEFAULT_ADDRESS = "0.0.0.0:8000"
MAX_BODY_KEY = "HTTP_MAX_BODY"
DEFAULT_MAX_BODY = 16 * 1024 * 1024  # a roster workbook or an attachment, with room to spare


class HttpError(Exception):
    """A refusal with its own status, raised by a handler or the edge: JSON `{"error": …}`."""

    def __init__(self, status: int, message: str, **extra: Any):
        super().__init__(message)
        self.status, self.extra = status, extra


def read_json(request: Request) -> dict:
    """The request's body as a JSON object ({} when empty); 400 when it is not one."""
    data = request.get_data()
    if not data:
        return {}
    try:
        body = json.loads(data)
    except ValueError:
        raise HttpError(400, "请求体不是有效的 JSON") from None
    if not isinstance(body, dict):
        raise HttpError(400, "请求体应为 JSON 对象")
    return body


class WebEdge(ProviderCollector, SharedExtension):
    """A container's share of the process's listener: binds it (or joins it) at setup, so
    an address in use stops the container before it consumes anything, and adds the
    container's routes at start."""

    def __init__(self):
        super().__init__()
        self.listener: Listener | None = None
        self.routes: list[HttpEntrypoint] = []
        self.verifier: TokenVerifier | None = None

    def setup(self) -> None:
        self.verifier = TokenVerifier(AuthSettings.from_config(self.container.config))
        address = parse_address(self.container.config.get(ADDRESS_KEY, DEFAULT_ADDRESS))
        self.listener = Listener.acquire(address, self)

    def start(self) -> None:
        self.routes = list(self._providers)
        for entrypoint in self.routes:
            self.listener.add(entrypoint)

    def stop(self) -> None:
        self.wait_for_providers()
        self._leave()
        super().stop()

    def kill(self) -> None:
        self._leave()
        super().kill()

    def _leave(self) -> None:
        if self.listener is not None:
            for entrypoint in self.routes:
                self.listener.remove(entrypoint)
            self.listener.release(self)
            self.listener = None


ErrorMapping = dict[type[BaseException], "int | tuple[int, Callable[[Any], dict]]"]


class HttpEntrypoint(Entrypoint):
    """`@http(method, url, auth=True, max_body=None)`: nameko's signature, plus `auth` (a
    verified bearer token is required: 401 without it; False only for routes whose callers
    sign their requests) and `max_body` (bytes, instead of HTTP_MAX_BODY). The service's `http_errors` maps its expected exceptions to statuses
    (the most specific class wins); a value may be `(status, extra)`, `extra(exc)` giving
    more keys for the JSON body."""

    edge = WebEdge()

    def __init__(self, method: str, url: str, auth: bool = True, max_body=None, **kwargs):
        self.method, self.url = method, url
        self.auth, self.route_max_body = auth, max_body
        self.stopping = False
        super().__init__(**kwargs)

    def url_rule(self) -> Rule:
        return Rule(self.url, methods=self.method.split(","), endpoint=self)

    def setup(self) -> None:
        config = self.container.config
        self.max_body = int(self.route_max_body or config.get(MAX_BODY_KEY, DEFAULT_MAX_BODY))
        self.errors: ErrorMapping = dict(getattr(self.container.service_cls, "http_errors", {}))
        # expected: nameko logs them as warnings, not as errors with a traceback
        self.expected_exceptions = (
            *_as_tuple(self.expected_exceptions),
            *self.errors,
            HttpError,
            Forbidden,
            HTTPException,
        )
        if self.auth and not any(
            isinstance(d, Guard) for d in self.container.dependencies
        ):  # a verified token and no table would let every role in
            raise ValueError(
                f"{self.container.service_name}.{self.method_name}: a route needing a token in "
                "a service without an access table (services/access/guard.py: Guard)"
            )
        self.edge.register_provider(self)

    def stop(self) -> None:
        self.stopping = True  # requests still arriving are told so; running ones finish
        self.edge.unregister_provider(self)
        super().stop()

    def answer(self, request: Request, values: dict, request_id: str) -> Response:
        """Runs in the connection's greenthread: checks, then a worker of this container."""
        length = request.content_length
        if length is not None and length > self.max_body:
            return json_error(413, f"请求体 {length} 字节，超过上限 {self.max_body} 字节")
        if self.stopping:
            return json_error(503, "服务正在停止，请稍后重试")
        if (
            length is None
            and request.environ.get("HTTP_TRANSFER_ENCODING", "").lower() == "chunked"
        ):
            # no length to judge by: read one byte past the limit at most (eventlet de-chunks)
            body = request.environ["wsgi.input"].read(self.max_body + 1)
            if len(body) > self.max_body:
                return json_error(413, f"请求体超过上限 {self.max_body} 字节")
            request.environ["wsgi.input"] = io.BytesIO(body)
            request.environ["CONTENT_LENGTH"] = str(len(body))
            del request.environ["HTTP_TRANSFER_ENCODING"]  # werkzeug would ignore the length
        context_data = {"request_id": request_id}
        request.identity = request.actor = None
        if self.auth:
            try:
                request.identity = self.edge.verifier.verify(bearer_token(request))
            except TokenRefused as exc:
                return json_response(401, {"error": str(exc)}, {"WWW-Authenticate": "Bearer"})
            request.actor = request.identity.actor  # for the access line and the logs
            context_data[IDENTITY_KEY] = request.identity.to_context()
            context_data["actor"] = request.actor
        request.shallow = False
        self.check_signature((request,), values)
        done = Event()
        self.container.spawn_worker(
            self,
            (request,),
            values,
            context_data=context_data,
            handle_result=partial(self._handle_result, done),
        )
        result, exc_info = done.wait()
        if exc_info is not None:
            return self._refusal(exc_info[1], request_id)
        return response_of(result)

    def _handle_result(self, done: Event, worker_ctx, result, exc_info):
        done.send((result, exc_info))
        return result, exc_info

    def _refusal(self, exc: BaseException, request_id: str) -> Response:
        return refusal(self.errors, exc, request_id)


def refusal(errors: ErrorMapping, exc: BaseException, request_id: str) -> Response:
    """The answer to a handler that raised: its mapped status and message, or a generic 500
    naming only the request id."""
    if isinstance(exc, HttpError):
        return json_error(exc.status, str(exc), **exc.extra)
    if isinstance(exc, Forbidden):
        return json_error(403, str(exc))
    if isinstance(exc, HTTPException):
        return json_error(exc.code or 500, f"请求有误（{exc.code} {exc.name}）")
    for cls in type(exc).__mro__:
        if cls in errors:
            status, extra = errors[cls], None
            if isinstance(status, tuple):
                status, extra = status
            return json_error(status, str(exc), **(extra(exc) if extra else {}))
    # nameko logged the traceback in the worker (masked, with the request id); the caller
    # learns nothing of SQL or data, only whom to quote
    return json_error(500, GENERIC_ERROR, request_id=request_id)


def bearer_token(request: Request) -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise TokenRefused("缺少 Authorization: Bearer 令牌")
    return token.strip()


def response_of(result: Any) -> Response:
    """A handler's return value as a response: a body, `(status, body)`, `(status, headers,
    body)` or a Response."""
    if isinstance(result, Response):
        return result
    if isinstance(result, tuple):
        status, *headers, body = result
        return json_response(status, body, headers[0] if headers else None)
    return json_response(200, result)


def _as_tuple(exceptions) -> tuple:
    return exceptions if isinstance(exceptions, tuple) else (exceptions,)


http = HttpEntrypoint.decorator
