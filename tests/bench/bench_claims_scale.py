"""Claims approvals with 1 and 2 `mutual-aid run claims` processes on one RPC queue.

    .venv/bin/python -m tests.bench.bench_claims_scale [--claims 400] [--processes 1 2]

For each process count: a fresh PostgreSQL database and RabbitMQ vhost; `--claims` submitted
claims of as many members (Zhangjiakou 2024, general illness, documents attached) written by
the claims domain code; then that many real `mutual-aid run claims` processes (the production
runner, RabbitMQ + PostgreSQL) all consuming `rpc-claims`, and every claim approved once by
RPC, all calls in flight at once (`call_async`), from one client. The figure is approvals per
second from the first call to the last answer. Afterwards the database must show each claim
approved exactly once (one `approved` transition, one `claim_approved` event, one ledger
entry), and `rpc-claims` must have had one consumer per process while they ran.

Needs the local RabbitMQ (management API on :15672) and PostgreSQL
(MUTUAL_AID_TEST_POSTGRES or postgresql://postgres@127.0.0.1:5432/postgres).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from contextlib import ExitStack, contextmanager
from datetime import date
from pathlib import Path

import requests

ADMIN_URL = os.environ.get(
    "MUTUAL_AID_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)
AMQP = "amqp://guest:guest@127.0.0.1:5672"
MANAGEMENT = "http://127.0.0.1:15672/api"
MUTUAL_AID = str(Path(sys.executable).with_name("mutual-aid"))
TODAY = date(2024, 6, 1)
FACTS = {"benefit": "general_illness", "total_cost": "20000", "admission_date": "2024-02-01"}
READY = re.compile(r"mutual-aid: ready: ")


@contextmanager
def scratch_database():
    import psycopg

    name = f"mutual_aid_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def scratch_vhost():
    vhost = f"mutual_aid_bench_{uuid.uuid4().hex[:10]}"
    auth = ("guest", "guest")
    requests.put(f"{MANAGEMENT}/vhosts/{vhost}", auth=auth, timeout=30).raise_for_status()
    requests.put(
        f"{MANAGEMENT}/permissions/{vhost}/guest",
        json={"configure": ".*", "write": ".*", "read": ".*"},
        auth=auth,
        timeout=30,
    ).raise_for_status()
    try:
        yield f"{AMQP}/{vhost}"
    finally:
        requests.delete(f"{MANAGEMENT}/vhosts/{vhost}", auth=auth, timeout=30)


def seed(url: str, count: int) -> list[str]:
    """`count` submitted claims, one member each; their ids."""
    from services.claims.models import metadata
    from services.kernel.registry import load_registry
    from services.messaging.database import make_engine, make_session_factory, session_scope
    from tests.claims.flow import FakeCover, new_claim
    from tests.enrollment.samples import person

    engine = make_engine(url, pool_size=2)
    metadata().create_all(engine)
    policy = load_registry().get("zhangjiakou")
    cover = FakeCover()
    ids = []
    with session_scope(make_session_factory(engine)) as session:
        for i in range(count):
            who = person(700_000 + i)
            cover.enrol("zhangjiakou", 2024, who)
            claim = new_claim(session, policy, cover, who, FACTS, year=2024, today=TODAY)
            ids.append(claim.id)
    engine.dispose()
    return ids


def start_claims(config: Path, folder: Path, number: int) -> tuple[subprocess.Popen, Path]:
    err = folder / f"claims-{number}.err"
    process = subprocess.Popen(
        [MUTUAL_AID, "run", "--config", str(config), "claims"],
        stdout=subprocess.DEVNULL,
        stderr=err.open("w"),
    )
    return process, err


def wait_ready(process: subprocess.Popen, err: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not READY.search(err.read_text()):
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"claims did not start:\n{err.read_text()[-2000:]}")
        time.sleep(0.05)


def approve_all(amqp_uri: str, claim_ids: list[str]) -> tuple[float, list[dict]]:
    from nameko.standalone.rpc import ClusterRpcProxy

    with ClusterRpcProxy({"AMQP_URI": amqp_uri}, timeout=600) as rpc:
        started = time.monotonic()
        pending = [rpc.claims.approve.call_async(cid, "reviewer:bench") for cid in claim_ids]
        answers = [reply.result() for reply in pending]
        return time.monotonic() - started, answers


def check_once(url: str, claim_ids: list[str]) -> dict[str, int]:
    """Each claim approved exactly once: one transition, one event, one ledger entry."""
    from sqlalchemy import text

    from services.messaging.database import make_engine

    engine = make_engine(url, pool_size=1)
    with engine.connect() as connection:
        transitions = Counter(
            row[0]
            for row in connection.execute(
                text("SELECT claim_id FROM claim_transitions WHERE to_status = 'approved'")
            )
        )
        events = Counter(
            row[0]
            for row in connection.execute(
                text("SELECT payload->>'claim_id' FROM outbox WHERE event_type = 'claim_approved'")
            )
        )
        ledger = Counter(
            row[0]
            for row in connection.execute(
                text("SELECT claim_id FROM ledger_entries WHERE kind = 'payable'")
            )
        )
    engine.dispose()
    wanted = Counter(claim_ids)
    return {
        "transitions": int(transitions == wanted),
        "events": int(events == wanted),
        "ledger": int(ledger == wanted),
    }


def consumers(amqp_uri: str, queue: str = "rpc-claims") -> int:
    """How many consumers the queue has (AMQP's own count, not the management API's lagging
    statistics)."""
    from kombu import Connection

    with Connection(amqp_uri) as connection:
        return connection.default_channel.queue_declare(queue=queue, passive=True).consumer_count


def run(processes: int, claims: int, folder: Path) -> dict:
    with ExitStack() as stack:
        url = stack.enter_context(scratch_database())
        amqp_uri = stack.enter_context(scratch_vhost())
        started = time.monotonic()
        claim_ids = seed(url, claims)
        seeded = time.monotonic() - started
        config = folder / f"claims-{processes}.yaml"
        config.write_text(
            f"AMQP_URI: {amqp_uri}\n"
            f"DATABASES: {{claims: '{url}'}}\n"
            "WEB_SERVER_ADDRESS: 127.0.0.1:0\n"
            f"FIXED_TODAY: '{TODAY.isoformat()}'\n"
            "max_workers: 10\n"
            "DATABASE_POOL_SIZE: 12\n"
            "SHUTDOWN_GRACE: 10\n",
            encoding="utf-8",
        )
        running = [start_claims(config, folder, n) for n in range(processes)]
        try:
            for process, err in running:
                wait_ready(process, err)
            sharing = consumers(amqp_uri)
            seconds, answers = approve_all(amqp_uri, claim_ids)
        finally:
            for process, _ in running:
                process.terminate()
            for process, _ in running:
                process.wait(timeout=30)
        once = check_once(url, claim_ids)
    statuses = Counter(answer["status"] for answer in answers)
    return {
        "processes": processes,
        "claims": claims,
        "seconds": seconds,
        "per_second": claims / seconds,
        "seeded_seconds": seeded,
        "approved": statuses.get("approved", 0),
        "consumers": sharing,
        "once": once,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--claims", type=int, default=400)
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args(argv)
    print(
        f"{'processes':>9}  {'claims':>6}  {'seconds':>7}  {'approvals/s':>11}  "
        f"{'approved':>8}  {'consumers':>9}  once (transition, event, ledger)"
    )
    results = []
    with tempfile.TemporaryDirectory() as folder:
        for processes in args.processes:
            result = run(processes, args.claims, Path(folder))
            results.append(result)
            once = result["once"]
            print(
                f"{processes:>9}  {result['claims']:>6}  {result['seconds']:>7.2f}  "
                f"{result['per_second']:>11.1f}  {result['approved']:>8}  "
                f"{result['consumers']:>9}  "
                f"{'yes' if all(once.values()) else 'NO'} "
                f"({once['transitions']}, {once['events']}, {once['ledger']})",
                flush=True,
            )
    if len(results) > 1:
        print(f"speed-up {results[-1]['per_second'] / results[0]['per_second']:.2f}x")
    failed = [
        r
        for r in results
        if not all(r["once"].values())
        or r["approved"] != r["claims"]
        or r["consumers"] != r["processes"]
    ]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
