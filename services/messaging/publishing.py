"""Publishing outbox events exactly as nameko's EventDispatcher would, with confirms.

Same exchange (`<service>.events`, topic, durable, from `nameko.standalone.events`), the
event type as routing key, the worker's `nameko.*` context headers, the container's
serializer, persistent delivery. `confirm_publish` makes kombu wait for the broker's ack, so
`publish` returns only when RabbitMQ has the message, and raises when it refuses it (for
example a missing exchange) or cannot be reached; the outbox then keeps the row.
"""

from __future__ import annotations

from typing import Any

from nameko import serialization
from nameko.amqp.publish import Publisher
from nameko.constants import (
    AMQP_SSL_CONFIG_KEY,
    AMQP_URI_CONFIG_KEY,
    LOGIN_METHOD_CONFIG_KEY,
    PERSISTENT,
)
from nameko.standalone.events import get_event_exchange

from services.messaging.outbox import OutgoingEvent, Publish

# A relay is retried by its next run, so a publish gives up quickly when the broker is away.
RELAY_RETRY_POLICY = {"max_retries": 1, "interval_start": 0.5, "interval_step": 0.5}


def event_publisher(config: dict[str, Any], service_name: str) -> Publish:
    """A `publish(OutgoingEvent)` for events of `service_name`, on the broker in `config`."""
    exchange = get_event_exchange(service_name, config)
    serializer, _ = serialization.setup(config)
    publisher = Publisher(
        config[AMQP_URI_CONFIG_KEY],
        use_confirms=True,
        delivery_mode=PERSISTENT,
        serializer=serializer,
        declare=[exchange],
        retry=True,
        retry_policy=RELAY_RETRY_POLICY,
        ssl=config.get(AMQP_SSL_CONFIG_KEY),
        login_method=config.get(LOGIN_METHOD_CONFIG_KEY),
    )

    def publish(event: OutgoingEvent) -> None:
        publisher.publish(
            event.body,
            exchange=exchange,
            routing_key=event.event_type,
            extra_headers=event.headers,
            message_id=event.id,
        )

    return publish
