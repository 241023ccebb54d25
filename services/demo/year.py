"""A scheme year end to end, step by step, against a running suite reached over its bus (RPC as
a trusted caller stating each actor) and its bank simulator (HTTP). Each step prints what
happened, in Chinese then English, and checks what it expects: a step that does not see its
outcome raises `StepFailed` naming it.

The year: Zhangjiakou 2024 (enrolment, premiums, claims, payouts) and Quzhou 2025 (enrolment
routed to the district blocks' accounts), on the demo clock DEMO_TODAY, which is inside both
enrolment windows and inside Zhangjiakou's cover and claims deadline.
"""

from __future__ import annotations

import base64
import io
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import requests

from services.demo.people import Person, person, roster_xlsx, with_bad_check_digit

DEMO_TODAY = "2024-03-01"
ADMISSION = "2024-02-01"  # a stay inside the cover the year's claims are about
CLERK, REVIEWER, FINANCE = "王芳 (demo-clerk)", "李审核 (demo-reviewer)", "赵财务 (demo-finance)"
SHORT_BY = Decimal("10.00")  # the one unit that transfers a little less than its invoice


class StepFailed(Exception):
    """A step did not see what it expected; the message names the step."""


@dataclass
class DemoUnit:
    city: str
    year: int
    key: str
    name: str
    people: list[Person]
    district: str | None = None
    contact_phone: str = ""
    unit_id: str = ""
    application_id: str = ""
    invoice: dict = field(default_factory=dict)


def demo_units(start: int = 0) -> list[DemoUnit]:
    """Two Zhangjiakou units and two Quzhou units in different district blocks; fictional
    people numbered from ``start`` (a second demo on the same data uses other people)."""
    sizes = [("zhangjiakou", 2024, "张家口市第一中学工会", None, 40),
             ("zhangjiakou", 2024, "张家口市桥西区供热公司工会", None, 30),
             ("quzhou", 2025, "衢州市柯城区某机械厂工会", "柯城区", 10),
             ("quzhou", 2025, "衢州市衢江区某纺织公司工会", "衢江区", 10)]  # fmt: skip
    units, n = [], start
    for i, (city, year, name, district, size) in enumerate(sizes):
        people = [person(n + k) for k in range(size)]
        n += size
        contact = f"138{start + i:08d}"  # the unit's clerk: told of a held payment
        units.append(DemoUnit(city, year, f"demo-{start}-{i}", name, people, district, contact))
    return units


def wait_for(what: str, probe: Callable[[], Any], timeout: float = 60.0) -> Any:
    """Wait for an asynchronous outcome (an event handled, a callback applied): the probe's
    first truthy answer, or StepFailed naming what never came."""
    deadline = time.monotonic() + timeout
    while True:
        answer = probe()
        if answer:
            return answer
        if time.monotonic() > deadline:
            raise StepFailed(f"{what}: not seen within {timeout:.0f} s")
        time.sleep(0.2)


def _png(colour: str) -> str:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (16, 16), colour).save(out, "PNG")
    return base64.b64encode(out.getvalue()).decode()


