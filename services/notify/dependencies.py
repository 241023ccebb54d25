"""The notify service's providers: the sender loop and the RPC directory of details.

`Sender` runs `sending.send_due` every SMS_SEND_INTERVAL seconds (default 1) in a managed
thread, through the gateway SMS_GATEWAY names, and at once when a handler queued something;
a green pool sends a batch's requests in parallel (SMS_SEND_CONCURRENCY, default 10). It needs
the service's one `Database`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from eventlet.green import threading as green_threading
from eventlet.greenpool import GreenPile, GreenPool
from nameko.extensions import DependencyProvider

from services.kernel.clock import SYSTEM
from services.messaging.database import session_scope
from services.messaging.dependencies import Database
from services.messaging.errors import ConfigError
from services.notify.gateways import gateway_settings, make_gateway
from services.notify.sending import Settings, requeue_stale, send_due

_log = logging.getLogger(__name__)
STALE = timedelta(minutes=5)


class SenderHandle:
    """What a worker sees as `self.sender`: the settings, the clock and a nudge."""

    def __init__(self, provider: Sender):
        self.settings = provider.settings
        self.now: Callable[[], datetime] = provider.now
        self.wake = provider.wake.set


class Sender(DependencyProvider):
    def __init__(self, now: Callable[[], datetime] = SYSTEM.now):
        self.now = now

    def setup(self) -> None:
        config = self.container.config
        databases = [d for d in self.container.dependencies if isinstance(d, Database)]
        if len(databases) != 1:
            raise ConfigError("notify: the sender needs exactly one Database provider")
        self.database = databases[0]
        self.settings = Settings.from_config(config)
        self.interval = float(config.get("SMS_SEND_INTERVAL", 1.0))
        self.concurrency = int(config.get("SMS_SEND_CONCURRENCY", 10))
        self.gateway_config = config.get("SMS_GATEWAY")
        gateway_settings(self.gateway_config)  # a bad one stops the service at setup
        self.wake = green_threading.Event()
        self._running = False
        self._thread = None
        self.pool: GreenPool | None = None

    def start(self) -> None:
        self.gateway = make_gateway(self.gateway_config, self.database.session_factory)
        self.pool = GreenPool(self.concurrency)
        self._running = True
        self._thread = self.container.spawn_managed_thread(
            self._send_forever, identifier="notify.sender"
        )

    def stop(self) -> None:
        self._running = False
        self.wake.set()
        if self._thread is not None:
            self._thread.wait()

    def kill(self) -> None:
        self._running = False
        if self._thread is not None:
            self._thread.kill()
        # the pool's sends are green threads of their own, not the container's: killing the
        # loop left them running after the service (waiting on the gateway, or on a database
        # connection the container then closed under them)
        for send in list(self.pool.coroutines_running if self.pool is not None else ()):
            send.kill()

    def get_dependency(self, worker_ctx) -> SenderHandle:
        return SenderHandle(self)

    def send_now(self) -> int:
        """One sender run (the loop's step; tests call it)."""
        with session_scope(self.database.session_factory) as session:
            requeue_stale(session, STALE)
        return send_due(
            self.database.session_factory,
            self.gateway,
            now=self.now(),
            settings=self.settings,
            each=self._each,
        )

    def _each(self, send: Callable, requests: Iterable) -> list:
        """``send`` for each request, up to SMS_SEND_CONCURRENCY at once, the answers in order.
        A pile on the sender's own pool, so kill() finds the sends (GreenPool.imap makes a new
        pool per call that nobody can reach)."""
        pile = GreenPile(self.pool)
        for request in requests:
            pile.spawn(send, request)
        return list(pile)

    def _send_forever(self) -> None:
        while self._running:
            try:
                sent = self.send_now()
            except Exception:
                _log.exception("notify: a sender run failed")
                sent = 0
            if sent < self.settings.batch:  # a full batch means more may be due
                self.wake.wait(self.interval)
                self.wake.clear()
