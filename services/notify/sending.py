"""Queueing and sending: one message per (event id, recipient, template), sent once, retried
only when retrying can help, never at night unless urgent, never past the daily limit.

Framework-free: the service's sender loop (dependencies.py) calls `send_due` with its
gateway and clock; handlers call `enqueue`.

Configuration (nameko config):
    SMS_RETRY_DELAYS   seconds before each retry        default [60, 300, 1800, 7200], then failed
    SMS_DAILY_LIMIT    per number, signature, template  default 50 a day (the gateways' own)
    SMS_QUIET_HOURS    [start, end] hours, Shanghai     default [21, 8]
    SMS_SEND_BATCH     messages per sender run          default 200
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from services.kernel.clock import SHANGHAI
from services.messaging.database import session_scope, utc_now
from services.messaging.errors import ConfigError
from services.notify.gateways import ACCEPTED, RETRY, SmsGateway, SmsRequest
from services.notify.models import Attempt, Message, OptOut, new_id
from services.notify.templates import Rendered

_INSERT = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}
_CHUNK = 500  # rows per INSERT (SQLite's bound parameters)
_NOT_COUNTED = ("suppressed", "no_phone", "failed")


@dataclass(frozen=True)
class Settings:
    retry_delays: tuple[float, ...] = (60, 300, 1800, 7200)
    daily_limit: int = 50
    quiet_start: int = 21
    quiet_end: int = 8
    batch: int = 200

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Settings:
        delays = config.get("SMS_RETRY_DELAYS", cls.retry_delays)
        quiet = config.get("SMS_QUIET_HOURS", (cls.quiet_start, cls.quiet_end))
        try:
            settings = cls(
                retry_delays=tuple(float(d) for d in delays),
                daily_limit=int(config.get("SMS_DAILY_LIMIT", cls.daily_limit)),
                quiet_start=int(quiet[0]),
                quiet_end=int(quiet[1]),
                batch=int(config.get("SMS_SEND_BATCH", cls.batch)),
            )
        except (TypeError, ValueError, IndexError):
            raise ConfigError(
                "SMS_RETRY_DELAYS (seconds), SMS_DAILY_LIMIT, SMS_QUIET_HOURS ([21, 8]) and "
                "SMS_SEND_BATCH must be numbers"
            ) from None
        if not settings.retry_delays or min(settings.retry_delays) <= 0:
            raise ConfigError("SMS_RETRY_DELAYS must be a list of positive seconds")
        return settings


@dataclass(frozen=True)
class Notice:
    """One SMS a handler wants sent."""

    recipient: str  # member:<id> | unit:<id>
    phone: str | None
    rendered: Rendered
    claim_id: str | None = None


def outside_quiet_hours(moment: datetime, settings: Settings) -> datetime:
    """``moment``, or the end of the quiet hours it falls in (Asia/Shanghai)."""
    local = moment.astimezone(SHANGHAI)
    start, end = settings.quiet_start, settings.quiet_end
    if local.hour >= start:
        return datetime.combine(local.date() + timedelta(days=1), time(end), SHANGHAI)
    if local.hour < end:
        return datetime.combine(local.date(), time(end), SHANGHAI)
    return moment


def _due(moment: datetime, urgent: bool, settings: Settings) -> datetime:
    return moment if urgent else outside_quiet_hours(moment, settings)


def _opted_out(session: Session, phones: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for i in range(0, len(phones), _CHUNK):
        chunk = phones[i : i + _CHUNK]
        found.update(session.scalars(select(OptOut.phone).where(OptOut.phone.in_(chunk))))
    return found


def _sent_that_day(
    session: Session, phones: Sequence[str], template: str, signature: str, day: datetime
) -> dict[str, int]:
    start = datetime.combine(day.astimezone(SHANGHAI).date(), time(0), SHANGHAI)
    counts: dict[str, int] = {}
    for i in range(0, len(phones), _CHUNK):
        rows = session.execute(
            select(Message.phone, func.count())
            .where(
                Message.phone.in_(phones[i : i + _CHUNK]),
                Message.template == template,
                Message.signature == signature,
                Message.due_at >= start,
                Message.due_at < start + timedelta(days=1),
                Message.status.not_in(_NOT_COUNTED),
            )
            .group_by(Message.phone)
        )
        counts.update({phone: count for phone, count in rows})
    return counts


def enqueue(
    session: Session,
    notices: Sequence[Notice],
    *,
    event_id: str,
    event_type: str,
    city: str,
    year: int,
    now: datetime,
    settings: Settings,
) -> int:
    """Record the notices of one event (all of one template); those already recorded for
    this event, recipient and template are left as they are. Returns how many were new."""
    if not notices:
        return 0
    phones = sorted({n.phone for n in notices if n.phone})
    opted_out = _opted_out(session, phones)
    first = notices[0].rendered
    due = _due(now, first.template.urgent, settings)
    counts = _sent_that_day(session, phones, first.template.event, first.signature, due)
    rows = []
    for notice in notices:
        rendered, template = notice.rendered, notice.rendered.template
        status, when = "queued", due
        if not notice.phone:
            status = "no_phone"
        elif notice.phone in opted_out and not template.essential:
            status = "suppressed"
        else:
            counts[notice.phone] = counts.get(notice.phone, 0) + 1
            if counts[notice.phone] > settings.daily_limit:
                # over the gateway's daily limit for this number: tomorrow morning, not never
                when = outside_quiet_hours(
                    datetime.combine(
                        due.astimezone(SHANGHAI).date() + timedelta(days=1), time(0), SHANGHAI
                    ),
                    settings,
                )
        rows.append(
            {
                "id": new_id(),
                "event_id": event_id,
                "event_type": event_type,
                "recipient": notice.recipient,
                "template": template.event,
                "city": city,
                "year": year,
                "claim_id": notice.claim_id,
                "phone": notice.phone,
                "signature": rendered.signature,
                "template_code": template.code,
                "params": rendered.params,
                "text": rendered.text,
                "segments": rendered.segments,
                "essential": template.essential,
                "urgent": template.urgent,
                "status": status,
                "attempts": 0,
                "due_at": when.astimezone(UTC),
                "created_at": utc_now(),
                "updated_at": utc_now(),
            }
        )
    insert = _INSERT[session.get_bind().dialect.name]
    new = 0
    for i in range(0, len(rows), _CHUNK):
        result = session.execute(
            insert(Message)
            .values(rows[i : i + _CHUNK])
            .on_conflict_do_nothing(index_elements=["event_id", "recipient", "template"])
            .returning(Message.id)
        )
        new += len(result.all())
    return new


def _take_due(session: Session, now: datetime, limit: int) -> list[Message]:
    messages = list(
        session.scalars(
            select(Message)
            .where(Message.status == "queued", Message.due_at <= now)
            .order_by(Message.due_at)
            .limit(limit)
            .with_for_update(skip_locked=True)  # PostgreSQL: two senders never take the same
        )
    )
    for message in messages:
        message.status = "sending"
    return messages


def _request(message: Message) -> SmsRequest:
    return SmsRequest(
        message_id=message.id,
        phone=message.phone or "",
        sign_name=message.signature.strip("【】"),
        template_code=message.template_code,
        params=dict(message.params),
        text=message.text,
    )


def send_due(
    session_factory: sessionmaker[Session],
    gateway: SmsGateway,
    *,
    now: datetime,
    settings: Settings,
    each: Callable[[Callable, Iterable], Iterable] = map,
) -> int:
    """Send the messages due at ``now`` (one batch); how many were tried. ``each`` maps the
    gateway over the batch (a green pool's imap in the service: requests in parallel)."""
    with session_scope(session_factory) as session:
        requests = [_request(m) for m in _take_due(session, now, settings.batch)]
    if not requests:
        return 0
    results = list(each(gateway.send, requests))
    changes, attempts = [], []
    with session_scope(session_factory) as session:
        tried = {
            m.id: (m.attempts, m.urgent)
            for m in session.scalars(
                select(Message).where(Message.id.in_([r.message_id for r in requests]))
            )
        }
        for request, result in zip(requests, results, strict=True):
            count, urgent = tried[request.message_id]
            count += 1
            change: dict[str, Any] = {
                "id": request.message_id,
                "attempts": count,
                "gateway": gateway.name,
                "updated_at": utc_now(),
            }
            if result.outcome == ACCEPTED:
                change.update(status="sent", sent_at=utc_now(), gateway_id=result.gateway_id)
            elif result.outcome == RETRY and count <= len(settings.retry_delays):
                later = _due(
                    now + timedelta(seconds=settings.retry_delays[count - 1]), urgent, settings
                )
                change.update(status="queued", due_at=later, last_error=result.code)
            else:
                change.update(status="failed", last_error=(result.code or "")[:200])
            changes.append(change)
            attempts.append(
                {
                    "message_id": request.message_id,
                    "at": utc_now(),
                    "outcome": result.outcome,
                    "code": result.code,
                    "detail": result.detail,
                }
            )
        session.execute(update(Message), changes)
        session.add_all(Attempt(**a) for a in attempts)
    return len(requests)


def requeue_stale(session: Session, older_than: timedelta) -> int:
    """Messages a sender took and never finished (it died mid-batch) go back to the queue.
    The gateway may have accepted some of them: at-least-once, the price of not losing one."""
    result = session.execute(
        update(Message)
        .where(Message.status == "sending", Message.updated_at < utc_now() - older_than)
        .values(status="queued", updated_at=utc_now())
    )
    return result.rowcount
