"""The HTTP edge: one listener per process and address, and everything every request needs.

    from services.messaging.web import http, read_json

    class ClaimsService:
        name = "claims"
        log_context = LogContext()                     # services.messaging.logs
        http_errors = {NotFound: 404, ClaimsError: 422}  # expected exceptions -> status

        @http("POST", "/claims/<string:claim_id>/submit", actor=True, max_body=64 * 1024)
        def http_submit(self, request, claim_id):
            return self.submit(claim_id, request.actor, read_json(request).get("not_applicable"))

A drop-in for nameko's `http`. nameko's WebServer is a SharedExtension per container and
binds with SO_REUSEPORT, so two services in one process (or two processes) each got a socket
on the same port and the kernel split requests between them. Here the first container to set
up binds the address (no SO_REUSEPORT: a second process fails at once with `AddressInUse`),
containers started later in the process add their routes to the same listener, each request
is handed to the owning container's entrypoint (that container spawns the worker), and the
listener closes when the last container using it stops.

The edge is the one place for, per request: the request id (`X-Request-Id` taken if sane,
else made; answered as a header; in the worker's context data, so logs and RPC calls carry
it), the actor (`X-Actor`, read here only), the body limit (HTTP_MAX_BODY bytes, or the
route's `max_body`; refused with 413 by Content-Length before the body is read, and a chunked
body is read only up to it), JSON error bodies, the mapping of a service's expected
exceptions (its `http_errors`) to statuses, a generic 500 with the request id for anything
else (the traceback goes to the masked log, never to the caller), and one access log line.

A handler answers a Response (passed on), `(status, body)`, or a body; bodies are JSON.
"""

from __future__ import annotations

import errno
import io
import json
import logging
import re
import time
import uuid
from collections.abc import Callable
from functools import partial
from typing import Any

import eventlet
from eventlet import wsgi
from eventlet.event import Event
from nameko.extensions import Entrypoint, ProviderCollector, SharedExtension
from nameko.web.server import HttpOnlyProtocol
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from services.messaging.errors import ConfigError
from services.messaging.http_address import (
    AddressInUse,
    BindAddress,
    HttpAddressError,
    parse_address,
)

_log = logging.getLogger(__name__)
access_log = logging.getLogger("services.messaging.web.access")

ADDRESS_KEY = "WEB_SERVER_ADDRESS"  # nameko's key, so `nameko run` configs keep working
DEFAULT_ADDRESS = "0.0.0.0:8000"
MAX_BODY_KEY = "HTTP_MAX_BODY"
DEFAULT_MAX_BODY = 16 * 1024 * 1024  # a roster workbook or an attachment, with room to spare
REQUEST_ID_HEADER = "X-Request-Id"
ACTOR_HEADER = "X-Actor"  # until authentication (issue 9): read here and nowhere else
GENERIC_ERROR = "服务器内部错误，请稍后重试；联系管理员时请提供请求编号"
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{8,128}")
_CLOSE = "mutual_aid.close_connection"


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


def json_response(status: int, body: Any, headers: dict | None = None) -> Response:
    return Response(
        json.dumps(body, ensure_ascii=False, default=str),
        status=status,
        headers=headers,
        mimetype="application/json",
    )


def _error(status: int, message: str, **extra: Any) -> Response:
    return json_response(status, {"error": message, **extra})


class _Protocol(HttpOnlyProtocol):
    """eventlet reads and discards an unread body to keep the connection alive; a refused
    body must not be read at all, so the edge can ask for the connection to close instead."""

    def get_environ(self):
        environ = super().get_environ()
        environ[_CLOSE] = self._close_after_response
        return environ

    def _close_after_response(self) -> None:
        self.close_connection = 1


def _listen(address: BindAddress):
    try:
        # No SO_REUSEPORT: with it a second process would share the port silently.
        return eventlet.listen((address.address, address.port), reuse_port=False)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise AddressInUse(
                f"HTTP address {address} is in use (another mutual-aid, or another program)"
            ) from None
        raise HttpAddressError(f"cannot listen on {address}: {exc.strerror}") from None


