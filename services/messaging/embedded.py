"""All services in one process on an in-process bus: kombu's memory transport, plus SQLite.

kombu's memory transport needs two changes before nameko runs on it:
- nameko's RPC responder reads `message.properties["content_type"]` to answer in the
  caller's serializer; the virtual transports keep the content type beside the properties,
  not in them, so every RPC reply fails with a KeyError.
- consumers poll the in-memory queues, sleeping `polling_interval` (1 s) after each empty
  poll: an RPC would take a second or more. 1 ms makes a call take about a millisecond, at
  a cost of about a tenth of a CPU while four services sit idle.

`install_memory_transport()` registers that variant under kombu's `memory` alias; the other
functions here call it. Like everything nameko, this must run after eventlet.monkey_patch().
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from kombu.transport import TRANSPORT_ALIASES, memory, virtual
from nameko.containers import get_service_name
from nameko.runners import ServiceRunner

from services.messaging.runner import check_startup, run_services, settled_heap

MEMORY_URI = "memory://"
POLLING_INTERVAL = 0.001


class Channel(memory.Channel):
    queues: dict = {}  # this bus's own queues, apart from any other user of kombu's memory

    def prepare_message(
        self,
        body,
        priority=None,
        content_type=None,
        content_encoding=None,
        headers=None,
        properties=None,
    ):
        properties = dict(properties or {})
        properties.setdefault("content_type", content_type)
        properties.setdefault("content_encoding", content_encoding)
        return super().prepare_message(
            body, priority, content_type, content_encoding, headers, properties
        )


class Transport(memory.Transport):
    Channel = Channel
    global_state = virtual.BrokerState()
    polling_interval = POLLING_INTERVAL


def install_memory_transport() -> None:
    """Make `memory://` connections in this process use the variant above."""
    TRANSPORT_ALIASES["memory"] = f"{__name__}:Transport"


def reset_memory_bus() -> None:
    """Forget every queue, exchange and binding of the in-process bus (between tests)."""
    Channel.queues.clear()
    Transport.global_state.clear()


def embedded_config(
    service_classes: Iterable[type], var_dir: str | Path = "var", **overrides: Any
) -> dict[str, Any]:
    """The nameko config of the embedded mode: memory bus, one SQLite file per service."""
    var_dir = Path(var_dir)
    config: dict[str, Any] = {
        "AMQP_URI": MEMORY_URI,
        "DATABASES": {
            name: f"sqlite:///{var_dir / f'{name}.sqlite'}"
            for name in (get_service_name(cls) for cls in service_classes)
        },
        "DATABASE_CREATE_TABLES": True,
        "OUTBOX_RELAY_INTERVAL": 1.0,
        "AUTH_KEY_DIR": str(var_dir / "auth"),  # the local issuer: mutual-aid token issue --var
    }
    config.update(overrides)
    return config


@contextmanager
def embedded_services(
    service_classes: Iterable[type], config: dict[str, Any]
) -> Iterator[ServiceRunner]:
    """Run the services on the memory bus for the length of the block: stopped after it
    (about a second: each consumer finishes its 1 s drain), killed if the block raises
    (nameko's own `run_services` leaves them running then)."""
    install_memory_transport()
    runner = ServiceRunner({**config, "AMQP_URI": MEMORY_URI})
    for service_cls in service_classes:
        runner.add_service(service_cls)
    runner.start()
    with settled_heap():
        try:
            yield runner
        except BaseException:
            runner.kill()
            raise
        runner.stop()


def run_embedded(
    service_classes: Iterable[type],
    config: dict[str, Any],
    ready: Callable[[ServiceRunner], None] | None = None,
) -> None:
    """Run the services on the memory bus until SIGTERM or Ctrl-C (services.messaging.runner:
    checked first, stopped within SHUTDOWN_GRACE); `ready(runner)` once all have started."""
    install_memory_transport()
    classes, config = list(service_classes), {**config, "AMQP_URI": MEMORY_URI}
    check_startup(classes, config)
    run_services(classes, config, ready)
