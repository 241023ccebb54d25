"""Delivery receipts: the gateway's batch (Aliyun SmsReport: a JSON list of
{phone_number, success, err_code, err_msg, biz_id, out_id, report_time, …}) stored verbatim,
then applied to the messages their out_id names. A receipt for a message we do not know, or
one already final, is kept and changes nothing; a repeated batch changes nothing more.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.kernel.privacy import mask_text
from services.messaging.database import utc_now
from services.notify.models import Message, Receipt


class ReceiptsRefused(ValueError):
    """The body is not a receipt batch."""


def apply_receipts(session: Session, provider: str, batch: Any) -> int:
    """Store and apply one batch; how many messages it changed."""
    if not isinstance(batch, list) or not all(isinstance(item, dict) for item in batch):
        raise ReceiptsRefused("回执应为 JSON 数组，每项一个对象")
    ids = [str(item.get("out_id") or "") for item in batch]
    messages = {
        m.id: m
        for m in session.scalars(select(Message).where(Message.id.in_([i for i in ids if i])))
    }
    changed = 0
    for item, message_id in zip(batch, ids, strict=True):
        message = messages.get(message_id)
        # the phone number in a receipt is personal data like any other
        stored = {k: mask_text(v) if isinstance(v, str) else v for k, v in item.items()}
        session.add(Receipt(provider=provider, message_id=message and message.id, body=stored))
        if message is None or message.status not in ("sent", "sending", "queued"):
            continue
        if item.get("success") in (True, "true"):
            message.status, message.delivered_at = "delivered", utc_now()
        else:
            message.status = "undelivered"
            message.last_error = str(item.get("err_code") or "")[:200]
        changed += 1
    return changed
