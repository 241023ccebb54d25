"""Banks behind one Protocol, and the two jobs that talk to them: sending payout batches and
querying what has no final answer.

A bank adapter takes a batch of payout instructions and answers queries about payouts by our
payout id. Banks do not promise callbacks (some batch APIs only answer a query), so anything
submitted without a final state after a set time is queried (``query_unfinished``) and the
answer applied exactly as a callback would be (payouts.apply_result): a lost callback never
leaves money in limbo. A batch whose sending timed out is never sent again blindly: its
payouts stay submitted and the query finds out what the bank has.

``HttpBankAdapter`` speaks the simulator's API (bank_sim.py), which is the shape a real
bank's gateway adapter takes too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Protocol

import requests
from sqlalchemy.orm import Session

from services.payments import payouts
from services.payments.exceptions import PaymentsError

_log = logging.getLogger(__name__)
Record = Callable[[str, dict[str, Any]], str]


class BankUnavailable(PaymentsError):
    """The bank did not answer (timeout, refused connection, 5xx): what it did is unknown."""


@dataclass(frozen=True)
class PayoutState:
    """What the bank says about one payout (status: submitted, processing, succeeded, failed,
    returned; or unknown when it never received it)."""

    payout_id: str
    status: str
    bank_reference: str | None = None
    failure_code: str | None = None
    failure_message: str | None = None
    amount: str | None = None


class BankAdapter(Protocol):
    code: str

    def submit_batch(self, batch_id: str, instructions: Sequence[dict[str, Any]]) -> None:
        """Hand a batch to the bank; BankUnavailable if it is not known to have arrived."""

    def query(self, payout_ids: Sequence[str]) -> list[PayoutState]:
        """The bank's state of each payout asked about."""


def send_batch(
    session: Session, adapter: BankAdapter, *, from_account: str, size: int, actor: str
) -> tuple[str, int]:
    """Take up to ``size`` created payouts as one batch and send it. On BankUnavailable the
    payouts stay submitted (the query will tell); never resent without asking first."""
    batch_id, batch = payouts.take_batch(session, from_account=from_account, size=size, actor=actor)
    if not batch:
        return batch_id, 0
    try:
        adapter.submit_batch(batch_id, [payouts.instruction(p) for p in batch])
    except BankUnavailable as exc:
        _log.warning(
            "bank %s: batch %s not confirmed (%s); will query", adapter.code, batch_id, exc
        )
    return batch_id, len(batch)


def query_unfinished(
    session: Session,
    adapter: BankAdapter,
    *,
    now: datetime,
    after: timedelta,
    record: Record,
    actor: str = "query",
    limit: int = 500,
    today: date | None = None,
) -> int:
    """Ask the bank about payouts submitted at least ``after`` ago with no final state; apply
    each answer (a payment the answer says succeeded is dated ``today``, the service clock's).
    Returns how many moved."""
    due = payouts.due_for_query(session, now=now, after=after, limit=limit)
    if not due:
        return 0
    states = {s.payout_id: s for s in adapter.query([p.id for p in due])}
    moved = 0
    for payout in due:
        payouts.mark_queried(session, payout, now)
        state = states.get(payout.id)
        if state is None or state.status not in payouts.RESULTS:
            continue  # the bank does not know it (yet): asked again next round
        try:
            with session.begin_nested():
                moved += payouts.apply_result(
                    session,
                    payout_id=payout.id,
                    result=state.status,
                    actor=f"{actor}:{adapter.code}",
                    record=record,
                    bank_reference=state.bank_reference,
                    failure_code=state.failure_code,
                    failure_message=state.failure_message,
                    amount=state.amount,
                    paid_on=today,
                )
        except PaymentsError as exc:  # a contradiction: left for a person, the rest go on
            _log.warning("payout %s: %s", payout.id, exc)
    return moved


class HttpBankAdapter:
    """The simulator's API over HTTP: ``POST /batches``, ``POST /query``."""

    def __init__(self, code: str, base_url: str, timeout: float = 5.0):
        self.code = code
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._http = requests.Session()

    def submit_batch(self, batch_id: str, instructions: Sequence[dict[str, Any]]) -> None:
        self._post("/batches", {"batch_id": batch_id, "payouts": list(instructions)})

    def query(self, payout_ids: Sequence[str]) -> list[PayoutState]:
        answer = self._post("/query", {"payout_ids": list(payout_ids)})
        return [PayoutState(**item) for item in answer.get("payouts", [])]

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            response = self._http.post(self.base_url + path, json=body, timeout=self.timeout)
        except requests.RequestException as exc:
            raise BankUnavailable(f"{self.code}: {type(exc).__name__}") from None
        if response.status_code >= 500:
            raise BankUnavailable(f"{self.code}: HTTP {response.status_code}")
        if response.status_code >= 400:
            raise PaymentsError(f"银行 {self.code} 拒绝请求：HTTP {response.status_code}")
        return response.json()

    def close(self) -> None:
        self._http.close()
