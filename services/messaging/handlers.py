"""`event_handler`: nameko's, except that an event whose handler fails is not lost.

    from services.messaging.handlers import event_handler

    @event_handler("payments", "payout_succeeded")
    def on_payout_succeeded(self, event): ...

nameko acknowledges an event even when its handler raises, so with the database briefly away
the event is gone. Here a failed event stays unacknowledged and its handler runs again after
each delay of EVENT_RETRY_DELAYS (a timer waits, not a worker). After the last try the event is
parked as a dead letter in the service's own database (services/messaging/dead_letters.py)
and only then acknowledged. A payload that fails its schema (`EventPayloadError`, see
services/messaging/payloads.py) is parked at once: retrying cannot mend it. If the dead letter
cannot be written (the database is what failed) the event stays unacknowledged and is tried
again at the longest delay, for as long as it takes.

If the service stops meanwhile, RabbitMQ takes the unacknowledged event back and delivers it
again (the handler is idempotent, so a second delivery is safe). kombu's in-memory bus of the
embedded mode drops what was unacknowledged instead, so there the stopping service parks each
waiting event for replay, and the next start hands it back.

Replays: `mutual-aid events replay ID…` marks dead letters; every EVENT_REPLAY_INTERVAL seconds
the running service publishes each marked one to its handler's own queue and marks it
replayed. A replay that fails again goes through the retries and is parked on the same row.

Configuration (nameko config dict):
    EVENT_RETRY_DELAYS:    seconds before each retry       default [1, 2, 4, 8, 16] (31 s in all)
    EVENT_REPLAY_INTERVAL: seconds between replay checks   default 5
    EVENT_PREFETCH:        unacknowledged events held       default 2 × max_workers
                           (running or waiting to retry), per handler on RabbitMQ
    EVENT_QUEUE_TYPE:      "quorum" or "classic": declared   default: the broker's
                           as `x-queue-type` on the handlers' queues (deploy/config.yaml:
                           quorum, as deploy/rabbitmq/definitions.json pre-declares them;
                           a declaration must match the queue's type or RabbitMQ before
                           3.13 refuses it, PRECONDITION_FAILED)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

import eventlet
from eventlet.green import threading as green_threading
from nameko.amqp.publish import Publisher
from nameko.constants import (
    AMQP_SSL_CONFIG_KEY,
    AMQP_URI_CONFIG_KEY,
    DEFAULT_MAX_WORKERS,
    LOGIN_METHOD_CONFIG_KEY,
    MAX_WORKERS_CONFIG_KEY,
    PERSISTENT,
)
from nameko.events import SERVICE_POOL
from nameko.events import EventHandler as NamekoEventHandler
from nameko.exceptions import ContainerBeingKilled
from nameko.extensions import ProviderCollector, SharedExtension
from nameko.messaging import QueueConsumer

from services.kernel.privacy import mask_text
from services.messaging import dead_letters, metrics
from services.messaging.database import session_scope, utc_now
from services.messaging.dependencies import Database
from services.messaging.errors import ConfigError, EventPayloadError

_log = logging.getLogger(__name__)

DEFAULT_RETRY_DELAYS = (1, 2, 4, 8, 16)
DEFAULT_REPLAY_INTERVAL = 5.0
QUEUE_TYPE_KEY = "EVENT_QUEUE_TYPE"
# Set on a replayed message, so a failure parks the same dead letter again; never passed on
# to the worker's context (it would travel with the events the handler records).
DEAD_LETTER_HEADER = "mutual_aid.dead_letter_id"
STOPPED = "system: the service stopped while retrying"


def retry_delays(config: dict[str, Any]) -> tuple[float, ...]:
    """EVENT_RETRY_DELAYS checked: a non-empty list of positive seconds."""
    delays = config.get("EVENT_RETRY_DELAYS", DEFAULT_RETRY_DELAYS)
    if (
        not isinstance(delays, (list, tuple))
        or not delays
        or not all(
            isinstance(d, (int, float)) and not isinstance(d, bool) and d > 0 for d in delays
        )
    ):
        raise ConfigError(
            f"EVENT_RETRY_DELAYS must be a list of positive seconds, e.g. [1, 2, 4, 8, 16]; "
            f"got {delays!r}"
        )
    return tuple(float(d) for d in delays)


def _positive(config: dict[str, Any], key: str, default: float) -> float:
    value = config.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ConfigError(f"{key} must be a positive number, got {value!r}")
    return value


def reason_of(exc: BaseException) -> str:
    """Why a handler failed, in one masked line: SQLAlchemy's further lines (the statement and
    its parameters) would put personal data into the dead-letter list and the log."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if not isinstance(exc, EventPayloadError):
        text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return mask_text(text)


@dataclass
class Delivery:
    """One event message while its handler is tried: how often it failed, since when, why."""

    body: Any
    message: Any
    replay_of: int | None = None
    attempts: int = 0
    first_failed_at: datetime | None = None
    reason: str = ""


