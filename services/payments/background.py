"""The payments service's work that no request waits for, as one nameko dependency provider
(`BankLink`): who may call us (bank secrets, WeChat Pay keys), the bank adapters, and three
loops in managed green threads of the container:

- applying verified callbacks (callbacks.apply_pending) in batches, holding back while
  callbacks arrive (apply_worker.Pace), every
  PAYMENTS_APPLY_INTERVAL seconds; on PostgreSQL in a child process of its own at a lower CPU
  priority (apply_worker.py: the answers to the banks come first), on SQLite in this one;
- sending created payouts to the bank adapter in batches (bank.send_batch);
- the active query: anything submitted with no final state after PAYOUT_QUERY_AFTER seconds
  is asked of the bank (bank.query_unfinished), so a lost callback never leaves money in limbo.

With BANK_SIMULATOR set (the embedded mode, tests) the simulator runs in-process on
localhost, posting its callbacks to this process's HTTP listener, and is wired as a bank.

Configuration (nameko config dict; secrets from the config, never from code):
    BANKS:            {<code>: {secrets: [current, previous?], url?: adapter base URL,
                                accounts?: [fund account numbers paid out through it]}}
    PAYOUT_BANK:      the bank paying from an account no bank lists   default: the first with a url
    WECHATPAY:        {apiv3_key: 32 chars, platform_keys: {<serial>: PEM public key}}
    BANK_SIMULATOR:   {code: "sim", secret, delay?, fail?, lose?, duplicate?, reorder?,
                       card_failures?: {<card>: [code, text]}, seed?}
    PAYMENTS_APPLY_INTERVAL  seconds between callback-applying rounds      default 1
    PAYMENTS_APPLY_PROCESS   apply in a child process (apply_worker.py)     default: on PostgreSQL
    PAYMENTS_APPLY_NICE      the child's niceness (0-19: lower priority)    default 10
    PAYMENTS_APPLY_MAX_DEFER during a burst of callbacks the child applies one batch
                             every so many seconds (apply_worker.Pace)      default 10
    PAYOUT_SEND_INTERVAL     seconds between batch-sending rounds          default 2
    PAYOUT_BATCH_SIZE        payouts per batch                             default 200
    PAYOUT_QUERY_AFTER       seconds before an unanswered payout is asked  default 300
    PAYOUT_QUERY_INTERVAL    seconds between query rounds                  default 30
"""

from __future__ import annotations

import json
import logging
import sys
import time
from datetime import date, timedelta
from typing import Any

import eventlet
from eventlet.green import subprocess
from eventlet.green import threading as green_threading
from nameko.extensions import DependencyProvider
from sqlalchemy import select

from services.kernel.clock import SYSTEM
from services.messaging.database import session_scope, utc_now
from services.messaging.dependencies import Database, Outbox
from services.messaging.errors import ConfigError
from services.messaging.outbox import record_event
from services.payments import apply_worker, bank, bank_sim, callbacks, payouts, wechatpay
from services.payments.models import Payout
from services.providers import Clock

_log = logging.getLogger(__name__)
CALLBACK_PATH = "/payments/callbacks/"


