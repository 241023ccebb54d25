"""Claims on SQLite (the embedded mode: kombu's in-memory bus, nameko's container_factory)
asks payments for a city's premiums before its read begins: the read's transaction takes the
file's write lock, and a stand-in for payments writing to claims' file while it answers
(tests/messaging/other_writer.py) would have waited for it in C, stopping the hub the answer
needs, until the busy timeout (STALL seconds) refused it with "database is locked".
"""

from __future__ import annotations

import pytest
from nameko.rpc import rpc
from nameko.standalone.rpc import ClusterRpcProxy

from services.claims.service import ClaimsService
from services.messaging.embedded import reset_memory_bus
from tests.messaging.other_writer import STALL, OtherWriter, embedded_on_sqlite


class PaymentsStandIn:
    name = "payments"
    writer: OtherWriter

    @rpc
    def unit_premiums(self, city, year):
        PaymentsStandIn.writer.write()
        return [{"unit_id": "u-1", "received": "1200.00"}]


@pytest.fixture
def claims(container_factory, tmp_path, monkeypatch):
    config = embedded_on_sqlite(monkeypatch, tmp_path, "claims", FIXED_TODAY="2024-03-01")
    container_factory(PaymentsStandIn, config).start()
    container_factory(ClaimsService, config).start()
    PaymentsStandIn.writer = OtherWriter(config["DATABASES"]["claims"])
    yield config
    PaymentsStandIn.writer.close()
    reset_memory_bus()


def test_statistics_ask_payments_before_the_write_lock_is_taken(claims):
    with ClusterRpcProxy(claims, timeout=STALL * 5) as bus:
        answer = bus.claims.statistics("zhangjiakou", 2024)

    writer = PaymentsStandIn.writer
    assert writer.error is None, f"the other writer was refused: {writer.error}"
    assert writer.waited < STALL / 4, f"the other writer waited {writer.waited:.2f} s"
    assert "reimbursement" in answer
