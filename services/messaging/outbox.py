"""The transactional outbox: an event is a row written in the same transaction as the change
it announces, and a relay publishes rows only after that transaction has committed.

A service puts the `outbox` table into its own metadata (`outbox_table(Base.metadata)`), so
it is created and migrated with the service's other tables. `record_event` adds a row in the
caller's transaction. `relay_pending` publishes unpublished rows in the order they were
recorded (a batch at once when the publisher has `many`, its confirms awaited together;
several batches a run pipelined when it has `send`) and marks the confirmed ones published
(one UPDATE a batch); `purge_history` deletes what was published long ago. A publish that
fails stops the run with the error on that row, and the next run starts from it. A row whose
mark is lost after its publish (the process dies between the two) is published again:
delivery is at least once, and consumers are idempotent (`idempotency.first_time`).

Nothing here imports nameko: the publish function is passed in (`publishing.event_publisher`
builds the one that speaks nameko's event format).
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    delete,
    event,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session

from services.messaging.database import SessionFactory, UtcDateTime, session_scope, utc_now
from services.messaging.errors import EventPayloadError

_log = logging.getLogger(__name__)

MAX_PAYLOAD_BYTES = 2048
EVENT_TYPE = re.compile(r"[a-z][a-z0-9_]{0,79}")
RESERVED_KEY = "event_id"  # the relay adds the row's id under this key

# The one definition of the table; `outbox_table` copies it into a service's metadata and
# the statements below use it by name, so they run against whichever database the session
# is bound to.
_metadata = MetaData()
OUTBOX = Table(
    "outbox",
    _metadata,
    Column("id", String(36), primary_key=True),  # a UUIDv7: its order is the order recorded
    Column("event_type", String(80), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("headers", JSON, nullable=False),  # nameko's context headers (call_id_stack …)
    Column("created_at", UtcDateTime, nullable=False),
    Column("published_at", UtcDateTime, nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text, nullable=True),
)
Index(
    "ix_outbox_unpublished",
    OUTBOX.c.id,
    postgresql_where=OUTBOX.c.published_at.is_(None),
    sqlite_where=OUTBOX.c.published_at.is_(None),
)

_RECORDED = "services.messaging.outbox:recorded"  # session.info flag: events in this txn
RELAY_LOCK_NAME = "mutual-aid outbox relay "  # + the schema: PostgreSQL advisory lock key


@dataclass(frozen=True)
class OutgoingEvent:
    """What the relay hands to `publish`: the row's id, type, message body and headers."""

    id: str
    event_type: str
    body: dict[str, Any]
    headers: dict[str, Any] = field(default_factory=dict)


Publish = Callable[[OutgoingEvent], None]


class PartlyPublished(Exception):
    """A batch publish (`publish.many`) had only its first ``confirmed`` events confirmed."""

    def __init__(self, confirmed: int, cause: BaseException):
        super().__init__(f"{type(cause).__name__}: {cause}")
        self.confirmed = confirmed
        self.cause = cause


def outbox_table(metadata: MetaData) -> Table:
    """The `outbox` table, added to a service's own metadata."""
    return OUTBOX.to_metadata(metadata)


def record_event(
    session: Session,
    event_type: str,
    payload: dict[str, Any],
    *,
    headers: dict[str, Any] | None = None,
) -> str:
    """Add `event_type` with `payload` to the outbox in the session's transaction.

    Returns the event id, which consumers receive as `payload["event_id"]`.
    """
    check_event(event_type, payload)
    event_id = new_event_id()
    session.execute(
        insert(OUTBOX).values(
            id=event_id,
            event_type=event_type,
            payload=payload,
            headers=headers or {},
            created_at=utc_now(),
            attempts=0,
        )
    )
    session.info[_RECORDED] = True
    return event_id


