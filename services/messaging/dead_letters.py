"""Dead letters: events a handler could not handle, kept in the service's own database.

An event whose handler kept failing after its last retry, or whose payload failed its schema,
is parked here (services/messaging/handlers.py) and only then acknowledged, so it survives
restarts and an operator sees it with the same `--db` the other commands take:

    mutual-aid events dead-letters --service claims [--db URL] [--all]
    mutual-aid events replay ID… --service claims --actor NAME [--db URL]

A row goes parked → replay_requested (who asked, when) → replayed (when the running service
handed it back to its handler's queue). A replay that fails again is parked again on the same
row, with the new reason and the attempts added up. Payloads are stored whole (a replay needs
them) and listed masked: no ID, phone or card number leaves through a list.

A service puts the table into its own metadata with `dead_letters_table(Base.metadata)`.
Nothing here imports nameko.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, Integer, MetaData, String, Table, Text, select, update
from sqlalchemy.orm import Session

from services.kernel.privacy import mask_card, mask_id, mask_phone, mask_text
from services.messaging.database import UtcDateTime, utc_now
from services.messaging.errors import MessagingError

PARKED = "parked"
REPLAY_REQUESTED = "replay_requested"
REPLAYED = "replayed"
STATUSES = (PARKED, REPLAY_REQUESTED, REPLAYED)
MAX_REASON = 2000

_metadata = MetaData()
DEAD_LETTERS = Table(
    "dead_letters",
    _metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),  # short, for `replay ID`
    Column("consumer", String(120), nullable=False),  # "claims.on_payout_succeeded"
    Column("source_service", String(80), nullable=False),
    Column("event_type", String(80), nullable=False),
    Column("event_id", String(36), nullable=True),  # the payload's, when it has a usable one
    Column("payload", JSON, nullable=False),
    Column("headers", JSON, nullable=False),  # the message's, for the replay
    Column("reason", Text, nullable=False),  # the last failure, masked
    Column("attempts", Integer, nullable=False),
    Column("first_failed_at", UtcDateTime, nullable=False),
    Column("last_failed_at", UtcDateTime, nullable=False),
    Column("status", String(20), nullable=False),
    Column("replay_requested_by", String(100), nullable=True),
    Column("replay_requested_at", UtcDateTime, nullable=True),
    Column("replayed_at", UtcDateTime, nullable=True),
)
Index("ix_dead_letters_status", DEAD_LETTERS.c.status)


class DeadLetterError(MessagingError):
    """A dead letter that cannot be listed or replayed as asked (named in the message)."""


def dead_letters_table(metadata: MetaData) -> Table:
    """The `dead_letters` table, added to a service's own metadata."""
    return DEAD_LETTERS.to_metadata(metadata)


def park(
    session: Session,
    *,
    consumer: str,
    source_service: str,
    event_type: str,
    payload: Any,
    headers: dict[str, Any],
    reason: str,
    attempts: int,
    first_failed_at: datetime,
    replay_of: int | None = None,
    status: str = PARKED,
    requested_by: str | None = None,
) -> int:
    """Keep an event its handler gave up on; returns the dead letter's id.

    `replay_of` is the dead letter a failed replay came from: that row is parked again rather
    than a second one made. `status=REPLAY_REQUESTED` (with `requested_by`) parks an event that
    should go back to its handler by itself, e.g. one a stopping service could not give back
    to an in-memory bus.
    """
    now = utc_now()
    failure: dict[str, Any] = {
        "reason": mask_text(reason)[:MAX_REASON],
        "last_failed_at": now,
        "status": status,
    }
    if requested_by:
        failure.update(replay_requested_by=requested_by, replay_requested_at=now)
    if replay_of is not None:  # who asked for the earlier replay, and when, stays on the row
        row = session.execute(
            update(DEAD_LETTERS)
            .where(DEAD_LETTERS.c.id == replay_of)
            .values(attempts=DEAD_LETTERS.c.attempts + attempts, **failure)
            .returning(DEAD_LETTERS.c.id)
        ).scalar()
        if row is not None:
            return row
    event_id = payload.get("event_id") if isinstance(payload, dict) else None
    return session.execute(
        DEAD_LETTERS.insert()
        .values(
            consumer=consumer,
            source_service=source_service,
            event_type=event_type,
            event_id=event_id if isinstance(event_id, str) and len(event_id) <= 36 else None,
            payload=payload,
            headers=headers,
            attempts=attempts,
            first_failed_at=first_failed_at,
            **failure,
        )
        .returning(DEAD_LETTERS.c.id)
    ).scalar_one()