class EventQueueConsumer(QueueConsumer):
    """The event handlers' own connection to the broker, apart from the RPC consumer's: events
    waiting to be retried hold their prefetch places, and must not hold RPC's (the in-memory
    bus counts prefetch per connection, not per queue as RabbitMQ does)."""

    def setup(self) -> None:
        config = self.container.config
        default = 2 * config.get(MAX_WORKERS_CONFIG_KEY, DEFAULT_MAX_WORKERS)
        self._prefetch = int(_positive(config, "EVENT_PREFETCH", default))

    @property
    def prefetch_count(self) -> int:
        return self._prefetch


class DeadLetterOffice(SharedExtension, ProviderCollector):
    """Parks events for a service's handlers and hands replays back to their queues."""

    def setup(self) -> None:
        config = self.container.config
        service = self.container.service_name
        databases = [d for d in self.container.dependencies if isinstance(d, Database)]
        if len(databases) != 1:
            raise ConfigError(
                f"service {service}: event handlers park failed events in the service's "
                f"database; it needs exactly one Database provider, found {len(databases)}"
            )
        self.database = databases[0]
        if "dead_letters" not in self.database.metadata.tables:
            raise ConfigError(
                f"service {service}: add dead_letters_table(Base.metadata) to its models "
                "(services/messaging/dead_letters.py)"
            )
        self.interval = _positive(config, "EVENT_REPLAY_INTERVAL", DEFAULT_REPLAY_INTERVAL)
        self.publisher = Publisher(
            config[AMQP_URI_CONFIG_KEY],
            use_confirms=True,
            delivery_mode=PERSISTENT,
            serializer=self.container.serializer,
            retry=True,
            retry_policy={"max_retries": 1, "interval_start": 0.5, "interval_step": 0.5},
            ssl=config.get(AMQP_SSL_CONFIG_KEY),
            login_method=config.get(LOGIN_METHOD_CONFIG_KEY),
        )
        self._wake = green_threading.Event()
        self._running = False
        self._thread = None

    def start(self) -> None:
        self._running = True
        self._thread = self.container.spawn_managed_thread(
            self._replay_forever, identifier=f"{self.container.service_name}.dead_letter_replay"
        )

    def unregister_provider(self, provider: EventHandler) -> None:
        super().unregister_provider(provider)
        if not self._providers:
            self._stop_replays()

    def stop(self) -> None:
        self._stop_replays()  # normally done already, when the last handler stopped

    def kill(self) -> None:
        self._running = False
        thread, self._thread = getattr(self, "_thread", None), None
        if thread is not None:
            thread.kill()

    def _stop_replays(self) -> None:
        self._running = False
        thread, self._thread = getattr(self, "_thread", None), None
        if thread is not None:
            self._wake.set()
            thread.wait()

    def park(self, handler: EventHandler, delivery: Delivery, **kwargs: Any) -> bool:
        """Write the dead letter; False (logged) when the database cannot take it."""
        headers = dict(delivery.message.headers or {})
        headers.pop(DEAD_LETTER_HEADER, None)
        try:
            with session_scope(self.database.session_factory) as session:
                number = dead_letters.park(
                    session,
                    consumer=handler.consumer,
                    source_service=handler.source_service,
                    event_type=handler.event_type,
                    payload=delivery.body,
                    headers=headers,
                    reason=delivery.reason,
                    attempts=delivery.attempts,
                    first_failed_at=delivery.first_failed_at or utc_now(),
                    replay_of=delivery.replay_of,
                    **kwargs,
                )
        except Exception as exc:
            _log.error(
                "%s: cannot park a %s event (%s); it stays unacknowledged",
                handler.consumer,
                handler.event_type,
                reason_of(exc),
            )
            return False
        _log.warning(
            "%s: %s event parked as dead letter %s after %s attempt(s): %s",
            handler.consumer,
            handler.event_type,
            number,
            delivery.attempts,
            delivery.reason,
        )
        return True

    def replay(self) -> int:
        """Hand every dead letter marked for replay back to its handler's queue; how many."""
        handlers = {handler.consumer: handler for handler in self._providers}
        with session_scope(self.database.session_factory) as session:
            waiting = dead_letters.replay_requested(session, handlers)
        replayed = 0
        for number in waiting:
            with session_scope(self.database.session_factory) as session:
                row = dead_letters.start_replay(session, number)
                if row is None:
                    continue  # another process of the service took it
                # published before the mark commits: a failure leaves it marked for the next
                # run; a crash between the two publishes it twice, which idempotency absorbs
                self.publisher.publish(
                    row.payload,
                    routing_key=handlers[row.consumer].queue.name,
                    extra_headers={**(row.headers or {}), DEAD_LETTER_HEADER: row.id},
                )
            _log.info("%s: dead letter %s replayed", row.consumer, number)
            replayed += 1
        return replayed

    def _replay_forever(self) -> None:
        while self._running:
            try:
                self.replay()
            except Exception as exc:
                _log.warning(
                    "%s: replaying dead letters failed (tried again in %s s): %s",
                    self.container.service_name,
                    self.interval,
                    reason_of(exc),
                )
            self._wake.wait(self.interval)
            self._wake.clear()


