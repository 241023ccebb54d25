"""What a clerk and a reviewer do with claims, on a database session.

Framework-free, like services/enrollment/applications.py: each function takes a SQLAlchemy
session (the caller's transaction), the city's policy where rules are needed, ``record`` (how
an event is written to the outbox: ``WorkerOutbox.record`` inside the service,
``functools.partial(record_event, session)`` elsewhere) and, for intake, ``cover`` — a
callable ``(city, id_number, on_date) -> dict | None`` answering as ``enrollment.cover`` does
(the service backs it with that RPC). Nothing is published here. Every state change is a row
in ``claim_transitions`` with who, when and why; every reviewer decision a row in ``reviews``.

Intake: a draft (facts checked by the kernel's schema), its documents, then ``submit``: the
benefit must be in the city-year's catalogue, the date that counts (admission, diagnosis or
event date: the benefit's ``counts_by``) inside the member's cover, the claim received by the
city's deadline and every listed document present (or marked not applicable, with why).
Otherwise nothing changes and ``SubmissionRefused`` lists each reason. The plugin's answer on
what the member was already granted is stored with its explanation — a preview: the decision
is taken again at approval, under the member-year lock (accumulators.py).

The rest of a claim's life: its documents (attachments.py), the reviewers' queues and lists
(queues.py), payments' results, retries and clawbacks (payouts.py), the member-year totals
(accumulators.py); hospital settlement records (settlements.py) and statistics.py.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.claims import accumulators, events, rules
from services.claims.exceptions import NotFound, SubmissionRefused
from services.claims.models import (
    ZERO,
    Attachment,
    AttachmentDocument,
    Claim,
    ClaimTransition,
    LedgerEntry,
    Review,
)
from services.kernel.errors import FactError, PolicyError
from services.kernel.facts import load_claim
from services.kernel.formulas import FACT_LABELS
from services.kernel.idcard import parse_id
from services.kernel.money import format_money
from services.kernel.policy import Assessment, Benefit, CityPolicy, ClaimFacts
from services.kernel.privacy import mask_id
from services.messaging.database import utc_now

Record = Callable[[str, dict[str, Any]], str]
Cover = Callable[[str, str, date], Mapping[str, Any] | None]

EVENT_VERSION = 1


# ---- reading -------------------------------------------------------------------------------


def get_claim(session: Session, claim_id: str, *, lock: bool = False) -> Claim:
    query = select(Claim).where(Claim.id == claim_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    claim = session.scalar(query)
    if claim is None:
        raise NotFound(f"没有申请 {claim_id}")
    return claim


def facts_json(facts: ClaimFacts) -> dict[str, Any]:
    """Facts as JSON that ``load_claim`` reads back: decimals and dates as text, unset left out."""
    data: dict[str, Any] = {}
    for field in dataclasses.fields(facts):
        value = getattr(facts, field.name)
        if value is None or value == ():
            continue
        if isinstance(value, Decimal):
            value = str(value)
        elif isinstance(value, date):
            value = value.isoformat()
        elif isinstance(value, tuple):
            value = list(value)
        data[field.name] = value
    return data


def benefit_of(policy: CityPolicy, year: int, code: str) -> Benefit:
    """The city-year's benefit ``code``; otherwise SubmissionRefused naming what the city has
    (or, Keqiao without its schedule, the missing file)."""
    for benefit in policy.benefits(year):
        if benefit.code == code:
            return benefit
    try:
        policy.assess(year, ClaimFacts(benefit=code))
    except PolicyError as exc:
        raise SubmissionRefused([str(exc)]) from None
    raise SubmissionRefused([f"{policy.name} {year} 年没有待遇 {code!r}"])


def _id_number(value: str) -> str:
    check = parse_id(value)
    if not check.valid:
        raise FactError(f"身份证号码 {mask_id(check.number)} 有误: {'；'.join(check.reasons)}")
    return check.number


def take_cover(claim: Claim, covered: Mapping[str, Any]) -> None:
    """The enrolment that covers the claim (enrollment.cover's answer): member, unit, the
    unit's district (a district clerk's scope) and application."""
    claim.member_id = covered.get("member_id")
    claim.unit_id, claim.unit_name = covered.get("unit_id"), covered.get("unit_name")
    claim.district = covered.get("district")
    claim.application_id = covered.get("application_id")
    claim.name = claim.name or covered.get("name")


def _cover_on_counting_date(
    policy: CityPolicy, year: int, facts: ClaimFacts, id_number: str, cover: Cover | None
) -> Mapping[str, Any] | None:
    """cover's answer on the date that counts for the benefit, when the facts give it (a
    benefit or date not known yet: None, and submit checks them)."""
    if cover is None:
        return None
    try:
        benefit = next((b for b in policy.benefits(year) if b.code == facts.benefit), None)
    except PolicyError:  # the city-year's catalogue missing: submit names it
        return None
    day = getattr(facts, benefit.counts_by, None) if benefit and benefit.counts_by else None
    return cover(policy.code, id_number, day) if isinstance(day, date) else None


def transition(
    session: Session,
    claim: Claim,
    to_status: str,
    actor: str,
    reason: str | None,
    *,
    new: bool = False,
) -> None:
    session.add(
        ClaimTransition(
            claim_id=claim.id,
            from_status=None if new else claim.status,
            to_status=to_status,
            actor=actor,
            reason=reason,
            at=utc_now(),
        )
    )
    claim.status = to_status


def payload(claim: Claim, **extra: Any) -> dict[str, Any]:
    return {
        "v": EVENT_VERSION,
        "claim_id": claim.id,
        "city": claim.city,
        "year": claim.year,
        "benefit": claim.benefit,
        "unit_id": claim.unit_id,
        **extra,
    }


def assessment_facts(claim: Claim) -> ClaimFacts:
    """The stored facts, with the date received as the claim date if the form gave none."""
    facts = load_claim(claim.facts)
    if facts.claim_date is None and claim.received_on is not None:
        facts = dataclasses.replace(facts, claim_date=claim.received_on)
    return facts


def store_assessment(claim: Claim, assessment: Assessment) -> None:
    claim.assessment = assessment.to_dict()
    claim.payable = None if assessment.refused else assessment.payable
    claim.counted = None if assessment.refused else assessment.counted


# ---- intake --------------------------------------------------------------------------------


def create_claim(
    session: Session,
    policy: CityPolicy,
    *,
    year: int,
    id_number: str,
    facts: Mapping[str, Any],
    actor: str,
    name: str | None = None,
    payee_card: str | None = None,
    cover: Cover | None = None,
) -> Claim:
    """A draft claim for a member of the city-year; the facts are checked (a misspelt or
    malformed fact is a FactError naming it), the rest when it is submitted.

    With ``cover`` and the date that counts among the facts, the member's unit (and its
    district) is learnt now: the draft is then the unit's, and the service's ``cover`` may
    refuse a member of a unit outside the clerk's scope before anything is stored."""
    policy.period(year)  # an unknown year is refused by name
    loaded = load_claim(facts)
    number = _id_number(id_number)
    covered = _cover_on_counting_date(policy, year, loaded, number, cover)
    claim = Claim(
        city=policy.code,
        year=year,
        kind="member",
        benefit=loaded.benefit,
        status=rules.DRAFT,
        id_number=number,
        name=(name or "").strip() or None,
        facts=facts_json(loaded),
        disease=loaded.disease,
        payee_card=payee_card,
        created_by=actor,
    )
    if covered is not None and covered.get("year") == year:
        take_cover(claim, covered)
    session.add(claim)
    session.flush()
    transition(session, claim, rules.DRAFT, actor, "新建申请", new=True)
    return claim


