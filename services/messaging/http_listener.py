"""One listening socket per process and HTTP address, shared by the services in the process.

nameko's WebServer is a SharedExtension per container and listens with SO_REUSEPORT, so two
services in one process (or two processes) each had a socket on the same port and the kernel
split requests between them. A `Listener` is bound once (no SO_REUSEPORT: another process is
refused, `AddressInUse`); services.messaging.web's entrypoints add their routes to it and it
hands each request to the entrypoint that owns the route. What every request gets, whichever
service answers, happens here too: the request id (`X-Request-Id` taken if sane, else made,
and answered), JSON for unknown routes and edge failures, and one access log line (method,
path, status, duration, request id, actor, service).
"""

from __future__ import annotations

import errno
import functools
import json
import logging
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import eventlet
from eventlet import greenio, wsgi
from nameko.web.server import HttpOnlyProtocol
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from services.messaging import metrics
from services.messaging.errors import ConfigError
from services.messaging.http_address import AddressInUse, BindAddress, HttpAddressError

_log = logging.getLogger(__name__)
access_log = logging.getLogger("services.messaging.web.access")

REQUEST_ID_HEADER = "X-Request-Id"
GENERIC_ERROR = "服务器内部错误，请稍后重试；联系管理员时请提供请求编号"
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{8,128}")
CLOSE_CONNECTION = "mutual_aid.close_connection"  # environ key: close after this answer


def json_response(status: int, body: Any, headers: dict | None = None) -> Response:
    return Response(
        json.dumps(body, ensure_ascii=False, default=str),
        status=status,
        headers=headers,
        mimetype="application/json",
    )


def json_error(status: int, message: str, **extra: Any) -> Response:
    return json_response(status, {"error": message, **extra})


@dataclass(frozen=True)
class ProcessRoute:
    """A GET route of the process itself rather than of a service: health, metrics, the
    OpenAPI document (services/messaging/health.py, metrics.py, openapi.py register them).

    `public=True` is the flag the access-control edge reads: probes (the kubelet, compose)
    and the Prometheus scraper carry no token, so these routes must answer without one. Keep
    a public route free of personal data: it says whether the process works, never what
    about whom."""

    url: str
    answer: Callable[[Listener, Request, dict], Response]
    public: bool = True


PROCESS_ROUTES: dict[str, ProcessRoute] = {}  # by url; matched before the services' routes


def process_route(url: str, public: bool = True):
    """Register `answer(listener, request, values)` for GET `url` on every listener."""

    def register(answer):
        PROCESS_ROUTES[url] = ProcessRoute(url, answer, public)
        return answer

    return register


@functools.lru_cache(maxsize=4)
def _process_map(urls: tuple[str, ...]) -> Map:
    return Map([Rule(url, endpoint=PROCESS_ROUTES[url]) for url in urls])


class _Protocol(HttpOnlyProtocol):
    """eventlet reads and discards an unread body to keep the connection alive; a refused
    body must not be read at all, so the edge can ask for the connection to close instead."""

    def get_environ(self):
        environ = super().get_environ()
        environ[CLOSE_CONNECTION] = self._close_after_response
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
        self.entrypoints: list[Any] = []
        self._url_map: Map | None = Map()
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

    def add(self, entrypoint: Any) -> None:
        methods = set(entrypoint.method.split(","))
        for other in self.entrypoints:
            if other.url == entrypoint.url and methods & set(other.method.split(",")):
                raise ConfigError(f"{entrypoint}: {entrypoint.url} is served by {other} already")
        self.entrypoints.append(entrypoint)
        self._url_map = None

    def remove(self, entrypoint: Any) -> None:
        self.entrypoints = [e for e in self.entrypoints if e is not entrypoint]
        self._url_map = None

    @property
    def url_map(self) -> Map:
        """The routes, compiled when first asked after a change: building the map on each
        add and remove compiled every rule again per route (five services: ~0.5 s of a
        2-second stop, the same again at start)."""
        if self._url_map is None:
            self._url_map = Map([e.url_rule() for e in self.entrypoints])
        return self._url_map

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
                # shut down, not only closed: a green close leaves the reader waiting on the
                # descriptor (a client's keep-alive connection held every stop for the whole
                # `wait`); shut down, its read returns nothing and the connection ends now
                greenio.shutdown_safe(state[1])
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
        route = "-"  # the metrics' label: the route's rule, never the path (ids would explode it)
        try:
            process_route, values = self._process_route(environ)
            if process_route is not None:
                route = process_route.url
                response = process_route.answer(self, request, values)
            else:
                entrypoint, values = self.url_map.bind_to_environ(environ).match()
                route = entrypoint.url
                response = entrypoint.answer(request, values, request_id)
        except NotFound:
            response = json_error(404, f"没有这个地址: {request.path}")
        except MethodNotAllowed as exc:
            response = json_error(405, f"{request.path} 不接受 {request.method}")
            response.headers["Allow"] = ", ".join(exc.valid_methods or ())
        except Exception:
            _log.exception("HTTP %s %s failed at the edge", request.method, request.path)
            response = json_error(500, GENERIC_ERROR, request_id=request_id)
        response.headers[REQUEST_ID_HEADER] = request_id
        if response.status_code in (413, 503):
            environ[CLOSE_CONNECTION]()  # an unread body is not read to keep the connection
        elapsed = time.monotonic() - started
        service = entrypoint.container.service_name if entrypoint else "-"
        metrics.observe_request(service, request.method, route, response.status_code, elapsed)
        access_log.info(
            "%s %s %s %.1fms",
            request.method,
            request.path,
            response.status_code,
            elapsed * 1000,
            extra={
                "request_id": request_id,
                "actor": getattr(request, "actor", None),
                "service": entrypoint.container.service_name if entrypoint else None,
                "http_status": response.status_code,
            },
        )
        return response(environ, start_response)

    def _process_route(self, environ) -> tuple[ProcessRoute | None, dict]:
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            return None, {}
        try:
            return _process_map(tuple(PROCESS_ROUTES)).bind_to_environ(environ).match()
        except HTTPException:
            return None, {}

    def services(self) -> list[Any]:
        """The containers serving on this listener, in the order they joined."""
        seen: dict[int, Any] = {}
        for entrypoint in self.entrypoints:
            seen.setdefault(id(entrypoint.container), entrypoint.container)
        return list(seen.values())