class Year:
    """The year's steps in order (`run`), or one by one (the end-to-end tests)."""

    def __init__(self, rpc, bank_url: str, say: Callable[[str], None] = print, start: int = 0):
        self.rpc, self.bank_url, self.say = rpc, bank_url.rstrip("/"), say
        self.units = demo_units(start)
        self.claims: list[dict] = []
        self.dormant: Person | None = None
        self.held_receipt: dict = {}
        self.outcome: dict[str, Any] = {}

    def run(self) -> dict:
        for step in self.steps():
            step()
        return self.outcome

    def steps(self) -> list[Callable[[], None]]:
        return [self.enrol, self.invoices, self.pay, self.resolve_held, self.approve_units,
                self.sms, self.claim, self.review, self.payouts, self.retry_dormant,
                self.close]  # fmt: skip

    # ---- enrolment --------------------------------------------------------------------------

    def enrol(self) -> None:
        self.say("1. 单位从 Excel 名册参保 / units enrol from Excel rosters")
        from services.kernel.registry import load_city

        for n, unit in enumerate(self.units):
            fmt = load_city(unit.city).roster_format(unit.year)
            registered = self.rpc.enrollment.register_unit(
                unit.city,
                unit.year,
                {"unit_key": unit.key, "name": unit.name, "district": unit.district,
                 "contact": "王芳", "contact_phone": unit.contact_phone,
                 "staff_total": len(unit.people), "staff_insured": len(unit.people)},
            )  # fmt: skip
            unit.unit_id = registered["unit_id"]
            app = self.rpc.enrollment.open_application(
                unit.city,
                {"unit_id": unit.unit_id, "year": unit.year, "participants": len(unit.people)},
                CLERK,
            )
            unit.application_id = app["application_id"]
            if n == 1:  # one roster with a mistyped ID: refused whole, fixed, sent again
                typo = [with_bad_check_digit(unit.people[0]), *unit.people[1:]]
                answer = self._import(unit, roster_xlsx(fmt, typo, unit.name))
                if not answer["errors"]:
                    raise StepFailed("enrol: a roster with a wrong check digit was accepted")
                first = answer["errors"][0]
                self.say(
                    f"   {unit.name}: 名册有误，第{first['row']}行 {first['column']}：{first['reason']}"
                    " / roster refused, fixed and sent again"
                )
                self.outcome["roster_errors"] = len(answer["errors"])
            answer = self._import(unit, roster_xlsx(fmt, unit.people, unit.name))
            if answer["errors"]:
                raise StepFailed(f"enrol: {unit.name}: {answer['errors'][:3]}")
            self.rpc.enrollment.submit(unit.application_id, CLERK)
            self.say(f"   {unit.name}: {len(unit.people)} 人已提交 / submitted")
        self.outcome["members"] = sum(len(u.people) for u in self.units)

    def _import(self, unit: DemoUnit, content: bytes) -> dict:
        data = base64.b64encode(content).decode()
        return self.rpc.enrollment.import_roster(unit.application_id, "名册.xlsx", data, CLERK)

    def invoices(self) -> None:
        self.say("2. 缴费通知按城市/区块的账户开出 / invoices go to the routed accounts")
        for unit in self.units:
            unit.invoice = wait_for(
                f"invoice of {unit.name}",
                lambda u=unit: self._invoice(u.application_id),
            )
            account = unit.invoice["account"]
            self.say(
                f"   {unit.name}: {unit.invoice['amount']} 元 → {account['payee']} "
                f"{account['number']}"
            )
        quzhou = {u.invoice["account"]["number"] for u in self.units if u.city == "quzhou"}
        if len(quzhou) != 2:
            raise StepFailed("invoices: Quzhou's two district blocks did not get two accounts")

    def _invoice(self, application_id: str) -> dict | None:
        from nameko.exceptions import RemoteError

        try:
            return self.rpc.payments.invoice_of_application(application_id)
        except RemoteError:
            return None  # not issued yet: payments is still handling application_submitted

    def pay(self) -> None:
        self.say("3. 银行模拟器回调到账 / the bank simulator pays by signed callback")
        short = self.units[1]
        for unit in self.units:
            amount = Decimal(unit.invoice["amount"]) - (SHORT_BY if unit is short else 0)
            answer = requests.post(
                f"{self.bank_url}/transfers",
                json={
                    "account": unit.invoice["account"]["number"],
                    "amount": f"{amount:.2f}",
                    "reference": unit.invoice["reference"],
                    "payer_name": unit.name,
                    "occurred_at": f"{DEMO_TODAY}T10:00:00+08:00",
                },
                timeout=10,
            )
            if answer.status_code != 202:
                raise StepFailed(f"pay: the bank refused the transfer: {answer.text}")
        for unit in self.units:
            if unit is short:
                continue
            wait_for(f"{unit.name} paid", lambda u=unit: self._payment(u) == "paid")
            self.say(f"   {unit.name}: 已缴清 / paid")
        self.held_receipt = wait_for(
            f"{short.name}'s short payment held",
            lambda: next(
                (h for h in self.rpc.payments.held(short.city) if h.get("unit_id") in
                 (short.unit_id, None)),
                None,
            ),
        )  # fmt: skip
        self.say(
            f"   {short.name}: 少缴 {SHORT_BY} 元，款项挂账待财务处理 / short payment held: "
            f"{self.held_receipt.get('reason') or self.held_receipt.get('hold_reason')}"
        )
        told = wait_for(
            f"{short.name}'s clerk told of the held payment",
            lambda: self._sms(short.contact_phone, "payment_held"),
        )
        self.say(f"   经办人短信 / the clerk's SMS: {told[0]['text']}")
        self.outcome["paid"] = len(self.units) - 1

    def _sms(self, phone: str, template: str) -> list[dict]:
        return [m for m in self.rpc.notify.sent_to(phone) if m["template"] == template]

    def _payment(self, unit: DemoUnit) -> str:
        return self.rpc.enrollment.application(unit.application_id)["payment"]

    def resolve_held(self) -> None:
        self.say("4. 财务处理挂账款项 / finance resolves the held payment")
        short = self.units[1]
        self.rpc.payments.resolve_apply(
            self.held_receipt["receipt_id"], FINANCE, "单位来电确认少缴10元，差额下期补缴"
        )
        state = wait_for(
            f"{short.name}'s payment applied",
            lambda: self._payment(short) in ("paid", "part_paid") and self._payment(short),
        )
        self.say(f"   {short.name}: 已入账（{state}）/ applied ({state})")
        self.outcome["held_resolved"] = 1

    def approve_units(self) -> None:
        self.say("5. 审核人审核参保申请 / the reviewer approves the applications")
        for unit in self.units:
            self.rpc.enrollment.approve(unit.application_id, REVIEWER)
        self.outcome["enrolled"] = sum(
            len(self.rpc.enrollment.roster(u.application_id)) for u in self.units
        )
        self.say(f"   {self.outcome['enrolled']} 名职工参保 / members enrolled")

    def sms(self) -> None:
        self.say("6. 会员收到参保短信（notify 的发件箱）/ members get SMS (notify's outbox)")
        members = [p for u in self.units for p in u.people]

        def enrolled_sms(p: Person) -> list[dict]:
            return self._sms(p.phone, "members_enrolled")

        wait_for("an enrolment SMS for every member", lambda: all(map(enrolled_sms, members)))
        counts = [len(enrolled_sms(p)) for p in members]
        if set(counts) != {1}:
            raise StepFailed(f"sms: enrolment SMS per member {counts}, expected one each")
        sample = enrolled_sms(members[0])[0]
        self.say(f"   {len(members)} 条，例 / e.g. {sample['phone']}: {sample['text']}")
        self.outcome["sms_enrolled"] = len(members)

    # ---- claims -----------------------------------------------------------------------------

    def claim(self) -> None:
        self.say("7. 会员申请互助金 / members claim")
        from services.kernel.registry import load_city

        unit = self.units[0]
        policy = load_city(unit.city)
        benefit = next(b for b in policy.benefits(unit.year) if b.code == "general_illness")
        self.dormant = unit.people[2]
        for p, cost in zip(unit.people[:3], ("20000", "15000", "30000"), strict=True):
            facts = {"benefit": benefit.code, "total_cost": cost, "admission_date": ADMISSION}
            created = self.rpc.claims.create_claim(
                unit.city, unit.year, p.id_number, facts, CLERK, p.name, p.card
            )
            for i, document in enumerate(benefit.attachments):
                self.rpc.claims.add_attachment(
                    created["claim_id"], document, f"{i}.png", _png(f"#{i:02x}{i:02x}99"), CLERK
                )
            submitted = self.rpc.claims.submit(created["claim_id"], CLERK)
            self.claims.append(submitted)
            self.say(f"   {p.name}: {benefit.name} 总费用 {cost} 元，已提交 / submitted")

    def review(self) -> None:
        self.say("8. 审核人审批（四眼：不是提交人）/ reviewers approve (four eyes)")
        from nameko.exceptions import RemoteError

        try:
            self.rpc.claims.approve(self.claims[0]["claim_id"], CLERK)
        except RemoteError as exc:
            self.say(f"   提交人自己审批被拒 / the submitter may not approve: {exc.value}")
        else:
            raise StepFailed("review: the clerk who submitted a claim approved it")
        for n, claim in enumerate(self.claims):
            approved = self.claims[n] = self.rpc.claims.approve(claim["claim_id"], REVIEWER)
            self.say(f"   {claim['claim_id'][:8]}: 核定 {approved['payable']} 元 / approved")

    def payouts(self) -> None:
        self.say("9. 互助金支付到工会卡 / payouts go out")
        dormant = self.claims[2]["claim_id"]
        for claim in self.claims:
            want = "payment_failed" if claim["claim_id"] == dormant else "paid"
            wait_for(
                f"claim {claim['claim_id'][:8]} {want}",
                lambda c=claim, w=want: self.rpc.claims.claim(c["claim_id"])["status"] == w,
            )
        failed = self.rpc.claims.claim(dormant)
        self.say(f"   2 笔已到账；1 笔失败 / 2 paid, 1 failed: {failed['history'][-1]['reason']}")

    def retry_dormant(self) -> None:
        self.say("10. 会员到网点激活久悬卡，重新支付 / the dormant card is fixed, retried")
        fixed = requests.post(f"{self.bank_url}/cards/{self.dormant.card}/fix", timeout=10)
        if fixed.status_code != 200:
            raise StepFailed(f"retry: the bank did not fix the card: {fixed.text}")
        claim_id = self.claims[2]["claim_id"]
        self.rpc.claims.retry_payout(claim_id, FINANCE, "会员已到网点激活工会卡")
        wait_for(
            "the retried payout paid", lambda: self.rpc.claims.claim(claim_id)["status"] == "paid"
        )
        attempts = [
            (p["attempt"], p["status"]) for p in self.rpc.payments.payouts_of_claim(claim_id)
        ]
        if attempts != [(1, "failed"), (2, "succeeded")]:
            raise StepFailed(f"retry: payouts {attempts}, expected one failed then one paid")
        self.say("   重试成功，只付一次 / paid once on the retry")
        self.outcome["claims_paid"] = len(self.claims)

    def close(self) -> None:
        self.say("11. 年度统计与赔付率 / statistics and the reimbursement rate close the year")
        stats = self.rpc.claims.statistics("zhangjiakou", 2024)
        rate = stats["reimbursement"]
        self.say(
            f"   张家口 2024：保费 {rate['premiums']} 元，赔付 {rate['paid']} 元，"
            f"赔付率 {rate['reimbursement_rate']} / premiums, paid, reimbursement rate"
        )
        self.outcome["reimbursement"] = rate
        self.outcome["balances"] = self.rpc.payments.balances("zhangjiakou")
