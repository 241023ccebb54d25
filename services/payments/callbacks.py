"""The callback inbox: every provider request is stored verbatim, then verified; applying it is
a separate step (``apply_pending``), run by its own worker after the answer has gone.

``receive`` checks the request (signatures.py for ``bank/<code>``, wechatpay.py for
``wechatpay``) and stores the headers and the raw body verbatim with the outcome, in one
INSERT on the hot path: the row's nonce (a nonce seen before is a replay) and the event's key
(provider + event id) are unique, so a genuine event delivered again is answered 200 and
marked ``duplicate``, applied once. Bad, stale, replayed or unreadable requests stay in the
inbox, refused with their reason, for audit; nothing of theirs is applied.

``apply_pending`` takes verified callbacks in the order received and hands each event to
receipts.py (money in) or payouts.py (payout results).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from services.kernel.clock import SHANGHAI
from services.messaging.database import utc_now
from services.payments import payouts, premium_batch, receipts, signatures, wechatpay
from services.payments.exceptions import CallbackRefused, PaymentsError
from services.payments.models import Callback, new_id
from services.payments.schemas import load_bank_event

Record = Callable[[str, dict[str, Any]], str]

RECEIVED, REFUSED, DUPLICATE, VERIFIED = "received", "refused", "duplicate", "verified"
APPLIED, HELD, IGNORED, FAILED = "applied", "held", "ignored", "failed"
WECHATPAY = "wechatpay"
BANK_PREFIX = "bank/"
_STORED_HEADERS = 40  # a request with more headers keeps the first 40
_CALLBACKS = Callback.__table__
# the inbox INSERT, built once per dialect and executed with each row's parameters: building
# it per request (values() coerced, a cache key generated) cost as much as the round trip
_STORE = {
    name: dialect.insert(_CALLBACKS).on_conflict_do_nothing().returning(_CALLBACKS.c.id)
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}


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
    session: Session | Connection,
    provider: str,
    headers: Mapping[str, str],
    body: bytes,
    providers: Providers,
    now: datetime,
) -> Answer:
    """Verify one request, then store it with the outcome: the caller commits (or gives an
    autocommit connection: each statement stands alone) and answers at once. The inbox row is written whatever the outcome (refused ones kept for audit).

    The hot path is ONE statement: the verified row inserted with its nonce and event key,
    ``ON CONFLICT DO NOTHING``; the unique indexes on (provider, nonce) and on the event key
    decide replays and duplicates, also between two requests racing. Only when that insert
    meets a conflict do a second (a duplicate, its nonce kept) and maybe a third (a replay)
    statement follow. Verifying before the insert changes nothing stored: the row is written
    in the same transaction either way."""
    row = {
        "id": new_id(),
        "provider": provider[:60],
        "headers": {
            str(k)[:100]: str(v)[:1000] for k, v in list(headers.items())[:_STORED_HEADERS]
        },
        "body": bytes(body),
        "received_at": utc_now(),
    }
    try:
        event, nonce = _verify(provider, headers, body, providers, now.timestamp())
    except CallbackRefused as refused:
        _store(session, row, REFUSED, event_id=_claimed_event_id(body), refused=refused)
        return Answer(
            _STATUS_OF_REASON.get(refused.reason, 401), "refused", row["id"], str(refused)
        )
    event_id = str(event["event_id"])[:100]
    row.update(event_id=event_id, event=event)
    if _store(session, row, VERIFIED, nonce=nonce, event_key=f"{provider}:{event_id}"):
        return Answer(200, "accepted", row["id"])
    if _store(session, row, DUPLICATE, nonce=nonce):
        return Answer(200, "duplicate", row["id"], "已收到过该事件")
    replay = CallbackRefused("replay", "该 nonce 已使用过（重放）")
    _store(session, {**row, "event": None}, REFUSED, event_id=event_id, refused=replay)
    return Answer(401, "refused", row["id"], str(replay))


def _store(
    session: Session | Connection,
    row: dict[str, Any],
    status: str,
    *,
    nonce: str | None = None,
    event_key: str | None = None,
    event_id: str | None = None,
    refused: CallbackRefused | None = None,
) -> bool:
    """Insert the inbox row with ``status``; False if a unique index (nonce, event key) holds
    it already. A row without nonce and event key never conflicts (its id is new)."""
    values = {**row, "status": status, "nonce": nonce, "event_key": event_key}
    if event_id is not None:
        values["event_id"] = event_id
    if refused is not None:
        values.update(reason=refused.reason, detail=str(refused))
    dialect = session.dialect if isinstance(session, Connection) else session.get_bind().dialect
    return session.execute(_STORE[dialect.name], values).scalar() is not None


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


def prune_nonces(session: Session, before: datetime) -> int:
    """Forget nonces older than the timestamp tolerance allows anyway (a request that old is
    refused as stale before its nonce is looked at)."""
    rows = session.execute(
        _CALLBACKS.update()
        .where(_CALLBACKS.c.nonce.is_not(None), _CALLBACKS.c.received_at < before)
        .values(nonce=None)
    )
    return rows.rowcount or 0


# ---- applying --------------------------------------------------------------------------------


def apply_pending(
    session: Session,
    *,
    record: Record,
    actor: str = "bank",
    limit: int = 100,
    today: Callable[[], date] | None = None,
) -> int:
    """Apply up to ``limit`` verified callbacks, oldest first; return how many were taken.
    Premiums go set-based (premium_batch.py: a few statements for the lot); a payout result,
    or a premium the fast path leaves, is applied alone in a savepoint: one that the domain
    refuses (an unknown payout) is marked ``failed`` with the reason and the rest go on. Rows
    another worker holds are skipped."""
    query = (
        select(Callback)
        .where(Callback.status == VERIFIED)
        .order_by(Callback.received_at, Callback.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    rows = session.scalars(query).all()
    run: list[Callback] = []

    def one(row: Callback) -> str:
        try:
            with session.begin_nested():
                row.status = apply_event(session, row, record=record, actor=actor, today=today)
        except PaymentsError as exc:
            row.status, row.detail = FAILED, str(exc)
        return row.status

    def apply_run() -> None:
        """Premiums, set-based (premium_batch.py), in the order received."""
        if not run:
            return
        by_id = {row.id: row for row in run}
        outcome = premium_batch.apply(
            session,
            [premium_batch.Item(row.id, row.provider, row.event) for row in run],
            record=record,
            actor=actor,
            one_by_one=lambda item: one(by_id[item.callback_id]),
        )
        for row in run:
            row.status = outcome[row.id]
        run.clear()

    for row in rows:  # payout results one by one, in their place in the order
        if (row.event or {}).get("type") == "premium.received":
            run.append(row)
        else:
            apply_run()
            one(row)
    apply_run()
    now = utc_now()
    for row in rows:
        row.applied_at = now
    session.flush()
    return len(rows)


def apply_event(
    session: Session,
    row: Callback,
    *,
    record: Record,
    actor: str,
    today: Callable[[], date] | None = None,
) -> str:
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
            paid_on=_bank_day(event) or (today() if today else None),
        )
        return APPLIED if changed else IGNORED
    return IGNORED  # a WeChat Pay notification of another kind (a refund …): stored, not ours


def _bank_day(event: Mapping[str, Any]) -> date | None:
    """The day the bank says it happened, in Asia/Shanghai (the payer's and the scheme's day)."""
    occurred = event.get("occurred_at")
    if not occurred:
        return None
    return datetime.fromisoformat(occurred).astimezone(SHANGHAI).date()


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