def list_dead_letters(session: Session, *, include_replayed: bool = False) -> list[dict[str, Any]]:
    """Dead letters, oldest first, masked; those replayed only with `include_replayed`."""
    query = select(DEAD_LETTERS).order_by(DEAD_LETTERS.c.id)
    if not include_replayed:
        query = query.where(DEAD_LETTERS.c.status != REPLAYED)
    return [_shown(row) for row in session.execute(query)]


def request_replay(session: Session, ids: Sequence[int], *, actor: str) -> list[dict[str, Any]]:
    """Mark dead letters for the running service to hand back to their handlers. All or none:
    an unknown id, or one already replayed, refuses the lot."""
    actor = (actor or "").strip()
    if not actor:
        raise DeadLetterError("a replay needs --actor: who asks for it")
    if len(actor) > 100:
        raise DeadLetterError("--actor is longer than 100 characters")
    rows = {
        row.id: row
        for row in session.execute(
            select(DEAD_LETTERS).where(DEAD_LETTERS.c.id.in_(list(ids))).with_for_update()
        )
    }
    missing = [str(i) for i in ids if i not in rows]
    if missing:
        raise DeadLetterError(f"no dead letter {', '.join(missing)}")
    done = [str(i) for i in ids if rows[i].status == REPLAYED]
    if done:
        raise DeadLetterError(f"dead letter {', '.join(done)} was replayed already")
    now = utc_now()
    session.execute(
        update(DEAD_LETTERS)
        .where(DEAD_LETTERS.c.id.in_(list(ids)))
        .values(status=REPLAY_REQUESTED, replay_requested_by=actor, replay_requested_at=now)
    )
    return [_shown(row) for row in session.execute(_by_ids(ids))]


def replay_requested(session: Session, consumers: Iterable[str]) -> list[int]:
    """The ids of dead letters of these consumers waiting to be handed back, oldest first."""
    return list(
        session.scalars(
            select(DEAD_LETTERS.c.id)
            .where(DEAD_LETTERS.c.status == REPLAY_REQUESTED)
            .where(DEAD_LETTERS.c.consumer.in_(list(consumers)))
            .order_by(DEAD_LETTERS.c.id)
        )
    )


def start_replay(session: Session, dead_letter_id: int) -> Any | None:
    """Mark one dead letter replayed and answer its row, if it still waits for a replay (None
    when another process took it first: the UPDATE's condition decides, under its row lock).
    The caller hands it back in the same transaction, so a failed hand-back leaves it waiting."""
    taken = session.execute(
        update(DEAD_LETTERS)
        .where(DEAD_LETTERS.c.id == dead_letter_id)
        .where(DEAD_LETTERS.c.status == REPLAY_REQUESTED)
        .values(status=REPLAYED, replayed_at=utc_now())
        .returning(DEAD_LETTERS.c.id)
    ).scalar()
    if taken is None:
        return None
    return session.execute(_by_ids([dead_letter_id])).one()


def _by_ids(ids: Sequence[int]):
    return select(DEAD_LETTERS).where(DEAD_LETTERS.c.id.in_(list(ids))).order_by(DEAD_LETTERS.c.id)


def _shown(row: Any) -> dict[str, Any]:
    def at(value: datetime | None) -> str | None:
        return None if value is None else value.isoformat()

    return {
        "id": row.id,
        "consumer": row.consumer,
        "source_service": row.source_service,
        "event_type": row.event_type,
        "event_id": row.event_id,
        "payload": masked(row.payload),
        "reason": mask_text(row.reason),
        "attempts": row.attempts,
        "first_failed_at": at(row.first_failed_at),
        "last_failed_at": at(row.last_failed_at),
        "status": row.status,
        "replay_requested_by": row.replay_requested_by,
        "replay_requested_at": at(row.replay_requested_at),
        "replayed_at": at(row.replayed_at),
    }


_BY_KEY = (("id_number", mask_id), ("card", mask_card), ("phone", mask_phone))


def masked(value: Any, key: str = "") -> Any:
    """A payload with every ID, phone and card number masked: by the key's name where it
    names one (id_number, payee_card, phone), by the shape of the digits everywhere else."""
    if isinstance(value, dict):
        return {k: masked(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(item, key) for item in value]
    if isinstance(value, str):
        for part, mask in _BY_KEY:
            if part in key.lower():
                return mask(value)
        return mask_text(value)
    return value
