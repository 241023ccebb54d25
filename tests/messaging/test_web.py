"""The HTTP edge (services/messaging/web.py): one listener per process and address, shared by
the containers in it, and the checks, ids, errors and log lines every request gets.

The services here have only HTTP entrypoints (no broker needed) unless a test says otherwise;
they run in nameko's own `container_factory`.
"""

from __future__ import annotations

import io
import json
import logging
import socket
import subprocess
import sys
import time

import eventlet
import pytest
import requests
from nameko.rpc import RpcProxy, rpc
from sqlalchemy import text

from services.access.guard import Guard
from services.access.policy import Policy, Rule
from services.kernel.privacy import MaskingFilter
from services.messaging.database import make_engine
from services.messaging.embedded import MEMORY_URI, install_memory_transport
from services.messaging.http_address import parse_address
from services.messaging.http_listener import GENERIC_ERROR, Listener
from services.messaging.logs import JsonFormatter, LogContext
from services.messaging.web import HttpError, http
from tests.conftest import ROOT
from tests.tokens import auth_config, bearer

ID_NUMBER = "330817197210305822"
calls: list[str] = []


class Refused(Exception):
    pass


class Alpha:
    name = "alpha"
    log_context = LogContext()
    http_errors = {Refused: 409}
    access = Guard(Policy({"upload": Rule({"unit_clerk"})}))

    @http("GET", "/alpha", auth=False)
    def read(self, request):
        return {"service": "alpha"}

    @http("POST", "/alpha/upload", max_body=1000)
    def upload(self, request):
        calls.append("upload")
        return 201, {"received": len(request.get_data()), "actor": request.actor}

    @http("POST", "/alpha/refuse", auth=False)
    def refuse(self, request):
        raise Refused("已经有了")

    @http("POST", "/alpha/broken", auth=False)
    def broken(self, request):
        # what an unexpected database error looks like: SQL, and the row's values
        engine = make_engine("sqlite://")
        with engine.connect() as connection:
            connection.execute(
                text("INSERT INTO members (id_number) VALUES (:id_number)"),
                {"id_number": ID_NUMBER},
            )

    @http("GET", "/alpha/teapot", auth=False)
    def teapot(self, request):
        raise HttpError(418, "不是茶壶", hint="x")


class Beta:
    name = "beta"
    log_context = LogContext()

    @http("GET", "/beta", auth=False)
    def read(self, request):
        return {"service": "beta"}

    @http("POST", "/beta/echo", auth=False)
    def echo(self, request):
        return {"length": len(request.get_data())}


@pytest.fixture
def base(web_config_port):
    return f"http://127.0.0.1:{web_config_port}"


@pytest.fixture
def both(container_factory, web_config, issuer):
    calls.clear()
    config = {**web_config, **auth_config(issuer), "HTTP_MAX_BODY": 5000}
    started = [container_factory(cls, config) for cls in (Alpha, Beta)]
    for container in started:
        container.start()
    return started


@pytest.fixture
def log_lines():
    """What the services log, as the JSON lines of the production setup (masked)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(MaskingFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    old_level = root.level
    root.setLevel(logging.INFO)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    root.removeHandler(handler)
    root.setLevel(old_level)


def raw_request(port: int, head: str, body: bytes = b"") -> bytes:
    """Send `head` (and `body`) on a socket of our own; the whole answer up to its close."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    return answer


# -- one listener ---------------------------------------------------------------------------------


def test_two_containers_share_one_listener_and_each_answers_its_own_routes(both, base):
    with requests.Session() as web:
        answers = [
            web.get(f"{base}/{name}").json() for _ in range(50) for name in ("alpha", "beta")
        ]

    assert answers == [{"service": "alpha"}, {"service": "beta"}] * 50
    assert len(Listener._open) == 1


