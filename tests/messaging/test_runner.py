"""Stopping (services/messaging/runner.py): running work finishes after SIGTERM, within
SHUTDOWN_GRACE; beyond it, it is killed and the process still exits; a process still
starting (a broker that refuses the login) stops at once."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT


@pytest.fixture
def start(tmp_path):
    """Start the busy service with a grace; killed after the test if still running."""
    started = []

    def start(grace: float, amqp_uri: str | None = None):
        err_path = tmp_path / "busy.err"
        err = err_path.open("w")
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.messaging.busy_service", str(grace)]
            + ([amqp_uri] if amqp_uri else []),
            cwd=ROOT,
            stderr=err,
        )
        started.append(process)
        deadline = time.monotonic() + 60
        while not (ready := re.search(r"^ready (\S+)$", err_path.read_text(), re.MULTILINE)):
            assert process.poll() is None and time.monotonic() < deadline, err_path.read_text()
            time.sleep(0.05)
        return process, ready[1], err_path

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


def send(address: str, path: str) -> socket.socket:
    """A GET sent on a socket of our own; its answer is read later (`answer`)."""
    host, port = address.rsplit(":", 1)
    conn = socket.create_connection((host, int(port)), timeout=30)
    conn.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    return conn


def answer(conn: socket.socket) -> bytes:
    received = b""
    try:
        while chunk := conn.recv(65536):
            received += chunk
    except OSError:
        pass  # reset: the work was killed
    conn.close()
    return received


def test_a_request_in_flight_finishes_before_the_process_stops(start):
    process, address, err = start(grace=10)
    conn = send(address, "/sleep/1.5")
    time.sleep(0.5)  # the request is being worked on

    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=30)

    received = answer(conn)
    assert received.startswith(b"HTTP/1.1 200") and received.endswith(b'{"slept": 1.5}')
    assert 0.7 < time.monotonic() - started < 3  # waited for it, not for the grace
    assert process.returncode == 0 and "stopped" in err.read_text()


def test_work_beyond_the_grace_is_killed_and_the_process_exits(start):
    process, address, err = start(grace=1)
    conn = send(address, "/sleep/60.0")
    time.sleep(0.5)

    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=30)
    took = time.monotonic() - started

    assert 0.9 < took < 4, f"took {took:.1f} s"
    assert not answer(conn).startswith(b"HTTP/1.1 200")  # never a 200 for unfinished work
    assert "still busy after grace over: killing" in err.read_text()


@pytest.mark.rabbit
def test_a_process_stuck_starting_on_a_refusing_broker_stops_at_once(tmp_path):
    err_path = tmp_path / "busy.err"
    with err_path.open("w") as err:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.messaging.busy_service",
                "20",
                "amqp://guest:wrong-password@127.0.0.1:5672/",
            ],
            cwd=ROOT,
            stderr=err,
        )
        try:
            deadline = time.monotonic() + 60
            while "ACCESS_REFUSED" not in err_path.read_text():  # trying, and refused
                assert process.poll() is None and time.monotonic() < deadline, err_path.read_text()
                time.sleep(0.05)
            started = time.monotonic()
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()

    assert time.monotonic() - started < 3
    assert "stopped while starting" in err_path.read_text()
