"""Bank callback load run (issue 10): signed callbacks against the running payments service on
localhost, beside a bare nameko HTTP handler that only checks the HMAC, in the same run.

    .venv/bin/python -m tests.bench.bench_callbacks [--callbacks 5000] [--concurrency 16]
                                                    [--postgres URL]

Not a timed test (tests/bench/test_bench_smoke.py runs it tiny so it cannot rot). The payments
database (a SQLite file, or a throwaway PostgreSQL database on the server --postgres names) gets one
Zhangjiakou invoice per premium; the services run in a child process (embedded mode: the
in-process bus; the payments service and the bare handler behind the same HTTP listener);
this process sends the callbacks from --concurrency threads, keep-alive, and times each.

The mix of --callbacks requests: 10% duplicates (the same event again, re-signed with a fresh
nonce, as a bank's retry: 200, applied once), 5% bad signatures (401), 2% replays (a request
sent again byte for byte: its nonce was seen, 401), 2% wrong amounts (signed, amount differs
from the invoice: 200, held for finance); the rest are good, one per invoice.

Checked after the callback worker has applied everything (exit 1 if any check fails): every
good event applied exactly once, every bad one refused or held, the ledger's premiums received
equal the sum of the good ones and every journal sums to zero. Printed: callbacks/s and p50/p99
of the bare handler and of the service, the ratio (target ≥ 50%) and whether p99 < 100 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

SECRET = "bench-secret-" + "0" * 20
BANK = "bench"
OCCURRED = "2024-03-05T10:00:00+08:00"  # inside Zhangjiakou 2024's window


# ---- the child: the services ------------------------------------------------------------------


def serve(config_json: str) -> int:
    from services.cli import _patch_eventlet

    _patch_eventlet()
    import eventlet.hubs

    from services.messaging.embedded import embedded_services
    from services.messaging.web import http
    from services.payments import signatures
    from services.payments.exceptions import CallbackRefused
    from services.payments.service import PaymentsService

    class BareHmac:
        """A bare nameko HTTP handler: the HMAC checked, nothing stored."""

        name = "bare_hmac"

        @http("POST", "/bare/callbacks/<path:provider>", auth=False)
        def callback(self, request, provider):
            try:
                signatures.verify(request.headers, request.get_data(), [SECRET], time.time())
            except CallbackRefused as refused:
                return 401, {"outcome": "refused", "message": str(refused)}
            return 200, {"outcome": "accepted"}

    with embedded_services([PaymentsService, BareHmac], json.loads(config_json)):
        print("ready", flush=True)
        # until the parent closes stdin (waited for by the hub: a plain read would block it)
        eventlet.hubs.trampoline(sys.stdin.fileno(), read=True)
    return 0


# ---- the parent: invoices, load, checks -------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _invoices(url: str, count: int) -> list[dict]:
    """``count`` open invoices of made-up Zhangjiakou units (the plugin's own quotes)."""
    from services.kernel.registry import load_registry
    from services.messaging.database import make_engine, make_session_factory, session_scope
    from services.messaging.outbox import record_event
    from services.payments import invoices
    from services.payments.models import metadata
    from tests.payments.samples import application

    engine = make_engine(url, pool_size=1)
    metadata().create_all(engine)
    policy = load_registry().get("zhangjiakou")
    answer = []
    with session_scope(make_session_factory(engine)) as session:
        for n in range(count):
            invoice = invoices.issue_for_application(
                session,
                policy,
                application={
                    **application(policy, 2024, f"张家口市第{n}工会", 1 + n % 20),
                    "unit_name": f"张家口市第{n}工会",
                },
                actor="bench",
                record=lambda kind, payload, s=session: record_event(s, kind, payload),
            )
            answer.append(
                {
                    "account": invoice.account_number,
                    "amount": invoice.amount,
                    "reference": invoice.reference,
                }
            )
    engine.dispose()
    return answer


def _plan(invoices: list[dict], total: int, rng: random.Random) -> tuple[list, dict]:
    """The requests, shuffled (replays and duplicates after their original), and what each
    kind should come to."""
    from services.payments import signatures

    n_dup, n_bad = total * 10 // 100, total * 5 // 100
    n_replay, n_wrong = total * 2 // 100, total * 2 // 100
    n_good = total - n_dup - n_bad - n_replay - n_wrong
    assert len(invoices) == n_good + n_wrong

    def signed(event: dict, secret: str = SECRET) -> tuple[bytes, dict]:
        body = json.dumps(event, ensure_ascii=False).encode()
        return body, signatures.signed_headers(secret, int(time.time()), uuid.uuid4().hex, body)

    def event(invoice: dict, amount: Decimal) -> dict:
        return {
            "event_id": f"B{uuid.uuid4().hex[:20].upper()}",
            "type": "premium.received",
            "occurred_at": OCCURRED,
            "account": invoice["account"],
            "amount": f"{amount:.2f}",
            "currency": "CNY",
            "reference": invoice["reference"],
            "payer_name": invoice["reference"].split(" ")[0],
        }

    good = [event(i, i["amount"]) for i in invoices[:n_good]]
    wrong = [event(i, i["amount"] - Decimal("10.00")) for i in invoices[n_good:]]
    first = [("good", *signed(e)) for e in good] + [("wrong", *signed(e)) for e in wrong]
    rng.shuffle(first)
    # a bad signature: a good event signed with another secret
    bad = [("bad", *signed(event(i, i["amount"]), secret="not-the-secret")) for i in invoices]
    rng.shuffle(bad)
    plan = list(first) + bad[:n_bad]
    rng.shuffle(plan)
    originals = [r for r in first if r[0] == "good"]
    copies = [
        ("duplicate", *signed(json.loads(body))) for _, body, _ in rng.sample(originals, n_dup)
    ]
    copies += [("replay", body, headers) for _, body, headers in rng.sample(originals, n_replay)]
    for copy in copies:  # each somewhere after its original
        after = next(
            i
            for i, item in enumerate(plan)
            if item[1] == copy[1]
            or (
                item[0] == "good"
                and json.loads(item[1])["event_id"] == json.loads(copy[1])["event_id"]
            )
        )
        plan.insert(rng.randint(after + 1, len(plan)), copy)
    expected = {
        "good": n_good,
        "wrong": n_wrong,
        "bad": n_bad,
        "duplicate": n_dup,
        "replay": n_replay,
        "good_total": sum(i["amount"] for i in invoices[:n_good]),
    }
    return plan, expected


def _load(base: str, plan: list, concurrency: int) -> tuple[float, list[float], dict]:
    import requests

    local = threading.local()
    statuses: dict[tuple[str, int], int] = {}
    lock = threading.Lock()

    def send(item) -> float:
        kind, body, headers = item
        http = getattr(local, "http", None) or requests.Session()
        local.http = http
        started = time.perf_counter()
        response = http.post(base, data=body, headers=headers, timeout=30)
        took = time.perf_counter() - started
        with lock:
            statuses[(kind, response.status_code)] = (
                statuses.get((kind, response.status_code), 0) + 1
            )
        return took

    # The client's own threads take turns on the GIL every 5 ms by default: a reply could wait
    # behind 15 other threads before its time was taken, a tail of the client's, not of the
    # server's. 0.5 ms turns keep that out of both figures (bare and service alike).
    switch = sys.getswitchinterval()
    sys.setswitchinterval(0.0005)
    started = time.perf_counter()
    try:
        with ThreadPoolExecutor(concurrency) as pool:
            latencies = list(pool.map(send, plan))
    finally:
        sys.setswitchinterval(switch)
    return time.perf_counter() - started, sorted(latencies), statuses


def _percentile(sorted_values: list[float], share: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(share * len(sorted_values)))]