def update_claim(
    session: Session,
    *,
    claim_id: str,
    actor: str,
    facts: Mapping[str, Any] | None = None,
    name: str | None = None,
    payee_card: str | None = None,
    reason: str | None = None,
) -> Claim:
    """Correct a draft or returned claim (its facts replace the old ones whole); the change
    is a transition to the same status, with what changed and the clerk's ``reason``."""
    claim = get_claim(session, claim_id, lock=True)
    rules.require_editable(claim.status)
    changed = []
    if facts is not None:
        loaded = load_claim(facts)
        claim.facts, claim.benefit, claim.disease = (
            facts_json(loaded),
            loaded.benefit,
            loaded.disease,
        )
        changed.append("事实")
    if name is not None:
        claim.name = name.strip() or None
        changed.append("姓名")
    if payee_card is not None:
        claim.payee_card = payee_card
        changed.append("银行卡")
    why = f"修改{'、'.join(changed) or '（无）'}"
    transition(session, claim, claim.status, actor, f"{why}：{reason.strip()}" if reason else why)
    return claim


def submit(
    session: Session,
    policy: CityPolicy,
    *,
    claim_id: str,
    actor: str,
    today: date,
    cover: Cover,
    record: Record,
    not_applicable: Mapping[str, str] | None = None,
) -> Claim:
    """提交: cover, deadline, benefit, facts and documents checked; the plugin's answer stored.

    ``not_applicable`` marks listed documents this claim does not need, each with why (Wujin:
    a stay settled with the medical-insurance card needs no discharge record).
    """
    claim = get_claim(session, claim_id, lock=True)
    to_status = rules.next_status(claim.status, "submit")
    benefit = benefit_of(policy, claim.year, claim.benefit)
    facts = load_claim(claim.facts)
    received = claim.received_on or today  # a returned claim keeps its first receipt
    problems: list[str] = []

    covered, day = None, None
    label = FACT_LABELS.get(benefit.counts_by or "", benefit.counts_by)
    if not benefit.counts_by:
        # without it the cover cannot be checked; refusing beats paying someone not covered
        problems.append(
            f"{policy.name} {claim.year} 年的{benefit.name}未规定按哪个日期确定保障期（counts_by），"
            "无法核对是否在保障范围内；请先在城市插件的年度数据中配置"
        )
    elif (day := getattr(facts, benefit.counts_by)) is None:
        problems.append(
            f"{benefit.name}按{label}确定保障年度，请填写{label}（{benefit.counts_by}）"
        )
    else:
        covered = cover(policy.code, claim.id_number, day)
        who = claim.name or mask_id(claim.id_number)
        if covered is None:
            problems.append(
                f"{who} 在{label} {day.isoformat()} 不在{policy.name}职工医疗互助保障的保障范围内"
                "（未参保，或该日期不在保障期内）"
            )
        elif covered["year"] != claim.year:
            problems.append(
                f"{label} {day.isoformat()} 属 {covered['year']} 年度的保障，不是申请的 {claim.year} 年度"
            )
        elif claim.name and covered.get("name") and claim.name != covered["name"]:
            problems.append(f"申请人姓名「{claim.name}」与参保名册「{covered['name']}」不一致")

    deadline = policy.claim_deadline(claim.year, facts)
    if deadline is not None and received > deadline:
        problems.append(
            f"{claim.year} 年度的申请受理截止于 {deadline.isoformat()}，"
            f"{received.isoformat()} 提交已逾期，不再受理"
        )

    waived = dict(claim.not_applicable or {})
    for document, why in (not_applicable or {}).items():
        if document not in benefit.attachments:
            problems.append(f"「{document}」不是{benefit.name}要求的材料")
        elif not (why or "").strip():
            problems.append(f"「{document}」标为不适用时须写明原因")
        else:
            waived[document] = why.strip()
    present = session.scalars(
        select(AttachmentDocument.document)
        .join(Attachment, AttachmentDocument.attachment_id == Attachment.id)
        .where(Attachment.claim_id == claim.id)
    )
    missing = rules.missing_documents(benefit.attachments, present, waived)
    if missing:
        problems.append(f"缺少材料: {'、'.join(missing)}（如不适用请注明原因）")

    assessment = None
    try:
        facts = dataclasses.replace(facts, claim_date=facts.claim_date or received)
        history = accumulators.history(
            session, city=claim.city, year=claim.year, id_number=claim.id_number
        )
        assessment = policy.assess(claim.year, facts, history)
    except FactError as exc:
        problems.append(str(exc))
    if problems:
        raise SubmissionRefused(problems)

    if covered is not None:
        take_cover(claim, covered)
    claim.counts_on = day
    claim.received_on = received
    claim.review_due = rules.review_due(benefit, received)
    claim.review_batch = rules.review_batch(benefit, received)
    claim.not_applicable = waived or None
    claim.returned_reason = None
    claim.submitted_by = actor  # four eyes: read from the row approve locks, no query of its own
    store_assessment(claim, assessment)
    # the row approvals lock exists before the first of them (accumulators.py)
    accumulators.ensure(session, city=claim.city, year=claim.year, id_number=claim.id_number)
    transition(
        session, claim, to_status, actor, "重新提交" if claim.status == rules.RETURNED else "提交"
    )
    record(events.CLAIM_SUBMITTED, payload(claim))
    return claim


