"""The callback inbox: every provider request is stored verbatim, then verified; applying it is
a separate step (``apply_pending``), run by its own worker after the answer has gone.

``receive`` stores the headers and the raw body first, then checks the request
(signatures.py for ``bank/<code>``, wechatpay.py for ``wechatpay``), records its nonce (a
nonce seen before is a replay) and claims the event's key (provider + event id): a genuine
event delivered again is answered 200 and marked ``duplicate``, applied once. Bad, stale,
replayed or unreadable requests stay in the inbox, refused with their reason, for audit;
nothing of theirs is applied.

``apply_pending`` takes verified callbacks in the order received and hands each event to
receipts.py (money in) or payouts.py (payout results).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.messaging.database import utc_now
from services.payments import payouts, receipts, signatures, wechatpay
from services.payments.exceptions import CallbackRefused, PaymentsError
from services.payments.models import Callback, CallbackNonce, new_id
from services.payments.schemas import load_bank_event

Record = Callable[[str, dict[str, Any]], str]

RECEIVED, REFUSED, DUPLICATE, VERIFIED = "received", "refused", "duplicate", "verified"
APPLIED, HELD, IGNORED, FAILED = "applied", "held", "ignored", "failed"
_INSERT = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}
WECHATPAY = "wechatpay"
BANK_PREFIX = "bank/"
_STORED_HEADERS = 40  # a request with more headers keeps the first 40


@dataclass(frozen=True)
class Providers:
    """Who may call us: each bank's secrets (two during a rotation) and WeChat Pay's keys."""

    bank_secrets: Mapping[str, Sequence[str]] = field(default_factory=dict)
    wechatpay: wechatpay.WechatPayKeys | None = None


@dataclass(frozen=True)
class Answer:
    """What the HTTP edge answers: 200 (or 204) for a stored event, 401 for a refused
    signature, 400 for a signed body that is not the contract's, 404 for an unknown provider."""

    status: int
    outcome: str  # accepted | duplicate | refused
    callback_id: str
    message: str = ""


_STATUS_OF_REASON = {"malformed": 400, "unknown_provider": 404}


def receive(
    session: Session,
    provider: str,
    headers: Mapping[str, str],
    body: bytes,
    providers: Providers,
    now: datetime,
) -> Answer:
    """Store, then verify one request. The caller commits and answers at once."""
    row = Callback(
        id=new_id(),
        provider=provider[:60],
        headers={str(k)[:100]: str(v)[:1000] for k, v in list(headers.items())[:_STORED_HEADERS]},
        body=bytes(body),
        status=RECEIVED,
        received_at=utc_now(),
    )
    session.add(row)
    session.flush()  # stored before anything else is looked at
    try:
        event, nonce = _verify(provider, headers, body, providers, now.timestamp())
        row.event_id = str(event["event_id"])[:100]
        if not _first_nonce(session, provider, nonce):
            raise CallbackRefused("replay", "该 nonce 已使用过（重放）")
    except CallbackRefused as refused:
        row.status, row.reason, row.detail = REFUSED, refused.reason, str(refused)
        row.event_id = row.event_id or _claimed_event_id(body)
        session.flush()
        return Answer(_STATUS_OF_REASON.get(refused.reason, 401), "refused", row.id, str(refused))
    row.event = event
    if not _claim_event(session, row, f"{provider}:{row.event_id}"):
        row.status = DUPLICATE
        session.flush()
        return Answer(200, "duplicate", row.id, "已收到过该事件")
    row.status = VERIFIED
    session.flush()
    return Answer(200, "accepted", row.id)


def _verify(
    provider: str,
    headers: Mapping[str, str],
    body: bytes,
    providers: Providers,
    now: float,
) -> tuple[dict[str, Any], str]:
    if provider.startswith(BANK_PREFIX):
        secrets = providers.bank_secrets.get(provider[len(BANK_PREFIX) :])
        if not secrets:
            raise CallbackRefused("unknown_provider", f"未知的银行 {provider[:40]}")
        verified = signatures.verify(headers, body, secrets, now)
        try:
            raw = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise CallbackRefused("malformed", "回调正文不是 JSON") from None
        return load_bank_event(raw), verified.nonce
    if provider == WECHATPAY:
        if providers.wechatpay is None:
            raise CallbackRefused("unknown_provider", "未配置微信支付密钥")
        notification = wechatpay.verify(headers, body, providers.wechatpay, now)
        return wechatpay.premium_event(notification), notification.nonce
    raise CallbackRefused("unknown_provider", f"未知的回调来源 {provider[:40]}")


