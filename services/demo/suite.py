"""The suite the demo runs against when given none: all four services in this process on the
in-process bus (services.messaging.embedded), SQLite under a fresh folder, the bank simulator
on a free localhost port, the demo clock. Also the config a production suite needs for the
demo (its simulator's port and the demo's dormant card), used by the end-to-end tests."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from services.demo.year import DEMO_TODAY, demo_units

DORMANT = ("E1003", "账户久悬")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def dormant_card(start: int = 0) -> str:
    """The card of the member whose payout fails first (the third of the first unit)."""
    return demo_units(start)[0].people[2].card


def demo_settings(bank_port: int, secret: str, start: int = 0) -> dict[str, Any]:
    """What the demo needs of the services' config beside broker and databases: the demo
    clock, the simulator as the bank (one card dormant until fixed), quick loops."""
    return {
        "FIXED_TODAY": DEMO_TODAY,
        "BANK_SIMULATOR": {
            "code": "sim",
            "secret": secret,
            "delay": 0.2,
            "port": bank_port,
            "card_failures": {dormant_card(start): list(DORMANT)},
        },
        "OUTBOX_RELAY_INTERVAL": 0.2,
        "PAYMENTS_APPLY_INTERVAL": 0.2,
        "PAYOUT_SEND_INTERVAL": 0.2,
        "PAYOUT_QUERY_AFTER": 5,
        "PAYOUT_QUERY_INTERVAL": 1,
        "EVENT_RETRY_DELAYS": [0.5, 1, 2],
    }


def file_logging(path: Path) -> dict[str, Any]:
    """The services' JSON log lines to a file: the demo's own lines stay readable."""
    from services.messaging.logs import logging_config

    config = logging_config()
    config["handlers"]["console"] = {
        **{k: v for k, v in config["handlers"]["console"].items() if k != "stream"},
        "class": "logging.FileHandler",
        "filename": str(path),
        "encoding": "utf-8",
    }
    return config


@contextmanager
def embedded_suite(var_dir: Path) -> Iterator[tuple[Any, str]]:
    """(an RPC proxy on the in-process bus, the bank simulator's URL) while the services run.
    eventlet must already be monkey-patched."""
    import secrets

    from nameko.standalone.rpc import ClusterRpcProxy

    from services.cli import _service_classes
    from services.messaging.embedded import embedded_config, embedded_services
    from services.messaging.logs import setup_logging

    classes = _service_classes()
    port = free_port()
    config = embedded_config(
        classes,
        var_dir=var_dir,
        WEB_SERVER_ADDRESS="127.0.0.1:0",
        **demo_settings(port, secrets.token_hex(16)),
    )
    var_dir.mkdir(parents=True, exist_ok=True)
    config["LOGGING"] = file_logging(var_dir / "services.log")
    setup_logging(config)
    with embedded_services(classes, config), ClusterRpcProxy(config) as rpc:
        yield rpc, f"http://127.0.0.1:{port}"
