"""`/healthz` and `/readyz` on the process's listener: alive, ready, not ready, draining.

The busy service (tests/messaging/busy_service.py) runs under `run_services` in a process of
its own, as `mutual-aid run` does, on the in-process bus or the local RabbitMQ; a service with a
database runs in this process to show a database that stops answering.
"""

from __future__ import annotations

import signal
import time
import types

import pytest
import requests
from sqlalchemy import MetaData

from services.messaging import health
from services.messaging.database import make_engine
from services.messaging.dependencies import Database
from services.messaging.embedded import install_memory_transport, reset_memory_bus
from services.messaging.http_listener import PROCESS_ROUTES
from services.messaging.web import http
from tests.messaging import test_runner
from tests.messaging.test_runner import answer, send

start = test_runner.start  # the busy service in a process of its own (a fixture)


def test_alive_and_ready_without_an_actor(start):
    process, address, _ = start(grace=5)

    alive = requests.get(f"http://{address}/healthz", timeout=10)
    ready = requests.get(f"http://{address}/readyz", timeout=10)

    assert (alive.status_code, alive.json()) == (200, {"status": "alive"})
    assert (ready.status_code, ready.json()) == (
        200,
        {"status": "ready", "services": {"busy": {"broker": "ok"}}},
    )
    assert "X-Actor" not in alive.request.headers


@pytest.mark.rabbit
def test_ready_on_rabbitmq_and_draining_after_sigterm(start, rabbit_config):
    process, address, err = start(grace=10, amqp_uri=rabbit_config["AMQP_URI"])
    assert requests.get(f"http://{address}/readyz", timeout=10).json()["status"] == "ready"
    working = send(address, "/sleep/2.0")  # running work holds the stop for 2 s
    time.sleep(0.5)  # the request is being worked on

    process.send_signal(signal.SIGTERM)
    while "stopping" not in err.read_text():  # the runner has taken the signal
        assert process.poll() is None
        time.sleep(0.02)
    draining = requests.get(f"http://{address}/readyz", timeout=10)
    alive = requests.get(f"http://{address}/healthz", timeout=10)

    assert (draining.status_code, draining.json()["status"]) == (503, "draining")
    assert alive.status_code == 200  # alive: a liveness probe must not kill a draining pod
    assert answer(working).endswith(b'{"slept": 2.0}')
    process.wait(timeout=30)
    assert process.returncode == 0, err.read_text()


class Keeper:
    name = "keeper"
    db = Database(MetaData())

    @http("GET", "/keeper", auth=False)  # a test service: no access table
    def look(self, request):
        return {}


@pytest.fixture
def keeper(container_factory, web_config, tmp_path):
    install_memory_transport()
    reset_memory_bus()
    config = {
        **web_config,
        "AMQP_URI": "memory://",
        "DATABASES": {"keeper": f"sqlite:///{tmp_path}/keeper.sqlite"},
    }
    container = container_factory(Keeper, config)
    watched = health.watch(types.SimpleNamespace(containers=[container]), config)
    container.start()
    yield container, watched
    watched.close()
    reset_memory_bus()


def test_not_ready_until_started_nor_while_the_database_does_not_answer(keeper, web_config_port):
    container, watched = keeper
    url = f"http://127.0.0.1:{web_config_port}/readyz"
    starting = requests.get(url, timeout=10)
    watched.ready()
    ready = requests.get(url, timeout=10)
    (database,) = [d for d in container.dependencies if isinstance(d, Database)]
    # the database goes away: a server that refuses connections
    database.engine = make_engine("postgresql+psycopg://postgres@127.0.0.1:1/none", pool_size=1)
    away = requests.get(url, timeout=10)

    assert (starting.status_code, starting.json()["status"]) == (503, "starting")
    assert ready.status_code == 200
    assert ready.json()["services"] == {"keeper": {"broker": "ok", "database": "ok"}}
    assert (away.status_code, away.json()["status"]) == (503, "unavailable")
    checks = away.json()["services"]["keeper"]
    assert checks["broker"] == "ok" and checks["database"] != "ok"
    assert "127.0.0.1" in checks["database"] or "refused" in checks["database"]


def test_the_process_routes_are_declared_public():
    # the access-control edge lets these through without a token; nothing else
    assert {url for url, route in PROCESS_ROUTES.items() if route.public} >= {
        "/healthz",
        "/readyz",
        "/metrics",
        "/openapi.json",
        "/<string:service>/openapi.json",
    }
