"""Publishing outbox events exactly as nameko's EventDispatcher would, with confirms.

Same exchange (`<service>.events`, topic, durable, from `nameko.standalone.events`), the
event type as routing key, the worker's `nameko.*` context headers, the container's
serializer, persistent delivery. `confirm_publish` makes kombu wait for the broker's ack, so
`publish` returns only when RabbitMQ has the message, and raises when it refuses it (for
example a missing exchange) or cannot be reached; the outbox then keeps the row.

A relay run publishes a batch: `publish.many(events)` sends them all on one channel in confirm
mode and then waits for the broker's acks together (issue 14: waiting for each confirm in turn
kept the relay at a fraction of what the broker takes). It raises `PartlyPublished` naming how
many of the first events were confirmed, so the outbox marks exactly those. `publish.send`
is `many` in two halves: it publishes and returns a `SentBatch` whose `wait()` awaits the acks
(and raises as `many` does), so the relay marks the batch before while this one is confirmed.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from kombu import Connection, Producer
from nameko import serialization
from nameko.amqp.publish import Publisher
from nameko.constants import (
    AMQP_SSL_CONFIG_KEY,
    AMQP_URI_CONFIG_KEY,
    DEFAULT_TRANSPORT_OPTIONS,
    LOGIN_METHOD_CONFIG_KEY,
    PERSISTENT,
)
from nameko.standalone.events import get_event_exchange

from services.messaging.outbox import OutgoingEvent, PartlyPublished

# A relay is retried by its next run, so a publish gives up quickly when the broker is away.
RELAY_RETRY_POLICY = {"max_retries": 1, "interval_start": 0.5, "interval_step": 0.5}


# How long a batch waits for the broker's acks before the run gives up (the rows stay).
CONFIRM_TIMEOUT = 30.0


def event_publisher(config: dict[str, Any], service_name: str) -> EventPublisher:
    """A `publish(OutgoingEvent)` for events of `service_name`, on the broker in `config`,
    with `publish.many(events)` for a batch."""
    return EventPublisher(config, service_name)


class EventPublisher:
    def __init__(self, config: dict[str, Any], service_name: str):
        self.exchange = get_event_exchange(service_name, config)
        self.serializer, _ = serialization.setup(config)
        self.uri = config[AMQP_URI_CONFIG_KEY]
        self.ssl = config.get(AMQP_SSL_CONFIG_KEY)
        self.login_method = config.get(LOGIN_METHOD_CONFIG_KEY)
        self._one = Publisher(
            self.uri,
            use_confirms=True,
            delivery_mode=PERSISTENT,
            serializer=self.serializer,
            declare=[self.exchange],
            retry=True,
            retry_policy=RELAY_RETRY_POLICY,
            ssl=self.ssl,
            login_method=self.login_method,
        )
        self._lock = threading.Lock()
        self._connection: Connection | None = None
        self._published = 0

    def __call__(self, event: OutgoingEvent) -> None:
        self._one.publish(
            event.body,
            exchange=self.exchange,
            routing_key=event.event_type,
            extra_headers=event.headers,
            message_id=event.id,
        )

    def many(self, events: Sequence[OutgoingEvent]) -> None:
        """Publish ``events`` in order on one confirm-mode channel, then wait for every ack;
        raise PartlyPublished(n, cause) when only the first n were confirmed."""
        self.send(events).wait()

    def send(self, events: Sequence[OutgoingEvent]) -> SentBatch:
        """Publish ``events`` as ``many`` does but return before the acks: the caller may work
        meanwhile (the relay marks the batch before) and must call ``wait()`` on the answer,
        which raises as ``many`` does. No other publish starts on this publisher until then."""
        self._lock.acquire()
        batch = SentBatch(self, _Confirms(len(events)))
        try:
            if not events:
                return batch
            channel = self._channel()
            if not hasattr(channel, "confirm_select"):
                self._one_by_one(events)  # raises PartlyPublished: kept for wait()
                return batch
            batch.confirms.base = self._published
            batch.channel = channel
            channel.events["basic_ack"].add(batch.confirms.ack)
            channel.events["basic_nack"].add(batch.confirms.nack)
            producer = Producer(channel, serializer=self.serializer)
            # the message nameko's Publisher sends (publish.py), without its wait
            for n, event in enumerate(events):
                producer.publish(
                    event.body,
                    exchange=self.exchange,
                    routing_key=event.event_type,
                    headers=dict(event.headers),
                    delivery_mode=PERSISTENT,
                    mandatory=False,
                    priority=0,
                    message_id=event.id,
                    declare=[self.exchange] if n == 0 else [],
                    retry=False,
                )
                self._published += 1
        except Exception as exc:  # raised by wait(), with the lock released there
            batch.error = exc
        except BaseException:  # the thread is being killed: no wait() will come
            self._lock.release()
            raise
        return batch

    def _one_by_one(self, events: Sequence[OutgoingEvent]) -> None:
        # a transport without publisher confirms (the embedded suite's in-memory broker)
        for n, event in enumerate(events):
            try:
                self(event)
            except Exception as exc:
                raise PartlyPublished(n, exc) from exc

    def _channel(self):
        if self._connection is None:
            options = {**DEFAULT_TRANSPORT_OPTIONS, "confirm_publish": False}
            connection = Connection(
                self.uri,
                transport_options=options,
                ssl=self.ssl,
                login_method=self.login_method,
                connect_timeout=5,
            )
            connection.ensure_connection(max_retries=1)
            channel = connection.channel()
            if hasattr(channel, "confirm_select"):
                channel.confirm_select()
            self._connection, self._confirm_channel = connection, channel
            self._published = 0  # a confirm channel's delivery tags count from 1
        return self._confirm_channel

    def _close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.release()
            except Exception:  # noqa: S110 - already broken; a new one is opened next batch
                pass


class SentBatch:
    """A batch ``EventPublisher.send`` published; ``wait()`` awaits its acks (once)."""

    def __init__(self, publisher: EventPublisher, confirms: _Confirms):
        self.publisher = publisher
        self.confirms = confirms
        self.channel = None
        self.error: BaseException | None = None

    def wait(self) -> None:
        """Every ack, or PartlyPublished(n, cause) naming the confirmed first n."""
        publisher, confirmed = self.publisher, self.confirms
        try:
            if isinstance(self.error, PartlyPublished):  # one by one (no confirms)
                raise self.error
            try:
                if self.error is not None:
                    raise self.error
                while self.channel is not None and not confirmed.done:
                    publisher._connection.drain_events(timeout=CONFIRM_TIMEOUT)
            finally:
                if self.channel is not None:
                    self.channel.events["basic_ack"].discard(confirmed.ack)
                    self.channel.events["basic_nack"].discard(confirmed.nack)
            if confirmed.refused is not None:
                raise PartlyPublished(
                    confirmed.prefix(), RuntimeError("the broker refused (nack) a message")
                )
        except PartlyPublished:
            raise
        except Exception as exc:  # the channel or connection is gone: start afresh
            publisher._close()
            raise PartlyPublished(confirmed.prefix(), exc) from exc
        finally:
            publisher._lock.release()


class _Confirms:
    """The broker's acks for one batch: delivery tags count on from the channel's last."""

    def __init__(self, count: int):
        self.count = count
        self.base: int | None = None  # the tag before this batch's first
        self.acked: set[int] = set()
        self.upto = 0
        self.refused: int | None = None

    def ack(self, tag: int, multiple: bool) -> None:
        if multiple:
            self.upto = max(self.upto, tag)
        else:
            self.acked.add(tag)

    def nack(self, tag: int, multiple: bool) -> None:
        self.refused = tag if self.refused is None else min(self.refused, tag)

    def prefix(self) -> int:
        """How many of the batch's first messages are confirmed, in order."""
        base = self.base or 0
        n = 0
        while n < self.count and (base + n + 1 <= self.upto or base + n + 1 in self.acked):
            if self.refused is not None and base + n + 1 >= self.refused:
                break
            n += 1
        return n

    @property
    def done(self) -> bool:
        return self.refused is not None or self.prefix() == self.count
