"""Issue 12's end-to-end run in production shape: each service its own `mutual-aid run`
process on RabbitMQ and PostgreSQL (a fresh database per service, migrated with
`python -m services.messaging.migrations upgrade`), the demo's year driven over the bus, and
in the middle of it — members' enrolment events in flight — the broker stopped and started
again. The year must finish with nothing lost or doubled: every enrolment, payment, payout and
SMS exactly once (tests/e2e/year_checks.py), and no dead letters.

The broker is a node of this test's own (tests/e2e/broker.py): the machine's shared one on
:5672 serves other tests meanwhile and is never touched.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid

import pytest
from nameko.standalone.rpc import ClusterRpcProxy
from sqlalchemy import create_engine, text

from services.access.tokens import LocalIssuer
from services.demo.suite import demo_settings, free_port
from services.demo.year import Year
from tests.conftest import ADMIN_URL
from tests.e2e import broker as private_broker
from tests.e2e import year_checks
from tests.test_serve import Serving

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.slow,  # about a minute: four processes, a broker started twice
    pytest.mark.skipif(not private_broker.installed(), reason="needs rabbitmq-server installed"),
]
SERVICES = ("enrollment", "claims", "payments", "notify")


@pytest.fixture
def broker(tmp_path):
    node = private_broker.Broker(tmp_path / "rabbit")
    node.start()
    yield node
    if node.running:
        node.stop()


@pytest.fixture
def databases(postgres_url):
    """A fresh PostgreSQL database per service (fresh_postgres's way, four times)."""
    import psycopg
    from sqlalchemy.engine import make_url

    names = {s: f"mutual_aid_e2e_{s}_{uuid.uuid4().hex[:8]}" for s in SERVICES}
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        for name in names.values():
            conn.execute(f'CREATE DATABASE "{name}"')
    base = make_url(postgres_url)
    yield {
        s: base.set(database=name).render_as_string(hide_password=False)
        for s, name in names.items()
    }
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        for name in names.values():
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def write_config(tmp_path, service: str, amqp: str, databases: dict, extra: dict) -> str:
    import yaml

    LocalIssuer(tmp_path / "auth").ensure()
    config = {
        "AMQP_URI": amqp,
        "WEB_SERVER_ADDRESS": f"127.0.0.1:{free_port()}",
        "DATABASES": databases,
        "AUTH_KEY_DIR": str(tmp_path / "auth"),
        "SHUTDOWN_GRACE": 5,
        **extra,
    }
    path = tmp_path / f"{service}.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return str(path)


def dead_letters(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT count(*) FROM dead_letters")).scalar_one()
    finally:
        engine.dispose()


def test_the_demo_year_in_production_survives_a_broker_restart(tmp_path, broker, databases):
    bank_port = free_port()
    settings = demo_settings(bank_port, "e2e-bank-secret")
    processes = []
    try:
        for service in SERVICES:
            config = write_config(tmp_path, service, broker.uri, databases, settings)
            migrated = subprocess.run(
                [sys.executable, "-m", "services.messaging.migrations", "upgrade",
                 "--config", config, service],
                capture_output=True, text=True, timeout=120,
            )  # fmt: skip
            assert migrated.returncode == 0, migrated.stderr
            processes.append(Serving(tmp_path, "run", service, "--config", config))
        for process in processes:
            process.wait_ready(timeout=120)

        lines: list[str] = []
        with ClusterRpcProxy({"AMQP_URI": broker.uri}) as rpc:
            year = Year(rpc, f"http://127.0.0.1:{bank_port}", lines.append)
            year.enrol()
            year.invoices()
            year.pay()
            year.resolve_held()
            year.approve_units()  # 90 members_enrolled: SMS being written and sent …
        broker.stop()  # … when the broker goes away
        time.sleep(2)  # the services notice the broker gone, retry their connections
        broker.start()

        with ClusterRpcProxy({"AMQP_URI": broker.uri}) as rpc:
            year.rpc = rpc
            year.sms()
            year_checks.check_enrolment(year)
            year_checks.check_invoices_and_premiums(year)
            year.claim()
            year.review()
            year.payouts()
            year.retry_dormant()
            year.close()
            year_checks.check_sms(year)
            year_checks.check_claims_and_payouts(year)
            year_checks.check_ledger(year, databases["payments"])
        assert {s: dead_letters(url) for s, url in databases.items()} == dict.fromkeys(SERVICES, 0)
        for process in processes:  # each lived through the outage and reconnected
            assert process.process.poll() is None, process.stderr()[-3000:]
            assert "Connection to broker lost" in process.stderr()
    finally:
        for process in processes:
            if process.process.poll() is None:
                process.stop()
            process.close()
