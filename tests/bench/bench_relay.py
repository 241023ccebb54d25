"""Outbox relay throughput (issue 14) beside publishing alone, as the history grows.

    .venv/bin/python -m tests.bench.bench_relay --postgres ADMIN_URL [--events N]
                                               [--history 10000,1000000] [--amqp URI]
                                               [--rounds K]

In a throwaway PostgreSQL database and a throwaway RabbitMQ vhost (made and deleted through
the management API): for each history size, that many published outbox rows are written (as
months of a service's events would leave them), N events (default 2000) are recorded, then

- confirm each: the same N messages published one by one, each confirm awaited (what the
  relay did before issue 14 pipelined its confirms), for reference;
- publish-only: N messages published by the relay's publisher in batches of the relay's
  size (confirmed, persistent, the confirms awaited together) with nothing read or written
  in the database: the floor;
- one batch: ``relay_pending`` one batch a run until the outbox is empty (read a batch,
  publish it, await its confirms, mark it, commit: each step waiting for the one before);
- relay: ``relay_pending`` as the Outbox provider runs it, up to RELAY_RUN_BATCHES batches a
  run, each batch read while the broker confirms the one before and marked while it confirms
  the one after.

Floor and both relays are measured ``--rounds`` times, interleaved (on a shared machine the
load moves from one minute to the next), each on N fresh events; the medians are printed:
events/s of each and each relay's time over the floor's (x publish). The history is written
by one server-side INSERT … SELECT with ids in order (as uuid7 ids are), so 1 000 000 rows
take seconds, not minutes. The relay reads only unpublished rows (a partial index), so
its cost must not grow with the history; purge_history keeps the history itself bounded.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from collections.abc import Sequence
from urllib.parse import quote

import requests
from nameko.constants import AMQP_URI_CONFIG_KEY
from sqlalchemy import MetaData, text

from services.messaging.database import make_engine, make_session_factory, session_scope
from services.messaging.dependencies import RELAY_RUN_BATCHES
from services.messaging.idempotency import processed_events_table
from services.messaging.outbox import OutgoingEvent, outbox_table, record_event, relay_pending
from services.messaging.publishing import event_publisher
from tests.bench.bench_roster_import import throwaway_postgres

MANAGEMENT = "http://127.0.0.1:15672/api"
AUTH = ("guest", "guest")


def fill_history(engine, rows: int, start: int = 0) -> None:
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO outbox (id, event_type, payload, headers, created_at, published_at,"
                " attempts) SELECT '00000000-0000-7000-8000-' || lpad(to_hex(CAST(:start AS bigint) + g), 12, '0'),"
                " 'claim_approved',"
                " '{\"v\": 1, \"claim_id\": \"old\"}', '{}', now() - interval '1 day',"
                " now() - interval '1 day', 1 FROM generate_series(1, :rows) AS g"
            ),
            {"rows": rows, "start": start},
        )
        connection.execute(text("ANALYZE outbox"))


def record(factory, n: int) -> list[OutgoingEvent]:
    events = []
    with session_scope(factory) as session:
        for i in range(n):
            payload = {"v": 1, "claim_id": f"c{i}"}
            event_id = record_event(session, "claim_approved", payload)
            events.append(
                OutgoingEvent(event_id, "claim_approved", {**payload, "event_id": event_id})
            )
    return events


def relay_all(factory, publish, batch: int, batches: int, expected: int) -> float:
    """Seconds ``relay_pending`` takes to empty the outbox, run after run."""
    started = time.perf_counter()
    sent = 0
    while (done := relay_pending(factory, publish, batch=batch, batches=batches)) > 0:
        sent += done
    assert sent == expected, sent
    return time.perf_counter() - started


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", required=True, metavar="ADMIN_URL")
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--history", default="10000,1000000", help="history sizes, commas")
    parser.add_argument("--amqp", default="amqp://guest:guest@127.0.0.1:5672")
    parser.add_argument("--batch", type=int, default=100, help="the relay's batch (config)")
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds of floor and both relays (the medians)"
    )
    args = parser.parse_args(argv)
    vhost = f"bench_relay_{uuid.uuid4().hex[:8]}"
    requests.put(f"{MANAGEMENT}/vhosts/{vhost}", auth=AUTH, timeout=10).raise_for_status()
    requests.put(
        f"{MANAGEMENT}/permissions/{vhost}/guest",
        json={"configure": ".*", "write": ".*", "read": ".*"},
        auth=AUTH,
        timeout=10,
    ).raise_for_status()
    try:
        publish = event_publisher({AMQP_URI_CONFIG_KEY: f"{args.amqp}/{quote(vhost)}"}, "bench")
        print(
            f"{'history':>9}{'events':>8}{'confirm each/s':>16}{'publish/s':>11}"
            f"{'one batch/s':>13}{'x publish':>10}{'relay/s':>9}{'x publish':>10}"
        )
        with throwaway_postgres(args.postgres) as url:
            engine = make_engine(url, pool_size=2)
            metadata = MetaData()
            outbox_table(metadata)
            processed_events_table(metadata)
            metadata.create_all(engine)
            factory = make_session_factory(engine)
            filled = 0
            n = args.events
            for history in (int(h) for h in args.history.split(",")):
                fill_history(engine, history - filled, start=filled)
                filled = history
                events = record(factory, n)
                started = time.perf_counter()
                for outgoing in events:
                    publish(outgoing)
                each = time.perf_counter() - started
                relay_all(factory, publish, args.batch, RELAY_RUN_BATCHES, n)  # those n: sent
                floors, ratios = [], {1: [], RELAY_RUN_BATCHES: []}
                for _ in range(args.rounds):  # interleaved: the load moves with the minute
                    for batches in ratios:
                        events = record(factory, n)
                        started = time.perf_counter()
                        for at in range(0, n, args.batch):
                            publish.many(events[at : at + args.batch])
                        floor = time.perf_counter() - started
                        relay = relay_all(factory, publish, args.batch, batches, n)
                        floors.append(floor)
                        ratios[batches].append(relay / floor)
                filled += n * (1 + 2 * args.rounds)
                floor = statistics.median(floors)
                one, piped = (statistics.median(r) for r in ratios.values())
                print(
                    f"{history:>9,}{n:>8}{n / each:>16,.0f}{n / floor:>11,.0f}"
                    f"{n / (floor * one):>13,.0f}{one:>9.2f}x"
                    f"{n / (floor * piped):>9,.0f}{piped:>9.2f}x"
                )
            engine.dispose()
    finally:
        requests.delete(f"{MANAGEMENT}/vhosts/{vhost}", auth=AUTH, timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
