"""`mutual-aid serve`: the embedded mode answers HTTP and stops cleanly on SIGTERM."""

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


def test_serve_answers_http_and_stops_on_sigterm(tmp_path):
    port = free_port()
    process = subprocess.Popen(
        [MUTUAL_AID, "serve", "--var", str(tmp_path / "var"), "--http", f"127.0.0.1:{port}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = requests.post(
                    f"http://127.0.0.1:{port}/enrollment/applications/none/roster",
                    data=b"", headers={"X-Actor": "test"}, timeout=2,
                )
                break
            except requests.ConnectionError:
                assert process.poll() is None, process.stderr.read()
                assert time.monotonic() < deadline, "serve did not open its HTTP port"
                time.sleep(0.3)
        assert response.status_code == 404 and "没有申请" in response.json()["error"]
        assert (tmp_path / "var" / "enrollment.sqlite").exists()
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    assert "Traceback" not in err