def _settled(url: str, timeout: float) -> dict:
    """Wait for the callback worker to apply every verified callback; then count."""
    from sqlalchemy import func, select

    from services.messaging.database import make_engine
    from services.payments import ledger
    from services.payments.models import Callback, Receipt

    engine = make_engine(url, pool_size=1)
    deadline = time.monotonic() + timeout
    try:
        while True:
            with engine.connect() as connection:
                waiting = connection.execute(
                    select(func.count()).where(Callback.status == "verified")
                ).scalar()
            if not waiting or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        from sqlalchemy.orm import Session

        with Session(engine) as session:
            callbacks = dict(
                session.execute(
                    select(Callback.status, func.count()).group_by(Callback.status)
                ).all()
            )
            refused = dict(
                session.execute(
                    select(Callback.reason, func.count())
                    .where(Callback.status == "refused")
                    .group_by(Callback.reason)
                ).all()
            )
            receipts = dict(
                session.execute(select(Receipt.status, func.count()).group_by(Receipt.status)).all()
            )
            received = sum(
                (
                    Decimal(r["received"])
                    for r in ledger.unit_premiums(session, "zhangjiakou", 2024)
                ),
                Decimal("0"),
            )
            unbalanced = ledger.unbalanced_journals(session)
            applied_twice = session.execute(
                select(Receipt.invoice_id)
                .where(Receipt.status == "applied")
                .group_by(Receipt.invoice_id)
                .having(func.count() > 1)
            ).all()
    finally:
        engine.dispose()
    return {
        "waiting": waiting,
        "callbacks": callbacks,
        "refused": refused,
        "receipts": receipts,
        "received": received,
        "unbalanced": unbalanced,
        "applied_twice": len(applied_twice),
    }