def check_event(event_type: str, payload: Any) -> None:
    """Refuse an event that is not small, versioned and made of ids and plain values."""
    if not isinstance(event_type, str) or not EVENT_TYPE.fullmatch(event_type):
        raise EventPayloadError(
            f"event type {event_type!r}: use snake_case letters, digits and _ (claim_approved)"
        )
    where = f"event {event_type}"
    if not isinstance(payload, dict):
        raise EventPayloadError(
            f"{where}: the payload must be a dict, not {type(payload).__name__}"
        )
    version = payload.get("v")
    if type(version) is not int or version < 1:
        raise EventPayloadError(f"{where}: the payload needs 'v', its version, a positive integer")
    if RESERVED_KEY in payload:
        raise EventPayloadError(f"{where}: '{RESERVED_KEY}' is added by the outbox; remove it")
    if not any(_is_id_key(key) for key in payload):
        raise EventPayloadError(
            f"{where}: the payload names no id (a key 'id' or ending in '_id'/'_ids'); "
            "consumers ask for details by RPC with it"
        )
    for key, value in payload.items():
        if not isinstance(key, str):
            raise EventPayloadError(f"{where}: key {key!r} is not a string")
        values = value if isinstance(value, list) else [value]
        for item in values:
            if isinstance(item, float):
                raise EventPayloadError(
                    f"{where}: '{key}' is a float; send amounts as strings of a Decimal"
                )
            if item is not None and not isinstance(item, (str, int, bool)):
                raise EventPayloadError(
                    f"{where}: '{key}' holds {type(item).__name__}; payloads carry ids and "
                    "plain values, details are asked for by RPC"
                )
    size = len(json.dumps(payload, ensure_ascii=False).encode())
    if size > MAX_PAYLOAD_BYTES:
        raise EventPayloadError(
            f"{where}: the payload is {size} bytes, more than {MAX_PAYLOAD_BYTES}; "
            "send ids and let consumers ask for details"
        )


def _is_id_key(key: Any) -> bool:
    return isinstance(key, str) and (key == "id" or key.endswith(("_id", "_ids")))


def relay_pending(
    session_factory: SessionFactory, publish: Publish, batch: int = 100, batches: int = 1
) -> int:
    """Publish up to ``batches`` batches of ``batch`` unpublished events in order; return how
    many were published.

    Each publish must return only once the broker has confirmed the message (and raise
    otherwise); a publisher with ``many(events)`` gets a whole batch and raises
    PartlyPublished naming how many of the first were confirmed. The first failure is
    recorded on its row (attempts, last_error) and ends the run, so later events do not
    overtake it. A batch's marks are one UPDATE (issue 14: an UPDATE per event made the relay
    1.7-3.2x slower than publishing); the run is one transaction, committed at its end.

    A publisher with ``send(events)`` (publishing.EventPublisher) is pipelined: while the
    broker confirms one batch, the next is read, and while it confirms that one, the batch
    before is marked. A row is marked only after its confirm, and each row is read once a run.
    """
    sent = 0
    with session_scope(session_factory) as session:
        if not _take_relay_lock(session):
            return 0  # another process is relaying this outbox right now
        if getattr(publish, "send", None) is not None and batches > 1:
            return _relay_pipelined(session, publish, batch, batches)
        for _ in range(batches):
            rows = _unpublished(session, batch)
            confirmed, failed = _publish_batch(publish, _outgoing(rows))
            _mark(session, rows, confirmed, failed)
            sent += confirmed
            if failed is not None or len(rows) < batch:
                break
    return sent


def _relay_pipelined(session: Session, publish: Any, batch: int, batches: int) -> int:
    sent = 0
    rows = _unpublished(session, batch)
    if not rows:
        return 0
    pending = publish.send(_outgoing(rows))
    try:
        for left in range(batches - 1, -1, -1):
            # the broker confirms `rows` meanwhile: read the next batch (keyset: `rows` are
            # not marked yet)
            following = (
                _unpublished(session, batch, rows[-1].id) if left and len(rows) == batch else []
            )
            waiting, pending = pending, None
            confirmed, failed = _wait(waiting, len(rows))
            if failed is None and following:
                pending = publish.send(_outgoing(following))  # out while `rows` are marked
            _mark(session, rows, confirmed, failed)
            sent += confirmed
            if pending is None:
                break
            rows = following
    finally:
        if pending is not None:  # marking failed: await what was sent (it is republished)
            _wait(pending, 0)
    return sent


def _unpublished(session: Session, batch: int, after: str | None = None) -> list:
    query = select(OUTBOX).where(OUTBOX.c.published_at.is_(None))
    if after is not None:
        query = query.where(OUTBOX.c.id > after)
    return session.execute(query.order_by(OUTBOX.c.id).limit(batch)).all()


def _outgoing(rows) -> list[OutgoingEvent]:
    return [
        OutgoingEvent(
            id=row.id,
            event_type=row.event_type,
            body={**row.payload, RESERVED_KEY: row.id},
            headers=dict(row.headers or {}),
        )
        for row in rows
    ]


def _publish_batch(
    publish: Publish, outgoing: list[OutgoingEvent]
) -> tuple[int, BaseException | None]:
    """How many of the first events the broker confirmed, and why the next one failed."""
    many = getattr(publish, "many", None)
    if many is not None:  # the batch pipelined, its confirms awaited together
        try:
            many(outgoing)
        except PartlyPublished as exc:
            return exc.confirmed, exc.cause
        return len(outgoing), None
    for n, one in enumerate(outgoing):
        try:
            publish(one)
        except Exception as exc:  # any failure: keep the row for the next run
            return n, exc
    return len(outgoing), None