def check_address(address: BindAddress) -> None:
    """Raise AddressInUse now, before any service starts, if the address is taken (by
    another process: this one's own listener is joined, not refused)."""
    if address not in Listener._open:
        _listen(address).close()


class Listener:
    """One listening socket of the process, shared by every container that serves on its
    address; a WSGI app dispatching by route to the entrypoint that owns it."""

    _open: dict[BindAddress, Listener] = {}

    @classmethod
    def acquire(cls, address: BindAddress, user: object) -> Listener:
        listener = cls._open.get(address)
        if listener is None:
            listener = cls._open[address] = cls(address)
        listener.users.add(user)
        return listener

    def __init__(self, address: BindAddress):
        self.address = address
        self.users: set[object] = set()
        self.entrypoints: list[HttpEntrypoint] = []
        self.url_map = Map()
        self.sock = _listen(address)
        self.sock.settimeout(None)  # https://github.com/celery/kombu/issues/838, as nameko does
        self.server = wsgi.Server(
            self.sock,
            self.sock.getsockname(),
            self,
            protocol=_Protocol,
            log=logging.getLogger("services.messaging.web.wsgi"),
            log_output=False,  # the access log line is ours
            socket_timeout=60,
            keepalive=60,
        )
        self.connections: dict[Any, list] = {}
        self.pool = eventlet.GreenPool(10_000)
        self.accepting = eventlet.spawn(self._accept)

    def _accept(self) -> None:
        while True:
            client, address = self.sock.accept()
            client.settimeout(self.server.socket_timeout)
            state = self.connections[address] = [address, client, wsgi.STATE_IDLE]
            self.pool.spawn(self.server.process_request, state).link(self._closed, state)

    def _closed(self, _thread, state: list) -> None:
        self.connections.pop(state[0], None)
        state[1].close()

    def add(self, entrypoint: HttpEntrypoint) -> None:
        methods = set(entrypoint.method.split(","))
        for other in self.entrypoints:
            if other.url == entrypoint.url and methods & set(other.method.split(",")):
                raise ConfigError(f"{entrypoint}: {entrypoint.url} is served by {other} already")
        self.entrypoints.append(entrypoint)
        self.url_map = Map([e.url_rule() for e in self.entrypoints])

    def remove(self, entrypoint: HttpEntrypoint) -> None:
        self.entrypoints = [e for e in self.entrypoints if e is not entrypoint]
        self.url_map = Map([e.url_rule() for e in self.entrypoints])

    def release(self, user: object, wait: float = 1.0) -> None:
        """`user` no longer serves here; the last one out closes the socket, closes idle
        keep-alive connections and lets answers being written finish (for up to `wait` s)."""
        self.users.discard(user)
        if self.users or Listener._open.get(self.address) is not self:
            return
        del Listener._open[self.address]
        self.accepting.kill()
        self.sock.close()
        for state in list(self.connections.values()):
            if state[2] == wsgi.STATE_IDLE:
                state[1].close()  # its reader wakes up and the connection ends
            state[2] = wsgi.STATE_CLOSE
        with eventlet.Timeout(wait, False):
            self.pool.waitall()
        for thread in list(self.pool.coroutines_running):
            thread.kill()

    @classmethod
    def bound(cls) -> list[str]:
        """What the process listens on (`host:port`, the port chosen when 0 was asked)."""
        return [
            str(BindAddress(*listener.sock.getsockname()[:2])) for listener in cls._open.values()
        ]

    # ---- the WSGI app -----------------------------------------------------------------------

    def __call__(self, environ, start_response):
        started = time.monotonic()
        request_id = environ.get("HTTP_X_REQUEST_ID", "")
        if not _SANE_REQUEST_ID.fullmatch(request_id):
            request_id = uuid.uuid4().hex
        # shallow: nothing may read the body before the limit is checked
        request = Request(environ, shallow=True)
        entrypoint = None
        try:
            entrypoint, values = self.url_map.bind_to_environ(environ).match()
            response = entrypoint.answer(request, values, request_id)
        except NotFound:
            response = _error(404, f"没有这个地址: {request.path}")
        except MethodNotAllowed as exc:
            response = _error(405, f"{request.path} 不接受 {request.method}")
            response.headers["Allow"] = ", ".join(exc.valid_methods or ())
        except Exception:
            _log.exception("HTTP %s %s failed at the edge", request.method, request.path)
            response = _error(500, GENERIC_ERROR, request_id=request_id)
        response.headers[REQUEST_ID_HEADER] = request_id
        if response.status_code in (413, 503):
            environ[_CLOSE]()  # an unread body is not read to keep the connection
        access_log.info(
            "%s %s %s %.1fms",
            request.method,
            request.path,
            response.status_code,
            (time.monotonic() - started) * 1000,
            extra={
                "request_id": request_id,
                "actor": getattr(request, "actor", None),
                "service": entrypoint.container.service_name if entrypoint else None,
                "http_status": response.status_code,
            },
        )
        return response(environ, start_response)