@contextmanager
def _database(tmp: Path, postgres: str | None) -> Iterator[str]:
    if not postgres:
        yield f"sqlite:///{tmp / 'payments.sqlite'}"
        return
    from tests.bench.bench_roster_import import throwaway_postgres

    with throwaway_postgres(postgres) as url:
        yield url


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_callbacks", description=__doc__.splitlines()[0])
    parser.add_argument("--callbacks", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--postgres",
        metavar="ADMIN_URL",
        help="e.g. postgresql://postgres@127.0.0.1:5432/postgres (a throwaway database is made)",
    )
    parser.add_argument("--seed", type=int, default=10)
    parser.add_argument("--serve", help=argparse.SUPPRESS)  # the child
    args = parser.parse_args(argv)
    if args.serve:
        return serve(args.serve)
    if args.callbacks < 100:
        parser.error("--callbacks: at least 100 (the mix is in percent)")

    rng = random.Random(args.seed)
    with (
        tempfile.TemporaryDirectory(prefix="bench-callbacks-") as tmp,
        _database(Path(tmp), args.postgres) as url,
    ):
        total = args.callbacks
        n_invoices = total - total * 10 // 100 - total * 5 // 100 - total * 2 // 100
        started = time.perf_counter()
        invoices = _invoices(url, n_invoices)
        plan, expected = _plan(invoices, total, rng)
        print(
            f"{len(invoices)} invoices in {time.perf_counter() - started:.1f} s; {url.split('://')[0]}"
        )
        port = _free_port()
        config = {
            "DATABASES": {"payments": url},
            "DATABASE_CREATE_TABLES": False,
            "WEB_SERVER_ADDRESS": f"127.0.0.1:{port}",
            "BANKS": {BANK: {"secrets": [SECRET]}},
            "PAYMENTS_APPLY_INTERVAL": 0.5,
            "OUTBOX_RELAY_INTERVAL": 1.0,
        }
        child = subprocess.Popen(
            [sys.executable, "-m", "tests.bench.bench_callbacks", "--serve", json.dumps(config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": os.getcwd()},
        )
        try:
            if child.stdout.readline().strip() != "ready":
                print("the services did not start", file=sys.stderr)
                return 1
            root = f"http://127.0.0.1:{port}"
            bare_time, bare_lat, _ = _load(
                f"{root}/bare/callbacks/bank/{BANK}", plan, args.concurrency
            )
            run_time, run_lat, statuses = _load(
                f"{root}/payments/callbacks/bank/{BANK}", plan, args.concurrency
            )
            state = _settled(url, timeout=max(120.0, len(plan) * 0.15))
        finally:
            child.stdin.close()
            try:
                child.wait(30)
            except subprocess.TimeoutExpired:
                child.kill()
    return _report(
        len(plan),
        args.concurrency,
        bare_time,
        bare_lat,
        run_time,
        run_lat,
        statuses,
        state,
        expected,
    )


def _report(
    n, concurrency, bare_time, bare_lat, run_time, run_lat, statuses, state, expected
) -> int:
    bare_rate, run_rate = n / bare_time, n / run_time
    ms = 1000
    print(f"{n} callbacks, {concurrency} concurrent clients, keep-alive")
    print(
        f"bare hmac  {bare_rate:8.0f} callbacks/s  p50 {_percentile(bare_lat, 0.5) * ms:6.1f} ms"
        f"  p99 {_percentile(bare_lat, 0.99) * ms:6.1f} ms"
    )
    run_p99 = _percentile(run_lat, 0.99) * ms
    print(
        f"payments   {run_rate:8.0f} callbacks/s  p50 {_percentile(run_lat, 0.5) * ms:6.1f} ms"
        f"  p99 {run_p99:6.1f} ms"
    )
    ratio = run_rate / bare_rate
    print(
        f"ratio {ratio:.0%} of the bare rate (target ≥ 50%: {'met' if ratio >= 0.5 else 'MISSED'});"
        f" p99 < 100 ms: {'met' if run_p99 < 100 else 'MISSED'}"
    )
    answers = {f"{k}:{s}": c for (k, s), c in sorted(statuses.items())}
    print("answers", json.dumps(answers))
    print("inbox", json.dumps(state["callbacks"]), "refused", json.dumps(state["refused"]))
    print("receipts", json.dumps(state["receipts"]))
    checks = {
        "every answer as its kind should be": statuses
        == {
            ("good", 200): expected["good"],
            ("wrong", 200): expected["wrong"],
            ("duplicate", 200): expected["duplicate"],
            ("bad", 401): expected["bad"],
            ("replay", 401): expected["replay"],
        },
        "nothing left unapplied": state["waiting"] == 0,
        "every good one applied exactly once": state["receipts"].get("applied") == expected["good"]
        and state["applied_twice"] == 0,
        "every wrong amount held": state["receipts"].get("held") == expected["wrong"],
        "duplicates stored, not applied": state["callbacks"].get("duplicate")
        == expected["duplicate"],
        "bad signatures and replays refused": state["refused"]
        == {"bad_signature": expected["bad"], "replay": expected["replay"]},
        "premiums received = sum of the good ones": state["received"] == expected["good_total"],
        "every journal sums to zero": state["unbalanced"] == [],
    }
    print(
        f"ledger: received {state['received']:.2f}, good ones sum to {expected['good_total']:.2f}"
    )
    for name, ok in checks.items():
        print(f"{'ok  ' if ok else 'FAIL'} {name}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