def _claimed_event_id(body: bytes) -> str | None:
    """The event id a refused request claims, for the audit trail only (never trusted)."""
    try:
        document = json.loads(body)
        claimed = document.get("event_id") or document.get("id")
    except (ValueError, UnicodeDecodeError, AttributeError):
        return None
    return str(claimed)[:100] if claimed is not None else None


def _first_nonce(session: Session, provider: str, nonce: str) -> bool:
    insert = _INSERT[session.get_bind().dialect.name]
    inserted = session.execute(
        insert(CallbackNonce)
        .values(provider=provider, nonce=nonce, seen_at=utc_now())
        .on_conflict_do_nothing()
        .returning(CallbackNonce.nonce)
    ).scalar()
    return inserted is not None


def _claim_event(session: Session, row: Callback, key: str) -> bool:
    """Set the row's unique event key; False if a verified callback holds it already (also
    when the other one is committing at this moment: the unique index decides)."""
    if session.scalar(select(Callback.id).where(Callback.event_key == key)) is not None:
        return False
    try:
        with session.begin_nested():
            row.event_key = key
            session.flush()
    except IntegrityError:
        row.event_key = None
        return False
    return True


def prune_nonces(session: Session, before: datetime) -> int:
    """Forget nonces older than the timestamp tolerance allows anyway (a request that old is
    refused as stale before its nonce is looked at)."""
    rows = session.execute(CallbackNonce.__table__.delete().where(CallbackNonce.seen_at < before))
    return rows.rowcount or 0


# ---- applying --------------------------------------------------------------------------------


def apply_pending(
    session: Session, *, record: Record, actor: str = "bank", limit: int = 100
) -> int:
    """Apply up to ``limit`` verified callbacks, oldest first; return how many were taken.
    Each is applied in a savepoint: one that the domain refuses (an unknown payout) is marked
    ``failed`` with the reason and the rest go on. Rows another worker holds are skipped."""
    query = (
        select(Callback)
        .where(Callback.status == VERIFIED)
        .order_by(Callback.received_at, Callback.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    taken = 0
    for row in session.scalars(query).all():
        taken += 1
        try:
            with session.begin_nested():
                row.status = apply_event(session, row, record=record, actor=actor)
        except PaymentsError as exc:
            row.status, row.detail = FAILED, str(exc)
        row.applied_at = utc_now()
        session.flush()
    return taken


def apply_event(session: Session, row: Callback, *, record: Record, actor: str) -> str:
    event = row.event or {}
    kind = event.get("type")
    if kind == "premium.received":
        receipt = receipts.receive_premium(
            session, provider=row.provider, event=event, callback_id=row.id, record=record
        )
        return APPLIED if receipt.status == receipts.APPLIED else HELD
    if kind in payouts.RESULT_OF_EVENT:
        changed = payouts.apply_result(
            session,
            payout_id=str(event["payout_id"]),
            result=payouts.RESULT_OF_EVENT[kind],
            actor=f"{actor}:{row.provider}",
            bank_reference=event.get("serial") or event.get("event_id"),
            failure_code=event.get("failure_code"),
            failure_message=event.get("failure_message"),
            amount=event.get("amount"),
            record=record,
        )
        return APPLIED if changed else IGNORED
    return IGNORED  # a WeChat Pay notification of another kind (a refund …): stored, not ours


def list_failed(session: Session, limit: int = 200) -> list[dict[str, Any]]:
    """Verified callbacks the domain could not apply (a payout we do not know, a result that
    contradicts a final state): for finance to look at, oldest first."""
    rows = session.scalars(
        select(Callback)
        .where(Callback.status == FAILED)
        .order_by(Callback.received_at, Callback.id)
        .limit(limit)
    )
    return [to_dict(row) for row in rows]


def to_dict(row: Callback) -> dict[str, Any]:
    return {
        "callback_id": row.id,
        "provider": row.provider,
        "event_id": row.event_id,
        "status": row.status,
        "reason": row.reason,
        "detail": row.detail,
        "received_at": row.received_at.isoformat(),
    }