def test_the_address_cannot_be_bound_again_while_it_is_served(both, web_config):
    address = parse_address(web_config["WEB_SERVER_ADDRESS"])

    # what nameko's own web server would do: SO_REUSEPORT on both sides shared the port
    with pytest.raises(OSError, match="Address already in use"):
        eventlet.listen((address.address, address.port), reuse_port=True)
    # another process of ours is refused by name
    other = subprocess.run(
        [sys.executable, "-c", PROBE, str(address)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert other.returncode == 3, other.stderr
    assert f"HTTP address {address} is in use" in other.stdout


PROBE = """
import sys
from services.messaging.http_address import AddressInUse, parse_address
from services.messaging.http_listener import check_address
try:
    check_address(parse_address(sys.argv[1]))
except AddressInUse as exc:
    print(exc)
    sys.exit(3)
"""


def test_the_listener_closes_when_the_last_container_stops(both, web_config_port, base):
    alpha, beta = both
    alpha.stop()

    assert requests.get(f"{base}/beta").json() == {"service": "beta"}
    assert requests.get(f"{base}/alpha").status_code == 404
    beta.stop()
    assert Listener._open == {}
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{base}/beta", timeout=2)


def test_an_idle_keep_alive_connection_is_ended_at_stop_not_waited_for(both, web_config_port):
    with socket.create_connection(("127.0.0.1", web_config_port), timeout=5) as conn:
        conn.sendall(b"GET /beta HTTP/1.1\r\nHost: x\r\n\r\n")
        head = b""
        while not head.endswith(b'{"service": "beta"}'):
            head += conn.recv(65536)  # the answer; the connection stays open for the next
        started = time.monotonic()
        for container in both:
            container.stop()
        took = time.monotonic() - started

        assert conn.recv(65536) == b""  # ended by the server
    # the listener's grace for answers being written is 1 s: an idle reader is not one
    assert took < 0.5, f"stopping took {took:.2f} s"


# -- limits before work ---------------------------------------------------------------------------


def test_a_body_over_the_limit_is_refused_by_its_length_before_it_is_read(
    both, web_config_port, issuer
):
    started = time.monotonic()
    token = bearer(issuer, name="clerk")["Authorization"]
    # 300 MB announced, none of it sent: only a server that does not wait for it answers
    answer = raw_request(
        web_config_port,
        f"POST /alpha/upload HTTP/1.1\nHost: x\nAuthorization: {token}\n"
        "Content-Length: 300000000\n",
    )

    assert answer.startswith(b"HTTP/1.1 413")
    assert "超过上限 1000 字节".encode() in answer
    assert time.monotonic() - started < 2
    assert calls == []  # no worker ran


def test_the_route_limit_overrides_the_configured_one(both, base, issuer):
    with requests.Session() as web:
        web.headers.update(bearer(issuer, name="clerk", sub="c1"))
        small = web.post(f"{base}/alpha/upload", data=b"x" * 1000)
        large = web.post(f"{base}/alpha/upload", data=b"x" * 1001)
        other = web.post(f"{base}/beta/echo", data=b"x" * 4000)  # HTTP_MAX_BODY: 5000

    assert (small.status_code, small.json()) == (201, {"received": 1000, "actor": "clerk (c1)"})
    assert large.status_code == 413
    assert other.json() == {"length": 4000}


def chunked(body: bytes, size: int = 300) -> bytes:
    parts = [body[i : i + size] for i in range(0, len(body), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"


def test_a_chunked_body_is_read_up_to_the_limit_only(both, web_config_port):
    head = "POST /beta/echo HTTP/1.1\nHost: x\nTransfer-Encoding: chunked\nConnection: close\n"

    within = raw_request(web_config_port, head, chunked(b"y" * 4000))
    beyond = raw_request(web_config_port, head, chunked(b"y" * 6000))

    assert within.startswith(b"HTTP/1.1 200") and within.endswith(b'{"length": 4000}')
    assert beyond.startswith(b"HTTP/1.1 413")


# -- ids, errors, logs ----------------------------------------------------------------------------


def test_the_request_id_is_taken_if_sane_and_made_otherwise(both, base):
    given = requests.get(f"{base}/alpha", headers={"X-Request-Id": "req-0123456789"})
    insane = requests.get(f"{base}/alpha", headers={"X-Request-Id": "x; DROP TABLE"})
    none = requests.get(f"{base}/alpha")

    assert given.headers["X-Request-Id"] == "req-0123456789"
    assert insane.headers["X-Request-Id"] != "x; DROP TABLE"
    assert len(insane.headers["X-Request-Id"]) == 32 and len(none.headers["X-Request-Id"]) == 32
    assert insane.headers["X-Request-Id"] != none.headers["X-Request-Id"]


def test_errors_are_json_and_expected_ones_keep_their_status(both, base):
    refused = requests.post(f"{base}/alpha/refuse")
    teapot = requests.get(f"{base}/alpha/teapot")
    unknown = requests.get(f"{base}/nowhere")
    wrong_method = requests.delete(f"{base}/alpha")
    no_actor = requests.post(f"{base}/alpha/upload", data=b"x")

    assert (refused.status_code, refused.json()) == (409, {"error": "已经有了"})
    assert (teapot.status_code, teapot.json()) == (418, {"error": "不是茶壶", "hint": "x"})
    assert unknown.status_code == 404 and "/nowhere" in unknown.json()["error"]
    assert wrong_method.status_code == 405 and wrong_method.json()["error"]
    assert (no_actor.status_code, no_actor.json()) == (
        401,
        {"error": "缺少 Authorization: Bearer 令牌"},
    )


def test_an_unexpected_error_answers_generically_and_logs_masked(both, base, log_lines):
    response = requests.post(f"{base}/alpha/broken", headers={"X-Request-Id": "req-broken-01"})

    assert response.status_code == 500
    assert response.json() == {"error": GENERIC_ERROR, "request_id": "req-broken-01"}
    lines = log_lines()
    logged = "\n".join(json.dumps(line, ensure_ascii=False) for line in lines)
    assert ID_NUMBER not in logged and "330817********5822" not in response.text
    (error,) = [line for line in lines if line["level"] == "ERROR"]
    assert error["request_id"] == "req-broken-01" and error["service"] == "alpha"
    assert "no such table: members" in error["exc_info"]  # the traceback is there, masked
    assert "[SQL parameters hidden due to hide_parameters=True]" in error["exc_info"]


def test_one_access_line_per_request(both, base, log_lines, issuer):
    requests.post(
        f"{base}/alpha/upload",
        data=b"abc",
        headers={**bearer(issuer, name="王", sub="clerk-wang"), "X-Request-Id": "req-access-01"},
    )
    requests.get(f"{base}/beta")

    access = [line for line in log_lines() if line["logger"] == "services.messaging.web.access"]
    assert len(access) == 2
    first = access[0]
    assert first["message"].startswith("POST /alpha/upload 201 ") and first["message"].endswith(
        "ms"
    )
    assert (first["request_id"], first["actor"], first["service"]) == (
        "req-access-01",
        "王 (clerk-wang)",
        "alpha",
    )
    assert access[1]["message"].startswith("GET /beta 200 ") and access[1]["actor"] is None


# -- the request id travels with RPC calls --------------------------------------------------------


class Front:
    name = "front"
    log_context = LogContext()
    access = Guard(Policy({"read": Rule({"unit_clerk"})}))
    back = RpcProxy("back")

    @http("GET", "/front")
    def read(self, request):
        logging.getLogger("front").info("asking back")
        return self.back.who_asks()


class Back:
    name = "back"
    log_context = LogContext()

    @rpc
    def who_asks(self):
        logging.getLogger("back").info("answering")
        return {"answered": True}


def test_the_request_id_and_actor_reach_the_logs_of_an_rpc_callee(
    container_factory, web_config, web_config_port, memory_bus, log_lines, issuer
):
    install_memory_transport()
    config = {**web_config, **auth_config(issuer), "AMQP_URI": MEMORY_URI}
    for cls in (Front, Back):
        container_factory(cls, config).start()

    answer = requests.get(
        f"http://127.0.0.1:{web_config_port}/front",
        headers={"X-Request-Id": "req-travels-01", **bearer(issuer, name="李", sub="clerk-li")},
    )

    assert answer.json() == {"answered": True}
    lines = {line["message"]: line for line in log_lines()}
    for message, service in (("asking back", "front"), ("answering", "back")):
        assert lines[message]["request_id"] == "req-travels-01"
        assert (lines[message]["actor"], lines[message]["service"]) == ("李 (clerk-li)", service)
