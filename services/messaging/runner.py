"""Running services in this process: checked before they start, stopped within a bound.

Used by `mutual-aid run` (production: RabbitMQ, PostgreSQL) and `mutual-aid serve` (the
embedded mode). Like everything nameko, it runs after eventlet.monkey_patch().

Starting: `check_startup` tries the HTTP address, each service's database and the broker
once, and raises `StartupError` with one line naming what is wrong (`nameko run` would go on
with a traceback every few seconds, or hang on a broker that refuses the login).

Watching: from before the services start until they have stopped, the process's HTTP listener
answers /healthz, /readyz (503 while starting and from SIGTERM on) and /metrics
(services/messaging/health.py, metrics.py) and /openapi.json (openapi.py); every worker is
timed (metrics.WorkerTimer). Once started, the heap loaded to start is frozen out of the cyclic
collector's walks (`settled_heap`: a full collection paused every request for 80-90 ms).

Stopping, on SIGTERM or Ctrl-C: nameko's graceful stop (no new work; running workers finish),
bounded by SHUTDOWN_GRACE seconds, then killed; a second signal kills at once; and should even
that hang (a hub blocked in C code), a real thread ends the process 3 s later. An idle process used
to take 3–6 s to stop: every consumer of nameko wakes once a second (kombu's
`drain_events(timeout=1)`) and a graceful stop waits for two or three such wake-ups in turn
(cancel the entrypoints' consumers, cancel the RPC reply queue, end the consumer loop);
`quick_consumers` makes that wake-up 0.1 s. The signal itself wakes eventlet's hub through
`signal.set_wakeup_fd`, not at the hub's next timer.
"""

from __future__ import annotations

import gc
import logging
import os
import signal
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from functools import partialmethod
from typing import Any

import eventlet
from eventlet.hubs import trampoline
from eventlet.queue import LightQueue
from kombu import Connection
from kombu.mixins import ConsumerMixin
from nameko.containers import get_service_name
from nameko.messaging import QueueConsumer
from nameko.runners import ServiceRunner
from sqlalchemy.engine import make_url

from services.messaging import health, metrics
from services.messaging import openapi as _openapi  # noqa: F401 (its routes on the listener)
from services.messaging.database import make_engine
from services.messaging.errors import ConfigError, StartupError
from services.messaging.http_address import parse_address
from services.messaging.http_listener import Listener, check_address
from services.messaging.web import ADDRESS_KEY, DEFAULT_ADDRESS, HttpEntrypoint

_log = logging.getLogger(__name__)

GRACE_KEY = "SHUTDOWN_GRACE"
DEFAULT_GRACE = 20.0  # seconds for running workers to finish after SIGTERM
CONSUMER_WAKEUP = 0.1  # seconds; kombu's default is 1
CHECK_TIMEOUT = 5.0  # seconds for each startup check


def quick_consumers(interval: float = CONSUMER_WAKEUP) -> None:
    """Make nameko's consumers look for a stop request every `interval` seconds."""
    QueueConsumer.run = partialmethod(ConsumerMixin.run, safety_interval=interval)


def has_http(service_cls: type) -> bool:
    return any(
        isinstance(entrypoint, HttpEntrypoint)
        for member in vars(service_cls).values()
        for entrypoint in getattr(member, "nameko_entrypoints", ())
    )


def listens(service_classes: Iterable[type], config: dict[str, Any]) -> bool:
    """Whether the process opens an HTTP listener: for the services' routes, or, given an
    address, for its own (/healthz, /readyz, /metrics) even when they have none."""
    return ADDRESS_KEY in config or any(has_http(cls) for cls in service_classes)