# ---- review --------------------------------------------------------------------------------


def _review(
    session: Session, claim: Claim, decision: str, reviewer: str, reason: str | None
) -> None:
    session.add(
        Review(
            claim_id=claim.id,
            decision=decision,
            reviewer=reviewer,
            reason=reason,
            batch=claim.review_batch,
            payable=claim.payable,
            assessment=claim.assessment,
            at=utc_now(),
        )
    )


def approve(
    session: Session,
    policy: CityPolicy | Callable[[str], CityPolicy],
    *,
    claim_id: str,
    actor: str,
    today: date,
    record: Record,
    reason: str | None = None,
) -> Claim:
    """审核通过: assessed again under the member-year lock with what the member was granted so
    far, and added to it in the same transaction. If the plugin now refuses (a concurrent or
    later approval used the cap, the once-per-period benefit …) the claim is rejected with the
    plugin's reasons instead: the returned claim's status says which.

    ``policy`` may be the city's policy or a lookup by city code (the service's registry):
    the claim's city is then read from the locked claim, not by a query of its own."""
    claim = get_claim(session, claim_id, lock=True)
    if not isinstance(policy, CityPolicy):
        policy = policy(claim.city)
    rules.next_status(claim.status, "approve")
    rules.require_four_eyes(claim.submitted_by, actor)
    benefit = benefit_of(policy, claim.year, claim.benefit)
    accumulator, totals = accumulators.lock(
        session, city=claim.city, year=claim.year, id_number=claim.id_number
    )
    assessment = policy.assess(claim.year, assessment_facts(claim), accumulators.history_of(totals))
    store_assessment(claim, assessment)
    if assessment.refused:
        text = "；".join(assessment.reasons)
        _review(session, claim, rules.REJECTED, actor, text)
        transition(session, claim, rules.REJECTED, actor, f"复核不符合补助条件: {text}")
        record(events.CLAIM_REJECTED, payload(claim))
        return claim

    accumulators.add(
        session,
        accumulator,
        totals,
        claim.benefit,
        payable=assessment.payable,
        counted=assessment.counted,
        claims=1,
    )
    session.add(
        LedgerEntry(
            claim_id=claim.id,
            city=claim.city,
            year=claim.year,
            id_number=claim.id_number,
            unit_id=claim.unit_id,
            benefit=claim.benefit,
            kind="payable",
            amount=assessment.payable,
            counted=assessment.counted,
            reference=assessment.rule.id,
            reason=reason,
            actor=actor,
            at=utc_now(),
        )
    )
    claim.approved_on = today
    to_pay = assessment.payable > ZERO
    claim.pay_due, claim.pay_limit = (
        rules.pay_due(benefit, claim.received_on or today, today) if to_pay else (None, None)
    )
    claim.payout_attempt = 1 if to_pay else 0
    _review(session, claim, rules.APPROVED, actor, reason)
    transition(
        session,
        claim,
        rules.APPROVED,
        actor,
        reason or f"审核通过，补助 {format_money(assessment.payable)} 元",
    )
    record(
        events.CLAIM_APPROVED,
        payload(
            claim,
            member_id=claim.member_id,
            payable=format_money(assessment.payable),
            attempt=claim.payout_attempt,
        ),
    )
    return claim