class BankLink(DependencyProvider):
    """What a worker sees: ``providers`` (for callbacks.receive); the loops run on their own."""

    def setup(self) -> None:
        config = self.container.config
        banks = dict(config.get("BANKS") or {})
        self.simulator_config = config.get("BANK_SIMULATOR")
        if self.simulator_config:
            code = self.simulator_config.get("code", "sim")
            banks.setdefault(code, {"secrets": [self.simulator_config["secret"]]})
        for code, settings in banks.items():
            if not isinstance(settings, dict) or not settings.get("secrets"):
                raise ConfigError(f"BANKS.{code}: needs secrets (a list of one or two)")
        self.banks = banks
        wechat = config.get("WECHATPAY")
        try:
            keys = (
                wechatpay.WechatPayKeys.load(wechat["apiv3_key"], wechat["platform_keys"])
                if wechat
                else None
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"WECHATPAY: {exc}") from None
        self.providers = callbacks.Providers(
            bank_secrets={code: list(s["secrets"]) for code, s in banks.items()}, wechatpay=keys
        )
        self.apply_interval = float(config.get("PAYMENTS_APPLY_INTERVAL", 1.0))
        self.apply_process = config.get("PAYMENTS_APPLY_PROCESS")  # None: by the database
        self.apply_nice = int(config.get("PAYMENTS_APPLY_NICE", 10))
        self.apply_max_defer = float(config.get("PAYMENTS_APPLY_MAX_DEFER", apply_worker.MAX_DEFER))
        self._told_busy = 0.0
        self.pace = apply_worker.Pace(max_defer=self.apply_max_defer)
        self.send_interval = float(config.get("PAYOUT_SEND_INTERVAL", 2.0))
        self.batch_size = int(config.get("PAYOUT_BATCH_SIZE", 200))
        self.query_after = timedelta(seconds=float(config.get("PAYOUT_QUERY_AFTER", 300)))
        self.query_interval = float(config.get("PAYOUT_QUERY_INTERVAL", 30))
        self.payout_bank = config.get("PAYOUT_BANK")
        self.database = next(d for d in self.container.dependencies if isinstance(d, Database))
        self._autocommit = None  # PostgreSQL's inbox connections, made at start
        self.adapters: dict[str, bank.HttpBankAdapter] = {}
        self.simulator: bank_sim.BankSimulator | None = None
        self._server = None
        self._wake_send = green_threading.Event()
        self._running = False
        self._stopping = green_threading.Event()
        self._threads: list[Any] = []
        self.worker: subprocess.Popen | None = None  # the apply worker, when in its own process

    def start(self) -> None:
        engine = self.database.engine
        postgres = engine.dialect.name == "postgresql"
        if postgres:
            self._autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
        if self.simulator_config:
            self._start_simulator()
        for code, settings in self.banks.items():
            if settings.get("url"):
                self.adapters[code] = bank.HttpBankAdapter(code, settings["url"])
        self._running = True
        in_own_process = postgres if self.apply_process is None else bool(self.apply_process)
        for loop, name in (
            (self._apply_process if in_own_process else self._apply_loop, "apply_callbacks"),
            (self._send_loop, "send_payouts"),
            (self._query_loop, "query_payouts"),
        ):
            self._threads.append(
                self.container.spawn_managed_thread(
                    loop, identifier=f"{self.container.service_name}.{name}"
                )
            )

    def _start_simulator(self) -> None:
        settings = self.simulator_config
        code = settings.get("code", "sim")
        self.simulator = bank_sim.BankSimulator(
            bank_sim.SimConfig(
                secret=settings["secret"],
                callback_url=f"{self._own_url()}{CALLBACK_PATH}bank/{code}",
                delay=float(settings.get("delay", 0.2)),
                failure_rate=float(settings.get("fail", 0.0)),
                duplicate_rate=float(settings.get("duplicate", 0.0)),
                lose_rate=float(settings.get("lose", 0.0)),
                reorder=bool(settings.get("reorder", False)),
                card_failures={
                    card: tuple(failure)
                    for card, failure in (settings.get("card_failures") or {}).items()
                },
                seed=settings.get("seed"),
            )
        )
        self._server = bank_sim.serve(self.simulator, "127.0.0.1", int(settings.get("port", 0)))
        self.banks[code] = {**self.banks[code], "url": f"http://127.0.0.1:{self.server_port}"}
        self.container.spawn_managed_thread(
            lambda: self._server.serve_forever(poll_interval=0.1),
            identifier=f"{self.container.service_name}.bank_sim",
        )

    @property
    def server_port(self) -> int:
        return self._server.server_port

    def _own_url(self) -> str:
        """This process's HTTP listener (bound at setup), where the simulator posts."""
        for entrypoint in self.container.entrypoints:
            listener = getattr(getattr(entrypoint, "edge", None), "listener", None)
            if listener is not None:
                host, port = listener.sock.getsockname()[:2]
                host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
                return f"http://{host}:{port}"
        raise ConfigError("payments: the bank simulator needs the service's HTTP listener")

    def stop(self) -> None:
        self._running = False
        self._stopping.set()
        self._wake_send.set()
        self._end_worker()
        for thread in self._threads:
            thread.wait()
        if self._server is not None:
            self._server.shutdown()  # serve_forever returns within its 0.1 s poll
        self._close()

    def kill(self) -> None:
        self._running = False
        self._stopping.set()
        if self.worker is not None and self.worker.poll() is None:
            self.worker.kill()
        for thread in self._threads:
            thread.kill()
        self._close()

    def _close(self) -> None:
        if self.simulator is not None:
            self.simulator.stop()
        if self._server is not None:
            self._server.server_close()
            self._server = None
        for adapter in self.adapters.values():
            adapter.close()

    def get_dependency(self, worker_ctx) -> BankLink:
        return self

    def worker_result(self, worker_ctx, result=None, exc_info=None) -> None:
        # the worker's transaction has committed by now (Database wraps the method). Callbacks
        # are not applied one by one as they come: the apply loop takes them in batches every
        # PAYMENTS_APPLY_INTERVAL, which leaves the CPU to answering during a burst.
        if worker_ctx.entrypoint.method_name == "on_claim_approved":
            self._wake_send.set()

    def receive(self, unit_of_work, provider: str, headers, body: bytes) -> callbacks.Answer:
        """Store one callback (callbacks.receive). On PostgreSQL on an autocommit connection:
        the hot path is one INSERT, so a transaction around it would only add a BEGIN and a
        COMMIT round trip per request; each statement of the rarer paths (duplicate, replay)
        stands alone and leaves a complete row. SQLite (one connection) uses the worker's own
        transaction."""
        now = utc_now()
        self._busy()
        if self._autocommit is None:
            return callbacks.receive(
                unit_of_work.session, provider, headers, body, self.providers, now
            )
        with self._autocommit.connect() as connection:
            return callbacks.receive(connection, provider, headers, body, self.providers, now)

    def _busy(self) -> None:
        """Callbacks are arriving: applying holds back (apply_worker.Pace), in this process or
        told to the apply worker's (at most every 0.1 s)."""
        self.pace.busy()
        worker, moment = self.worker, time.monotonic()
        if worker is None or moment - self._told_busy < 0.1:
            return
        self._told_busy = moment
        try:
            worker.stdin.write(apply_worker.BUSY.encode() + b"\n")
            worker.stdin.flush()
        except (OSError, ValueError):  # it has just ended: started again by _apply_process
            pass

    # ---- the loops ---------------------------------------------------------------------

    def _record(self, session):
        return lambda event_type, payload: record_event(session, event_type, payload)

    def _today(self) -> date:
        """The service clock's today (Asia/Shanghai; FIXED_TODAY pins it), for paid_on."""
        clock = next((d for d in self.container.dependencies if isinstance(d, Clock)), None)
        return clock.clock.today() if clock is not None else SYSTEM.today()

    def apply_callbacks(self, limit: int = apply_worker.BATCH) -> int:
        return apply_worker.apply_batch(self.database.session_factory, self._today, limit)

    def send_payouts(self) -> int:
        sent = 0
        for account in self._accounts_waiting():
            adapter = self._adapter_for(account)
            if adapter is None:
                _log.warning("no bank adapter pays from account %s; payouts wait", account)
                continue
            while True:
                with session_scope(self.database.session_factory) as session:
                    _, count = bank.send_batch(
                        session,
                        adapter,
                        from_account=account,
                        size=self.batch_size,
                        actor="system:payments",
                    )
                sent += count
                if count < self.batch_size:
                    break
        return sent

    def query_payouts(self) -> int:
        moved = 0
        for adapter in self.adapters.values():
            with session_scope(self.database.session_factory) as session:
                moved += bank.query_unfinished(
                    session,
                    adapter,
                    now=utc_now(),
                    after=self.query_after,
                    record=self._record(session),
                    today=self._today(),
                )
        return moved

    def _accounts_waiting(self) -> list[str]:
        with session_scope(self.database.session_factory) as session:
            return list(
                session.scalars(
                    select(Payout.from_account).where(Payout.status == payouts.CREATED).distinct()
                )
            )

    def _adapter_for(self, account: str) -> bank.HttpBankAdapter | None:
        for code, settings in self.banks.items():
            if account in (settings.get("accounts") or ()) and code in self.adapters:
                return self.adapters[code]
        if self.payout_bank:
            return self.adapters.get(self.payout_bank)
        return next(iter(self.adapters.values()), None)

    def _apply_loop(self) -> None:
        """Applying in this process (SQLite), the worker's loop on a green thread."""
        apply_worker.apply_rounds(
            self.apply_callbacks,
            running=lambda: self._running,
            wait=self._stopping.wait,
            pace=self.pace,
            interval=self.apply_interval,
        )

    def _send_loop(self) -> None:
        while self._running:
            try:
                self.send_payouts()
            except Exception:
                _log.exception("sending payout batches failed; trying again")
            self._wake_send.wait(self.send_interval)
            self._wake_send.clear()

    def _query_loop(self) -> None:
        while self._running:
            self._stopping.wait(self.query_interval)
            if not self._running:
                return
            try:
                self.query_payouts()
            except Exception:
                _log.exception("the active query failed; trying again")

    # ---- the apply worker in its own process ------------------------------------------------

    def _apply_process(self) -> None:
        """Keep the apply worker running (restarted a second after it dies) and wake the
        outbox relay whenever it has committed events."""
        outbox = next((d for d in self.container.dependencies if isinstance(d, Outbox)), None)
        settings = {
            "database": self.database.engine.url.render_as_string(hide_password=False),
            "interval": self.apply_interval,
            "batch": apply_worker.BATCH,
            "today": self._today().isoformat()
            if self.container.config.get("FIXED_TODAY")
            else None,
            "nice": self.apply_nice,
            "max_defer": self.apply_max_defer,
            "logging": self.container.config.get("LOGGING"),
        }
        while self._running:
            self.worker = subprocess.Popen(
                [sys.executable, "-m", "services.payments.apply_worker"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
            )
            self.worker.stdin.write(json.dumps(settings).encode() + b"\n")
            self.worker.stdin.flush()
            for line in self.worker.stdout:
                if line.startswith(b"applied") and outbox is not None:
                    outbox.wake()
            code = self.worker.wait()
            if self._running:
                _log.error("the apply worker stopped (exit %s); starting it again", code)
                self._stopping.wait(1.0)

    def _end_worker(self, grace: float = 5.0) -> None:
        """Ask the apply worker to stop after its batch (SIGTERM), killed after ``grace``."""
        worker = self.worker
        if worker is None or worker.poll() is not None:
            return
        worker.terminate()
        try:
            with eventlet.Timeout(grace):
                worker.wait()
        except eventlet.Timeout:
            worker.kill()
            worker.wait()
