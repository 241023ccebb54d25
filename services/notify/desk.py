"""The help desk's view and the members' preference: what was sent to a number or about a
claim (masked), and opting a number out of non-essential notices (who, when, why)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.kernel.privacy import mask_phone, mask_text
from services.notify.models import Message, OptOut, OptOutChange


def _listing(message: Message) -> dict[str, Any]:
    return {
        "message_id": message.id,
        "template": message.template,
        "phone": mask_phone(message.phone) if message.phone else None,
        "text": mask_text(message.text),
        "status": message.status,
        "attempts": message.attempts,
        "error": message.last_error,
        "claim_id": message.claim_id,
        "created_at": message.created_at.isoformat(),
        "due_at": message.due_at.isoformat(),
        "sent_at": message.sent_at.isoformat() if message.sent_at else None,
        "delivered_at": message.delivered_at.isoformat() if message.delivered_at else None,
    }


def sent_to(
    session: Session, phone: str, city: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """The newest ``limit`` messages to ``phone`` (of ``city`` only, when named: a city's help
    desk reads its own city's notices to a number another city may have written to too)."""
    query = select(Message).where(Message.phone == phone)
    if city is not None:
        query = query.where(Message.city == city)
    rows = session.scalars(query.order_by(Message.created_at.desc()).limit(limit))
    return [_listing(m) for m in rows]


def about_claim(session: Session, claim_id: str) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(Message).where(Message.claim_id == claim_id).order_by(Message.created_at)
    )
    return [_listing(m) for m in rows]


def set_opt_out(
    session: Session, *, phone: str, opted_out: bool, actor: str, reason: str | None
) -> dict[str, Any]:
    current = session.get(OptOut, phone)
    if opted_out and current is None:
        session.add(OptOut(phone=phone, actor=actor, reason=reason))
    elif not opted_out and current is not None:
        session.delete(current)
    session.add(OptOutChange(phone=phone, opted_out=opted_out, actor=actor, reason=reason))
    return {"phone": mask_phone(phone), "opted_out": opted_out}