class WebEdge(ProviderCollector, SharedExtension):
    """A container's share of the process's listener: binds it (or joins it) at setup, so
    an address in use stops the container before it consumes anything, and adds the
    container's routes at start."""

    def __init__(self):
        super().__init__()
        self.listener: Listener | None = None
        self.routes: list[HttpEntrypoint] = []

    def setup(self) -> None:
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
    """`@http(method, url, actor=False, max_body=None)`: nameko's signature, plus `actor`
    (the X-Actor header is required: 401 without it) and `max_body` (bytes, instead of
    HTTP_MAX_BODY). The service's `http_errors` maps its expected exceptions to statuses
    (the most specific class wins); a value may be `(status, extra)`, `extra(exc)` giving
    more keys for the JSON body."""

    edge = WebEdge()

    def __init__(self, method: str, url: str, actor: bool = False, max_body=None, **kwargs):
        self.method, self.url = method, url
        self.actor_required, self.route_max_body = actor, max_body
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
            HTTPException,
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
            return _error(413, f"请求体 {length} 字节，超过上限 {self.max_body} 字节")
        if self.stopping:
            return _error(503, "服务正在停止，请稍后重试")
        if (
            length is None
            and request.environ.get("HTTP_TRANSFER_ENCODING", "").lower() == "chunked"
        ):
            # no length to judge by: read one byte past the limit at most (eventlet de-chunks)
            body = request.environ["wsgi.input"].read(self.max_body + 1)
            if len(body) > self.max_body:
                return _error(413, f"请求体超过上限 {self.max_body} 字节")
            request.environ["wsgi.input"] = io.BytesIO(body)
            request.environ["CONTENT_LENGTH"] = str(len(body))
            del request.environ["HTTP_TRANSFER_ENCODING"]  # werkzeug would ignore the length
        request.shallow = False
        request.actor = request.headers.get(ACTOR_HEADER) or None
        if self.actor_required and not request.actor:
            return _error(401, f"缺少 {ACTOR_HEADER}（经办人）")
        context_data = {"request_id": request_id}
        if request.actor:
            context_data["actor"] = request.actor
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
        return _response(result)

    def _handle_result(self, done: Event, worker_ctx, result, exc_info):
        done.send((result, exc_info))
        return result, exc_info

    def _refusal(self, exc: BaseException, request_id: str) -> Response:
        if isinstance(exc, HttpError):
            return _error(exc.status, str(exc), **exc.extra)
        if isinstance(exc, HTTPException):
            return _error(exc.code or 500, exc.description or exc.name)
        for cls in type(exc).__mro__:
            if cls in self.errors:
                status, extra = self.errors[cls], None
                if isinstance(status, tuple):
                    status, extra = status
                return _error(status, str(exc), **(extra(exc) if extra else {}))
        # nameko logged the traceback in the worker (masked, with the request id); the
        # caller learns nothing of SQL or data, only whom to quote
        return _error(500, GENERIC_ERROR, request_id=request_id)


def _response(result: Any) -> Response:
    if isinstance(result, Response):
        return result
    if isinstance(result, tuple):
        status, *headers, body = result
        return json_response(status, body, headers[0] if headers else None)
    return json_response(200, result)


def _as_tuple(exceptions) -> tuple:
    return exceptions if isinstance(exceptions, tuple) else (exceptions,)


http = HttpEntrypoint.decorator