class EventHandler(NamekoEventHandler):
    """nameko's EventHandler with retries, dead letters and replays (module docstring)."""

    queue_consumer = EventQueueConsumer()
    dead_letter_office = DeadLetterOffice()

    def __init__(
        self,
        source_service: str,
        event_type: str,
        handler_type: str = SERVICE_POOL,
        reliable_delivery: bool = True,
        **kwargs: Any,
    ):
        if "requeue_on_error" in kwargs:
            raise ConfigError(
                "event_handler retries and parks failed events itself; drop requeue_on_error"
            )
        super().__init__(
            source_service,
            event_type,
            handler_type=handler_type,
            reliable_delivery=reliable_delivery,
            **kwargs,
        )

    def setup(self) -> None:
        super().setup()
        queue_type = self.container.config.get(QUEUE_TYPE_KEY)
        if queue_type is not None:
            if queue_type not in ("quorum", "classic"):
                raise ConfigError(f"{QUEUE_TYPE_KEY} must be quorum or classic, got {queue_type!r}")
            if self.queue.durable and not self.queue.exclusive:  # what quorum queues can be
                self.queue.queue_arguments = {
                    **(self.queue.queue_arguments or {}),
                    "x-queue-type": queue_type,
                }
        self.delays = retry_delays(self.container.config)
        self.consumer = f"{self.container.service_name}.{self.method_name}"
        self._waiting: dict[int, tuple[Delivery, Any]] = {}
        self._stopping = False
        self.dead_letter_office.register_provider(self)

    def stop(self) -> None:
        self._stopping = True
        waiting, self._waiting = getattr(self, "_waiting", {}), {}
        for delivery, timer in waiting.values():
            timer.kill()
            self._give_back(delivery)
        self.dead_letter_office.unregister_provider(self)
        super().stop()

    def kill(self) -> None:
        self._stopping = True
        waiting, self._waiting = getattr(self, "_waiting", {}), {}
        for _, timer in waiting.values():
            timer.kill()
        super().kill()

    def handle_message(self, body: Any, message: Any) -> None:
        replay_of = (message.headers or {}).get(DEAD_LETTER_HEADER)
        if not isinstance(replay_of, int) or isinstance(replay_of, bool):
            replay_of = None  # only the replay publisher sets it, always to a row's id
        self._run(Delivery(body, message, replay_of=replay_of))

    def _run(self, delivery: Delivery) -> None:
        context_data = self.unpack_message_headers(delivery.message)
        context_data.pop(DEAD_LETTER_HEADER, None)
        try:
            self.container.spawn_worker(
                self,
                (delivery.body,),
                {},
                context_data=context_data,
                handle_result=partial(self.handle_result, delivery),
            )
        except ContainerBeingKilled:
            self.queue_consumer.requeue_message(delivery.message)

    def handle_result(self, delivery: Delivery, worker_ctx, result=None, exc_info=None):
        # runs in the worker, after the Database provider committed or rolled back; an error
        # raised here would kill the container, so none escapes
        try:
            if exc_info is None:
                self.queue_consumer.ack_message(delivery.message)
                metrics.count_event(self.consumer, self.event_type, metrics.HANDLED)
            else:
                metrics.count_event(self.consumer, self.event_type, metrics.FAILED)
                self._failed(delivery, exc_info[1])
        except Exception:
            _log.exception("%s: handling the outcome of an event failed", self.consumer)
        return result, exc_info

    def _failed(self, delivery: Delivery, exc: BaseException) -> None:
        delivery.attempts += 1
        delivery.first_failed_at = delivery.first_failed_at or utc_now()
        delivery.reason = reason_of(exc)
        if self._stopping:
            self._give_back(delivery)
        elif isinstance(exc, EventPayloadError) or delivery.attempts > len(self.delays):
            if self.dead_letter_office.park(self, delivery):
                self.queue_consumer.ack_message(delivery.message)
                metrics.count_event(self.consumer, self.event_type, metrics.DEAD_LETTERED)
            else:
                self._retry_after(delivery, self.delays[-1])
        else:
            self._retry_after(delivery, self.delays[delivery.attempts - 1])

    def _retry_after(self, delivery: Delivery, delay: float) -> None:
        key = id(delivery)

        def wait_then_run() -> None:
            eventlet.sleep(delay)
            try:
                self._run(delivery)  # may wait for a free worker: this timer waits, not one
            except Exception:
                _log.exception("%s: retrying an event failed", self.consumer)
            self._waiting.pop(key, None)

        timer = self.container.spawn_managed_thread(
            wait_then_run, identifier=f"{self.consumer}.retry"
        )
        self._waiting[key] = (delivery, timer)

    def _give_back(self, delivery: Delivery) -> None:
        """The service stops with this event unacknowledged: RabbitMQ delivers it again once
        the consumer's connection closes; the in-memory bus would drop it, so it is parked
        for the next start to replay."""
        if getattr(delivery.message.channel, "do_restore", True):
            return
        delivery.reason = delivery.reason or "the service stopped"
        self.dead_letter_office.park(
            self, delivery, status=dead_letters.REPLAY_REQUESTED, requested_by=STOPPED
        )


event_handler = EventHandler.decorator
