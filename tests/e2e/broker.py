"""A RabbitMQ node of a test's own: started from the installed server with its data, logs,
Erlang cookie and ports under the test's folder, so it can be stopped and started again in
the middle of a run while the machine's shared broker (:5672) goes on serving everyone else.

No plugins (the management plugin is not needed: nothing here uses nameko's rabbit_config),
one TCP listener on 127.0.0.1. Runs the server's own scripts as the current user (the
packaged wrappers switch to the rabbitmq user, who cannot read a test's folder)."""

from __future__ import annotations

import os
import socket
import subprocess
import time
import uuid
from pathlib import Path

from services.demo.suite import free_port

BIN = Path("/usr/lib/rabbitmq/bin")


def installed() -> bool:
    return (BIN / "rabbitmq-server").exists()


class Broker:
    def __init__(self, folder: Path):
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.port, dist = free_port(), free_port()
        self.node = f"e2e-{uuid.uuid4().hex[:8]}@localhost"
        (folder / "rabbitmq.conf").write_text(
            f"listeners.tcp.local = 127.0.0.1:{self.port}\n", encoding="utf-8"
        )
        (folder / "enabled_plugins").write_text("[].\n", encoding="utf-8")
        self.env = {
            **os.environ,
            "HOME": str(folder),  # the Erlang cookie of this node and of its rabbitmqctl
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(dist),
            "RABBITMQ_MNESIA_BASE": str(folder / "mnesia"),
            "RABBITMQ_LOG_BASE": str(folder / "log"),
            "RABBITMQ_CONFIG_FILE": str(folder / "rabbitmq.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(folder / "enabled_plugins"),
        }
        self.running = False

    @property
    def uri(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def start(self, timeout: float = 120) -> None:
        subprocess.run(
            [str(BIN / "rabbitmq-server"), "-detached"], env=self.env, check=True, timeout=60
        )
        self.running = True
        deadline = time.monotonic() + timeout
        while not self._answers():  # waiting for the server to come up
            assert time.monotonic() < deadline, f"RabbitMQ {self.node} did not start: {self.log()}"
            time.sleep(0.3)

    def _answers(self) -> bool:
        from kombu import Connection

        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                pass
            with Connection(self.uri, connect_timeout=2) as connection:
                connection.ensure_connection(max_retries=1)
            return True
        except OSError:
            return False
        except Exception:  # noqa: BLE001 (kombu/amqp raise their own while the node boots)
            return False

    def stop(self) -> None:
        """Stop the node and wait until it has exited (connections dropped, queues on disk)."""
        subprocess.run(
            [str(BIN / "rabbitmqctl"), "-n", self.node, "shutdown"],
            env=self.env,
            check=True,
            timeout=120,
            capture_output=True,
        )
        self.running = False

    def log(self) -> str:
        logs = sorted((self.folder / "log").glob("*.log"))
        return logs[0].read_text(encoding="utf-8")[-2000:] if logs else "(no log)"