def return_claim(
    session: Session, *, claim_id: str, actor: str, reason: str, record: Record
) -> Claim:
    """退回 with a reason the clerk reads; the claim is corrected and submitted again."""
    claim = get_claim(session, claim_id, lock=True)
    to_status = rules.next_status(claim.status, "return")
    text = rules.require_reason(reason, "return")
    claim.returned_reason = text
    _review(session, claim, rules.RETURNED, actor, text)
    transition(session, claim, to_status, actor, text)
    record(events.CLAIM_RETURNED, payload(claim))
    return claim


def reject(session: Session, *, claim_id: str, actor: str, reason: str, record: Record) -> Claim:
    """不予补助, with the reason the member is told."""
    claim = get_claim(session, claim_id, lock=True)
    to_status = rules.next_status(claim.status, "reject")
    text = rules.require_reason(reason, "reject")
    _review(session, claim, rules.REJECTED, actor, text)
    transition(session, claim, to_status, actor, text)
    record(events.CLAIM_REJECTED, payload(claim))
    return claim


def history(session: Session, *, claim_id: str) -> list[dict[str, Any]]:
    return histories(session, [claim_id])[claim_id]


def histories(session: Session, claim_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Each claim's changes, oldest first: who, when, why."""
    changes: dict[str, list[dict[str, Any]]] = {claim_id: [] for claim_id in claim_ids}
    if not claim_ids:
        return changes
    rows = session.scalars(
        select(ClaimTransition)
        .where(ClaimTransition.claim_id.in_(claim_ids))
        .order_by(ClaimTransition.at, ClaimTransition.id)
    )
    for t in rows:
        changes[t.claim_id].append(
            {
                "from": t.from_status,
                "to": t.to_status,
                "actor": t.actor,
                "at": t.at.isoformat(),
                "reason": t.reason,
            }
        )
    return changes