@contextmanager
def settled_heap() -> Iterator[None]:
    """For the services' running life, what was loaded to start them (modules, plugins,
    mappers, schemas: a few hundred thousand objects) is out of the cyclic collector's sight
    (gc.freeze). A full collection walked all of it: 80-90 ms with every request waiting, the
    bank callbacks' p99 (issue 10); now it walks what came since (6-8 ms). Unfrozen when the
    block ends (a test process starts services many times)."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def check_startup(service_classes: Iterable[type], config: dict[str, Any]) -> None:
    """Raise the first thing the services could not start with: ConfigError (the HTTP
    address or a database URL: exit 2) or StartupError (a database or the broker: exit 1)."""
    classes = list(service_classes)
    if listens(classes, config):
        # HttpAddressError (nonsense, or in use) is a usage error: exit 2, not 1
        check_address(parse_address(config.get(ADDRESS_KEY, DEFAULT_ADDRESS)))
    databases = config.get("DATABASES") or {}
    for cls in classes:
        name = get_service_name(cls)
        if name in databases:
            check_database(name, databases[name])
    if not str(config.get("AMQP_URI", "")).startswith("memory://"):
        check_broker(config.get("AMQP_URI") or "")


def check_database(service: str, url: str, timeout: float = CHECK_TIMEOUT) -> None:
    """One connection to the service's database, or StartupError saying why not (a URL that
    is not one of ours is a ConfigError, from make_engine)."""
    try:
        shown = make_url(url).render_as_string(hide_password=True)
    except Exception:
        raise ConfigError(f"database of {service}: {url!r} is not a database URL") from None
    engine = make_engine(url, pool_size=1)
    try:
        with eventlet.Timeout(timeout), engine.connect():
            pass
    except eventlet.Timeout:
        raise StartupError(f"database of {service} ({shown}): no answer in {timeout:g} s") from None
    except Exception as exc:
        reason = _one_line(getattr(exc, "orig", None) or exc)
        raise StartupError(f"database of {service} ({shown}): {reason}") from None
    finally:
        engine.dispose()


def check_broker(uri: str, timeout: float = CHECK_TIMEOUT) -> None:
    connection = Connection(uri, connect_timeout=timeout)
    shown = connection.as_uri()  # the password masked
    try:
        with eventlet.Timeout(timeout + 1):
            connection.connect()
    except eventlet.Timeout:
        raise StartupError(f"broker {shown}: no answer in {timeout:g} s") from None
    except Exception as exc:
        raise StartupError(f"broker {shown}: {_one_line(exc)}") from None
    finally:
        connection.release()


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def run_services(
    service_classes: Iterable[type],
    config: dict[str, Any],
    ready: Callable[[ServiceRunner], None] | None = None,
) -> None:
    """Run the services until SIGTERM or SIGINT; `ready(runner)` once all have started.
    A service that fails to start raises (the others killed first)."""
    quick_consumers()
    grace = float(config.get(GRACE_KEY, DEFAULT_GRACE))
    classes = list(service_classes)
    runner = ServiceRunner(config)
    for cls in classes:
        runner.add_service(cls)
    for container in runner.containers:
        metrics.time_workers(container)
    # The process's own share of the listener: /healthz, /readyz and /metrics answer from
    # before the services start until after they stop (draining: /readyz 503), also for a
    # process whose services have no routes of their own but were given an address.
    listener = None
    if listens(classes, config):
        listener = Listener.acquire(parse_address(config.get(ADDRESS_KEY, DEFAULT_ADDRESS)), runner)
    probe = health.watch(runner, config)
    events: LightQueue = LightQueue()
    restore = _on_signals(lambda: events.put("signal"), grace + 3.0)
    try:
        starting = eventlet.spawn(runner.start)
        starting.link(lambda _: events.put("started"))
        if events.get() == "signal":  # still starting (a broker that refuses?): nothing to finish
            _log.warning("stopped while starting")
            _kill(runner)
            return
        try:
            starting.wait()
        except BaseException:
            _kill(runner)
            raise
        with settled_heap():
            probe.ready()
            if ready is not None:
                ready(runner)
            watching = eventlet.spawn(runner.wait)
            watching.link(lambda _: events.put("ended"))
            if events.get() == "ended":
                watching.wait()  # a container that died raises here
                return
            probe.draining()
            _stop(runner, grace, events)
    finally:
        restore()
        probe.close()
        if listener is not None:
            listener.release(runner)


def _stop(runner: ServiceRunner, grace: float, events: LightQueue) -> None:
    _log.info("stopping (running work has %g s to finish)", grace)
    stopping = eventlet.spawn(runner.stop)
    stopping.link(lambda _: events.put("stopped"))
    timer = eventlet.spawn_after(grace, events.put, "grace over")
    while (what := events.get()) not in ("stopped", "grace over", "signal"):
        _log.debug("while stopping: %s", what)  # the runner's own end, seen before "stopped"
    if what != "stopped":
        _log.warning("still busy after %s: killing what runs", what)
        _kill(runner)
    timer.cancel()


def _exit_now() -> None:
    os.write(2, b"mutual-aid: did not stop in time; exiting\n")
    os._exit(1)


def _kill(runner: ServiceRunner, bound: float = 2.0) -> None:
    with eventlet.Timeout(bound, False):
        runner.kill()


def _on_signals(notify: Callable[[], None], last_resort: float) -> Callable[[], None]:
    """Call `notify` in a greenthread for each SIGTERM/SIGINT; returns the undo.

    The first signal also starts a real thread that ends the process `last_resort` seconds
    later whatever happens: it runs even when every greenthread is stuck (a hub blocked in C
    code, a full stderr pipe), which no green timer would."""
    read_end, write_end = os.pipe()
    os.set_blocking(read_end, False)
    os.set_blocking(write_end, False)
    previous_fd = signal.set_wakeup_fd(write_end)
    threading = eventlet.patcher.original("threading")
    deadline = threading.Timer(last_resort, _exit_now)
    deadline.daemon = True

    def on_signal(*_) -> None:
        if not deadline.is_alive() and not deadline.finished.is_set():
            deadline.start()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}

    def watch() -> None:
        while True:
            trampoline(read_end, read=True)
            try:
                received = os.read(read_end, 64)
            except BlockingIOError:
                continue
            for _ in (b for b in received if b in (signal.SIGTERM, signal.SIGINT)):
                notify()

    watcher = eventlet.spawn(watch)

    def restore() -> None:
        deadline.cancel()
        watcher.kill()
        signal.set_wakeup_fd(previous_fd)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        os.close(read_end)
        os.close(write_end)

    return restore
