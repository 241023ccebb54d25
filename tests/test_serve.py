"""`mutual-aid serve` and `mutual-aid run` as an operator meets them: one HTTP listener for every
service, a ready line, a quick stop, and startup problems said in one line.

Readiness is the ready line `serve` writes on stderr once every service has started (the
port it names is the one it listens on); nothing here retries around a wrong answer.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests

from services.access.policy import FORBIDDEN
from services.access.tokens import LocalIssuer
from tests.conftest import ADMIN_URL
from tests.tokens import bearer

MUTUAL_AID = os.path.join(os.path.dirname(sys.executable), "mutual-aid")
READY = re.compile(r"^mutual-aid: ready: .*HTTP on (\S+:\d+)$", re.MULTILINE)


class Serving:
    """A `mutual-aid serve` (or `run`) process, its stderr in a file (a pipe nobody reads
    would fill)."""

    def __init__(self, tmp_path: Path, *args: str):
        args = args or (  # the server alone: the demo's first start is tests/e2e/test_serve_demo.py
            *("serve", "--var", str(tmp_path / "var"), "--http", "127.0.0.1:0", "--no-demo"),
        )
        self.err_path = tmp_path / f"serve-{uuid.uuid4().hex[:6]}.err"
        self.err = self.err_path.open("w")
        self.process = subprocess.Popen(
            [MUTUAL_AID, *args], stdout=subprocess.PIPE, stderr=self.err, text=True
        )

    def stderr(self) -> str:
        return self.err_path.read_text(encoding="utf-8")

    def wait_ready(self, timeout: float = 60) -> str:
        """The base URL, once the ready line is written."""
        deadline = time.monotonic() + timeout
        while not (ready := READY.search(self.stderr())):
            assert self.process.poll() is None, f"serve exited early:\n{self.stderr()}"
            assert time.monotonic() < deadline, f"serve not ready:\n{self.stderr()}"
            time.sleep(0.05)
        return f"http://{ready[1]}"

    def stop(self) -> float:
        """SIGTERM; the seconds until the process has exited."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=30)
        return time.monotonic() - started

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.err.close()


@pytest.fixture
def serving(tmp_path):
    started = Serving(tmp_path)
    yield started
    started.close()


CLAIM = {
    "city": "zhangjiakou",
    "year": 2024,
    "id_number": "11010519491231002X",
    "name": "王芳",
    "facts": {"benefit": "general_illness", "total_cost": "20000", "admission_date": "2024-02-01"},
}


def test_every_request_reaches_its_own_route_on_the_one_port(serving, tmp_path):
    base = serving.wait_ready()
    # the server made the local issuer's key under --var at start: a token as `token issue` makes
    issuer = LocalIssuer(tmp_path / "var" / "auth")

    with requests.Session() as web:
        web.headers.update(bearer(issuer, city="zhangjiakou", unit="u1"))
        created = web.post(f"{base}/claims", json=CLAIM)
        assert created.status_code == 201, created.text
        claim_id = created.json()["claim_id"]
        reads = [web.get(f"{base}/claims/{claim_id}") for _ in range(100)]
        reports = [web.get(f"{base}/enrollment/uploads/none/report") for _ in range(20)]

    assert [(r.status_code, r.json()["claim_id"]) for r in reads] == [(200, claim_id)] * 100
    assert {(r.status_code, r.json()["error"]) for r in reports} == {(403, FORBIDDEN)}
    assert (tmp_path / "var" / "enrollment.sqlite").exists()
    assert (tmp_path / "var" / "claims.sqlite").exists()


