"""Sample inputs for the payments tests: an application as enrollment.application(...) answers
it, with the quote the city plugin computes (never amounts or remarks typed here)."""

from __future__ import annotations

import uuid

from services.kernel.policy import CityPolicy, Unit


def application(
    policy: CityPolicy,
    year: int,
    unit_name: str,
    participants: int,
    *,
    district: str | None = None,
    application_id: str | None = None,
    unit_id: str | None = None,
) -> dict:
    quote = policy.quote(
        year,
        Unit(
            name=unit_name,
            participants=participants,
            district=district,
            staff_total=participants,
            staff_insured=participants,
        ),
    )
    return {
        "application_id": application_id or str(uuid.uuid4()),
        "unit_id": unit_id or str(uuid.uuid4()),
        "city": policy.code,
        "year": year,
        "status": "submitted",
        "participants": participants,
        "quote": quote.to_dict(),
    }


# SER1 as ours; SER2 short by 50 yuan; SER3 missing; SER9 is the bank's only
STATEMENT_DAY = "2024-03-01"
STATEMENT_HEADER = ["交易日期", "金额", "对方户名", "流水号", "摘要"]
STATEMENT = [
    (STATEMENT_DAY, "3000.00", "张家口市一中工会", "SER1", "互助金"),
    (STATEMENT_DAY, "2950.00", "张家口市二中工会", "SER2", "互助金"),
    (STATEMENT_DAY, "88.00", "某某公司", "SER9", "货款"),
]


def statement_csv(rows=STATEMENT) -> bytes:
    lines = [",".join(STATEMENT_HEADER)] + [",".join(str(c) for c in row) for row in rows]
    return ("\n".join(lines) + "\n").encode("utf-8-sig")


def three_premiums(session, policy: CityPolicy, record) -> str:
    """Three units' premiums arrived on STATEMENT_DAY, by bank serials SER1–SER3 (their invoices'
    amounts: 3000 yuan each in Zhangjiakou 2024); the fund account's number."""
    from services.payments import invoices, receipts

    number = None
    for n, unit in enumerate(("一中工会", "二中工会", "三中工会"), start=1):
        invoice = invoices.issue_for_application(
            session,
            policy,
            application=application(policy, 2024, f"张家口市{unit}", 60),
            actor="t",
            record=record,
        )
        number = invoice.account_number
        receipts.receive_premium(
            session,
            provider="bank/icbc",
            event={
                "event_id": f"SER{n}",
                "occurred_at": f"{STATEMENT_DAY}T10:0{n}:00+08:00",
                "account": number,
                "amount": "3000.00",
                "currency": "CNY",
                "reference": invoice.reference,
                "payer_name": f"张家口市{unit}",
            },
            callback_id=None,
            record=record,
        )
    return number


DORMANT = ("E1003", "账户久悬")


def final_payouts(session, record, *, account: str, city: str = "zhangjiakou") -> dict:
    """Three of a city's payouts, each final: paid, failed at a dormant (久悬) card, returned
    (退票) for a closed account. {state: Payout}."""
    from services.payments import payouts

    made = {}
    for n, (state, name) in enumerate(
        (("succeeded", "李四"), ("failed", "张三"), ("returned", "王五")), start=1
    ):
        made[state] = payouts.create_payout(
            session,
            details={
                "claim_id": f"claim-{city}-{n}",
                "city": city,
                "year": 2024,
                "member_id": f"m{n}",
                "name": name,
                "payee_card": f"62220202001122334{n:02d}",
                "amount": f"{n}00.00",
                "attempt": 1,
            },
            from_account=account,
            actor="claims",
        )
    payouts.take_batch(session, from_account=account, size=10, actor="batcher")
    answers = {
        "succeeded": {"bank_reference": "PAY-1"},
        "failed": {"failure_code": DORMANT[0], "failure_message": DORMANT[1]},
        "returned": {"failure_code": "R07", "failure_message": "收款账户已销户"},
    }
    for state, payout in made.items():
        payouts.apply_result(
            session,
            payout_id=payout.id,
            result=state,
            actor="bank",
            record=record,
            **answers[state],
        )
    return made
