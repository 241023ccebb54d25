"""Outbox relay throughput (issue 14) beside publishing alone, as the history grows.

    .venv/bin/python -m tests.bench.bench_relay --postgres ADMIN_URL [--events N]
                                               [--history 10000,1000000] [--amqp URI]

In a throwaway PostgreSQL database and a throwaway RabbitMQ vhost (made and deleted through
the management API): for each history size, that many published outbox rows are written (as
months of a service's events would leave them), N events (default 2000) are recorded, then

- confirm each: the same N messages published one by one, each confirm awaited (what the
  relay did before issue 14 pipelined its confirms), for reference;
- publish-only: the same N messages published by the relay's publisher in batches of the
  relay's size (confirmed, persistent, the confirms awaited together) with nothing read or
  written in the database: the floor;
- relay: ``relay_pending`` until the outbox is empty, as the Outbox provider runs it: runs
  of up to RELAY_RUN_BATCHES batches, each batch read while the one before is confirmed and
  marked while the next is (``--unpipelined``: one batch a run, read, published, confirmed,
  marked in turn).

events/s of each and the relay's time over the floor's. The history is written by one
server-side INSERT … SELECT with ids in order (as uuid7 ids are), so 1 000 000 rows take
seconds, not minutes. The relay reads only unpublished rows (a partial index), so
its cost must not grow with the history; purge_history keeps the history itself bounded.
"""

from __future__ import annotations

import argparse
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", required=True, metavar="ADMIN_URL")
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--history", default="10000,1000000", help="history sizes, commas")
    parser.add_argument("--amqp", default="amqp://guest:guest@127.0.0.1:5672")
    parser.add_argument("--batch", type=int, default=100, help="the relay's batch (config)")
    parser.add_argument(
        "--unpipelined",
        action="store_true",
        help="one batch a run, unpipelined (the relay before its batches were pipelined)",
    )
    args = parser.parse_args(argv)
    run = 1 if args.unpipelined else RELAY_RUN_BATCHES
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
            f"{'history':>9}{'events':>8}{'confirm each/s':>16}{'publish/s':>11}{'relay/s':>9}"
            "  relay/publish time"
        )
        with throwaway_postgres(args.postgres) as url:
            engine = make_engine(url, pool_size=2)
            metadata = MetaData()
            outbox_table(metadata)
            processed_events_table(metadata)
            metadata.create_all(engine)
            factory = make_session_factory(engine)
            filled = 0
            for history in (int(h) for h in args.history.split(",")):
                fill_history(engine, history - filled, start=filled)
                filled = history
                events = record(factory, args.events)
                started = time.perf_counter()
                for outgoing in events:
                    publish(outgoing)
                each = time.perf_counter() - started
                started = time.perf_counter()
                for at in range(0, len(events), args.batch):
                    publish.many(events[at : at + args.batch])
                floor = time.perf_counter() - started
                started = time.perf_counter()
                sent = 0
                while (done := relay_pending(factory, publish, batch=args.batch, batches=run)) > 0:
                    sent += done
                relay = time.perf_counter() - started
                assert sent == args.events, sent
                filled += args.events
                print(
                    f"{history:>9,}{args.events:>8}{args.events / each:>16,.0f}"
                    f"{args.events / floor:>11,.0f}"
                    f"{args.events / relay:>9,.0f}  {relay / floor:.2f}x"
                )
            engine.dispose()
    finally:
        requests.delete(f"{MANAGEMENT}/vhosts/{vhost}", auth=AUTH, timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