def _wait(pending: Any, count: int) -> tuple[int, BaseException | None]:
    """``send``'s batch of ``count`` awaited: as ``_publish_batch`` answers."""
    try:
        pending.wait()
    except PartlyPublished as exc:
        return exc.confirmed, exc.cause
    return count, None


def _mark(session: Session, rows, confirmed: int, failed: BaseException | None) -> None:
    """The confirmed first rows published (one UPDATE); the error on the next one."""
    if failed is not None and confirmed < len(rows):
        row = rows[confirmed]
        _log.warning("outbox: publishing %s %s failed: %s", row.event_type, row.id, failed)
        session.execute(
            update(OUTBOX)
            .where(OUTBOX.c.id == row.id)
            .values(
                attempts=OUTBOX.c.attempts + 1,
                last_error=f"{type(failed).__name__}: {failed}"[:2000],
            )
        )
    if confirmed:
        session.execute(
            update(OUTBOX)
            .where(OUTBOX.c.id.in_([row.id for row in rows[:confirmed]]))
            .values(published_at=utc_now(), attempts=OUTBOX.c.attempts + 1)
        )


def purge_history(
    session_factory: SessionFactory, older_than: datetime, *, processed_events: bool
) -> tuple[int, int]:
    """Delete the outbox rows published before ``older_than`` and, when the service consumes
    events (``processed_events``), the ids of events it processed before then; return how many
    of each. Both were kept for ever (286 MB a million, issue 14). An unpublished row is never
    deleted. The age must outlast any redelivery: an event id forgotten here and delivered
    again would be handled again."""
    from services.messaging.idempotency import PROCESSED_EVENTS

    with session_scope(session_factory) as session:
        sent = session.execute(
            delete(OUTBOX).where(
                OUTBOX.c.published_at.is_not(None), OUTBOX.c.published_at < older_than
            )
        ).rowcount
        seen = 0
        if processed_events:
            seen = session.execute(
                delete(PROCESSED_EVENTS).where(PROCESSED_EVENTS.c.processed_at < older_than)
            ).rowcount
    return sent, seen


def _take_relay_lock(session: Session) -> bool:
    """On PostgreSQL, one relay per database schema at a time, so events keep their order when a
    service runs several processes. SQLite is one process: the caller runs one relay."""
    if session.get_bind().dialect.name != "postgresql":
        return True
    # keyed by schema too: services sharing a database (a schema each) relay independently
    key = func.hashtextextended(func.concat(RELAY_LOCK_NAME, func.current_schema()), 0)
    taken = bool(session.execute(select(func.pg_try_advisory_xact_lock(key))).scalar())
    if taken:
        # The marks need not wait for the disk: a mark lost in a crash only publishes its
        # event again, which at-least-once delivery already allows (consumers are idempotent).
        # Half of a relay run was this commit's flush (issue 14).
        session.execute(text("SET LOCAL synchronous_commit TO OFF"))
    return taken


def call_after_commit_with_events(
    session_factory: SessionFactory, callback: Callable[[], None]
) -> None:
    """Call `callback` after each commit of a session from `session_factory` that recorded
    events: the prompt path of the relay (a periodic run catches whatever this misses)."""

    def after_commit(session: Session) -> None:
        if session.info.pop(_RECORDED, False):
            callback()

    event.listen(session_factory, "after_commit", after_commit)


def new_event_id() -> str:
    """A UUIDv7 (RFC 9562): time-ordered, and strictly increasing within this process.

    Python gains uuid.uuid7 in 3.14; until then these few lines (the RFC's method of a
    counter in the random bits) stand in for a dependency.
    """
    global _last_ms, _last_counter
    with _id_lock:
        ms = time.time_ns() // 1_000_000
        if ms > _last_ms:
            _last_ms, _last_counter = ms, int.from_bytes(os.urandom(10)) >> 7  # 73 bits
        else:
            _last_counter += 1  # same (or an earlier) millisecond: count on from the last
        counter = _last_counter
        value = (
            (_last_ms & (1 << 48) - 1) << 80
            | 0x7 << 76
            | (counter >> 62) << 64
            | 0b10 << 62
            | counter & ((1 << 62) - 1)
        )
    return str(uuid.UUID(int=value))


_id_lock = threading.Lock()
_last_ms = -1
_last_counter = 0
