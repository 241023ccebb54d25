"""Applying stored callbacks, in a process of its own (issue 10: "answer at once; apply
afterwards in its own worker").

The HTTP answer to a bank is one INSERT (callbacks.receive); applying (callbacks.apply_pending:
receipts, journals, invoices, payouts) costs several times that in CPU. In the same process the
two share one core and, in green threads, a batch's CPU between two database waits holds every
answer queued behind it. So on PostgreSQL the payments process starts this worker as a child
(background.BankLink), at a lower CPU priority (PAYMENTS_APPLY_NICE, default 10): answers come
first, applying takes the CPU they leave and catches up when a burst ends. Several processes
may apply at once (replicas): apply_pending locks its rows FOR UPDATE SKIP LOCKED.

SQLite (the embedded mode) keeps applying in the service's own process: a second process
would only queue for the same file's write lock.

    python -m services.payments.apply_worker      (started by the payments service, not by hand)

Applying also yields to answering in time (``Pace``): while callbacks arrive, the parent says
``busy`` on the pipe (at most every 0.1 s) and the worker holds back, but for one batch every
``max_defer`` seconds (PAYMENTS_APPLY_MAX_DEFER, default 10), so a long burst's lag stays
bounded; when the burst ends it applies at full speed. Measured (tests/bench/bench_callbacks.py,
5 000 callbacks): applying during the burst, even niced, took a quarter of the answers' rate
and doubled their p99 (its PostgreSQL backend and WAL flushes are not niced).

The parent writes one JSON line on stdin: {"database": URL, "interval": seconds, "batch": n,
"today": "YYYY-MM-DD" or null, "nice": n, "max_defer": seconds, "logging": dictConfig or
null}; the URL travels on the pipe, never on the command line (where `ps` shows it); then
``busy`` lines. The worker prints ``ready`` once connected, then ``applied N`` after each
commit that applied callbacks (the parent wakes its outbox relay for the events they
recorded). It stops between two batches on SIGTERM or SIGINT, and when its stdin closes (the
parent is gone).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from datetime import date
from typing import Any, TextIO

from services.messaging.database import SessionFactory, session_scope
from services.messaging.outbox import record_event
from services.payments import callbacks

_log = logging.getLogger(__name__)
BATCH = 100
BUSY = "busy"  # the parent's word: callbacks are arriving
QUIET = 0.3  # seconds without that word: the burst is over
MAX_DEFER = 10.0


class Pace:
    """Whether to apply now: yes when no callback has arrived for ``quiet`` seconds; during a
    burst no, but for one batch every ``max_defer`` seconds."""

    def __init__(
        self,
        quiet: float = QUIET,
        max_defer: float = MAX_DEFER,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.quiet, self.max_defer, self.clock = quiet, max_defer, clock
        self.busy_at = float("-inf")
        self.deferred_since: float | None = None

    def busy(self) -> None:
        self.busy_at = self.clock()

    def may_apply(self) -> bool:
        now = self.clock()
        if now - self.busy_at >= self.quiet:
            self.deferred_since = None
            return True
        if self.deferred_since is None:
            self.deferred_since = now
            return False
        if now - self.deferred_since >= self.max_defer:
            self.deferred_since = now
            return True
        return False


def apply_batch(session_factory: SessionFactory, today: Callable[[], date], limit: int) -> int:
    """One transaction applying up to ``limit`` verified callbacks; how many it took. The
    events they record go into the outbox in the same transaction."""
    with session_scope(session_factory) as session:
        return callbacks.apply_pending(
            session,
            record=lambda event_type, payload: record_event(session, event_type, payload),
            limit=limit,
            today=today,
        )


def apply_rounds(
    apply: Callable[[], int],
    *,
    running: Callable[[], bool],
    wait: Callable[[float], object],
    pace: Pace,
    interval: float,
    limit: int = BATCH,
    applied: Callable[[int], object] = lambda taken: None,
) -> None:
    """Apply batch after batch while ``running()``, as ``pace`` allows; after a batch that was
    not full (or failed: logged, tried again) wait ``interval``. The one loop of this child
    process and of the service's own green thread on SQLite (background.BankLink)."""
    while running():
        if not pace.may_apply():
            wait(0.1)
            continue
        try:
            taken = apply()
        except Exception:
            _log.exception("applying callbacks failed; trying again")
            taken = 0
        if taken:
            applied(taken)
        if taken < limit:  # a full batch means more may be waiting
            wait(interval)


def run(settings: dict[str, Any], stdin: TextIO, stdout: TextIO) -> int:
    """Apply until told to stop (see the module's doc); 0 on a clean stop."""
    from services.kernel.clock import Clock, parse_day
    from services.messaging.database import make_engine, make_session_factory
    from services.messaging.logs import setup_logging

    setup_logging({"LOGGING": settings.get("logging")}, service="payments.apply")
    if settings.get("nice"):
        os.nice(int(settings["nice"]))
    stop = threading.Event()
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda *_: stop.set())
    pace = Pace(max_defer=float(settings.get("max_defer", MAX_DEFER)))
    threading.Thread(target=_listen, args=(stdin, stop, pace), daemon=True).start()

    clock = Clock(parse_day(settings["today"]) if settings.get("today") else None)
    interval = float(settings.get("interval", 1.0))
    limit = int(settings.get("batch", BATCH))
    engine = make_engine(settings["database"], pool_size=1)
    session_factory = make_session_factory(engine)
    try:
        _say(stdout, "ready")
        apply_rounds(
            lambda: apply_batch(session_factory, clock.today, limit),
            running=lambda: not stop.is_set(),
            wait=stop.wait,
            pace=pace,
            interval=interval,
            limit=limit,
            applied=lambda taken: _say(stdout, f"applied {taken}"),
        )
    finally:
        engine.dispose()
    return 0


def _listen(stdin: TextIO, stop: threading.Event, pace: Pace) -> None:
    """The parent's words until its end of the pipe closes (it is gone: stop)."""
    for line in stdin:
        if line.strip() == BUSY:
            pace.busy()
    stop.set()


def _say(stdout: TextIO, line: str) -> None:
    try:
        stdout.write(line + "\n")
        stdout.flush()
    except BrokenPipeError:  # the parent is gone; stdin's end stops the loop
        pass


def main() -> int:
    first = sys.stdin.readline()
    try:
        settings = json.loads(first)
        settings["database"]  # noqa: B018 - required
    except (ValueError, KeyError, TypeError):
        print("apply_worker: the first line on stdin must be the JSON settings", file=sys.stderr)
        return 2
    return run(settings, sys.stdin, sys.stdout)


if __name__ == "__main__":
    sys.exit(main())