def test_a_second_serve_on_the_same_port_exits_2_with_one_line(serving, tmp_path):
    address = serving.wait_ready().removeprefix("http://")

    second = subprocess.run(
        [MUTUAL_AID, "serve", "--var", str(tmp_path / "other"), "--http", address],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert second.returncode == 2
    assert second.stderr.splitlines() == [
        f"mutual-aid: HTTP address {address} is in use (another mutual-aid, or another program)"
    ]
    assert not (tmp_path / "other" / "claims.sqlite").exists()  # it stopped before any service


def test_idle_serve_exits_within_two_seconds_of_sigterm(serving):
    serving.wait_ready()
    time.sleep(1)  # idle: every consumer settled into waiting

    took = serving.stop()

    print(f"STOP {took:.3f}")
    assert took < 2, f"took {took:.1f} s"
    assert serving.process.returncode == 0
    assert json.loads(serving.process.stdout.read()) == {
        "stopped": "enrollment, claims, payments, notify, console"
    }
    assert "Traceback" not in serving.stderr()


@pytest.mark.parametrize("http", ["nonsense", ":99999", "127.0.0.1:99999"])
def test_a_nonsense_http_address_is_one_line(mutual_aid, http):
    done = mutual_aid("serve", "--http", http)

    assert done.code == 2
    assert done.stderr.splitlines() == [
        f"mutual-aid: argument --http: HTTP address {http!r}: expected HOST:PORT (or PORT) "
        "with a port 0-65535 (see mutual-aid serve --help)"
    ]


# -- mutual-aid run: what production needs, checked before it starts -----------------------------


@pytest.mark.rabbit
def test_idle_run_on_rabbitmq_exits_within_two_seconds_of_sigterm(rabbit_config, tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(
        f"AMQP_URI: {rabbit_config['AMQP_URI']}\n"
        "WEB_SERVER_ADDRESS: 127.0.0.1:0\n"
        "DATABASE_CREATE_TABLES: true\n"
        f"AUTH_KEY_DIR: {tmp_path}/auth\n"
        f"DATABASES:\n  claims: sqlite:///{tmp_path}/claims.sqlite\n"
        f"  enrollment: sqlite:///{tmp_path}/enrollment.sqlite\n",
        encoding="utf-8",
    )
    running = Serving(tmp_path, "run", "claims", "enrollment", "--config", str(config))
    try:
        web = requests.Session()
        base = running.wait_ready()
        answer = web.get(f"{base}/claims/none")  # served: refused without a token
        assert (answer.status_code, answer.json()) == (
            401,
            {"error": "缺少 Authorization: Bearer 令牌"},
        )
        time.sleep(1)

        # the session's keep-alive connection is still open: the server ends it, not waits
        # for it (a green close left its reader waiting out the listener's whole grace)
        took = running.stop()
        web.close()
    finally:
        running.close()

    assert took < 2, f"took {took:.1f} s"
    assert running.process.returncode == 0 and "killing" not in running.stderr()  # graceful


def run_with(tmp_path, mutual_aid, amqp_uri: str, claims_url: str, *services: str):
    config = tmp_path / "config.yaml"
    config.write_text(
        f"AMQP_URI: {amqp_uri}\n"
        "WEB_SERVER_ADDRESS: 127.0.0.1:0\n"
        f"DATABASES:\n  claims: {claims_url}\n",
        encoding="utf-8",
    )
    started = time.monotonic()
    done = mutual_aid("run", *(services or ("claims",)), "--config", str(config))
    return done, time.monotonic() - started


def one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if not line.startswith("{")]  # JSON logs
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


def test_run_with_a_missing_config_is_one_line(mutual_aid, tmp_path):
    done = mutual_aid("run", "claims", "--config", str(tmp_path / "missing.yaml"))

    assert done.code == 2
    assert done.stderr.splitlines() == [
        f"mutual-aid: {tmp_path / 'missing.yaml'}: cannot read the config: No such file or directory"
    ]


@pytest.mark.postgres
def test_run_with_a_database_that_does_not_exist_is_one_line(mutual_aid, tmp_path):
    missing = f"mutual_aid_missing_{uuid.uuid4().hex[:8]}"
    url = ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + "/"
    done, took = run_with(tmp_path, mutual_aid, "memory://", url + missing)

    assert done.code == 1 and took < 15
    line = one_line(done.stderr)
    assert line.startswith("mutual-aid: database of claims (")
    assert f'database "{missing}" does not exist' in line


@pytest.mark.rabbit
def test_run_with_a_broker_that_refuses_the_login_is_one_line(mutual_aid, tmp_path):
    done, took = run_with(
        tmp_path,
        mutual_aid,
        "amqp://guest:wrong-password@127.0.0.1:5672/",
        f"sqlite:///{tmp_path}/claims.sqlite",
    )

    assert done.code == 1 and took < 15
    line = one_line(done.stderr)
    assert line.startswith("mutual-aid: broker amqp://guest:**@127.0.0.1:5672//: ")
    assert "ACCESS_REFUSED" in line and "wrong-password" not in done.stderr


def test_run_of_a_service_that_does_not_exist_is_one_line(mutual_aid, tmp_path):
    done, _ = run_with(tmp_path, mutual_aid, "memory://", "sqlite://", "claimz")

    assert done.code == 2
    assert (
        one_line(done.stderr) == "mutual-aid: claimz: no such service (services/claimz/service.py)"
    )
