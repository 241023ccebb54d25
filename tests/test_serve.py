"""`mutual-aid serve`: the embedded mode answers HTTP for each service and stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import requests

MUTUAL_AID = os.path.join(os.path.dirname(sys.executable), "mutual-aid")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def answer(process, method: str, url: str, **kwargs) -> requests.Response:
    """The service's own (JSON) answer. The port opens with the first service started and each
    service's routes appear once its container is up; until then werkzeug answers a plain 404."""
    deadline = time.monotonic() + 30
    while True:
        try:
            response = requests.request(method, url, timeout=2, **kwargs)
            if response.headers.get("Content-Type", "").startswith("application/json"):
                return response
        except requests.ConnectionError:
            assert process.poll() is None, process.stderr.read()
        assert time.monotonic() < deadline, f"serve did not answer {url}"
        time.sleep(0.3)


def test_serve_answers_http_and_stops_on_sigterm(tmp_path):
    port = free_port()
    process = subprocess.Popen(
        [MUTUAL_AID, "serve", "--var", str(tmp_path / "var"), "--http", f"127.0.0.1:{port}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        roster = answer(
            process,
            "POST",
            f"{base}/enrollment/applications/none/roster",
            data=b"",
            headers={"X-Actor": "test"},
        )
        assert roster.status_code == 404 and "没有申请" in roster.json()["error"]
        claim = answer(process, "GET", f"{base}/claims/none")
        assert claim.status_code == 404 and "error" in claim.json()
        assert (tmp_path / "var" / "enrollment.sqlite").exists()
        assert (tmp_path / "var" / "claims.sqlite").exists()
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    assert "Traceback" not in err
