"""Reconciliation: a bank statement for one fund account and day against what we recorded.

``import_statement`` stores the file's lines for the account and day; a line imported before
(from this file or an earlier one) is ignored and reported as a duplicate. Its key is a
hash of date, amount, counterparty and serial, so a bank that numbers every line and one
that does not are both caught.

``reconcile`` compares every stored line of the account-day with ours: receipts into the
account that day (premiums, applied or held: the money did arrive) and payouts paid out of
it. A pair is found by the bank's serial first (a callback's event id is the bank's serial;
a payout's bank reference), then by an invoice code or a payout id in the line's remark,
then by counterparty and amount. The answer: matched, amount differs (paired, but not the
same sum), ours only (no line for it: missing on the statement), bank's only (no record of
ours), duplicates — as a dict (JSON) and as an Excel report (``report_workbook``).
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.kernel.money import format_money
from services.messaging.database import utc_now
from services.payments import invoices, payouts
from services.payments.exceptions import StatementUnreadable
from services.payments.models import (
    Invoice,
    Payout,
    Receipt,
    StatementImport,
    StatementLine,
    new_id,
)
from services.payments.receipts import SHANGHAI
from services.payments.statements import StatementRow, read_statement


def line_key(day: date, amount: Decimal, counterparty: str | None, serial: str | None) -> str:
    text = "|".join((day.isoformat(), format_money(amount), counterparty or "", serial or ""))
    return hashlib.sha256(text.encode()).hexdigest()[:64]


def statement_day(rows: list[StatementRow], filename: str) -> date:
    """The one day all the statement's lines share (a statement is reconciled per day)."""
    days = sorted({row.day for row in rows})
    if len(days) != 1:
        shown = "、".join(d.isoformat() for d in days[:5]) or "无"
        raise StatementUnreadable(f"{filename}：有 {len(days)} 天的交易（{shown}），请指定对账日期")
    return days[0]


def import_statement(
    session: Session, *, data: bytes, filename: str, account: str, day: date, actor: str
) -> dict[str, Any]:
    """Store the file's lines of ``day`` for ``account``; lines of other days are refused by
    row (a statement is imported per day). Returns the import's counts and its duplicates."""
    return _import_rows(
        session,
        read_statement(data, filename),
        data=data,
        filename=filename,
        account=account,
        day=day,
        actor=actor,
    )


def _import_rows(
    session: Session,
    rows: list[StatementRow],
    *,
    data: bytes,
    filename: str,
    account: str,
    day: date,
    actor: str,
) -> dict[str, Any]:
    other_days = [r.source_row for r in rows if r.day != day]
    if other_days:
        shown = "、".join(str(n) for n in other_days[:10])
        raise StatementUnreadable(f"{filename}：第 {shown} 行的交易日期不是 {day}，请按日导入")
    record = StatementImport(
        id=new_id(),
        account_number=account,
        day=day,
        filename=filename[:255],
        sha256=hashlib.sha256(data).hexdigest(),
        lines=len(rows),
        ignored=0,
        actor=actor,
        at=utc_now(),
    )
    session.add(record)
    session.flush()
    known = set(
        session.scalars(
            select(StatementLine.line_key).where(
                StatementLine.account_number == account, StatementLine.day == day
            )
        )
    )
    duplicates = []
    for row in rows:
        key = line_key(row.day, row.amount, row.counterparty, row.serial)
        if key in known:
            duplicates.append(_row_dict(row))
            continue
        known.add(key)
        session.add(
            StatementLine(
                id=new_id(),
                import_id=record.id,
                account_number=account,
                line_key=key,
                source_row=row.source_row,
                day=row.day,
                amount=row.amount,
                counterparty=row.counterparty,
                serial=row.serial,
                remark=row.remark,
            )
        )
    record.ignored = len(duplicates)
    session.flush()
    return {
        "import_id": record.id,
        "lines": len(rows),
        "new": len(rows) - len(duplicates),
        "duplicates": duplicates,
    }


@dataclass
class _Ours:
    kind: str  # receipt | payout
    id: str
    amount: Decimal  # signed, as the statement shows it
    serial: str | None
    counterparty: str | None
    codes: tuple[str, ...]  # an invoice code or a payout id the remark may carry

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "id": self.id,
            "amount": format_money(self.amount),
            "serial": self.serial,
            "counterparty": self.counterparty,
        }


def _ours(session: Session, account: str, day: date) -> list[_Ours]:
    start = datetime.combine(day, time(), SHANGHAI)
    end = start + timedelta(days=1)
    found = []
    rows = session.execute(
        select(Receipt, Invoice.code)
        .outerjoin(Invoice, Invoice.id == Receipt.invoice_id)
        .where(
            Receipt.account_number == account,
            Receipt.occurred_at >= start,
            Receipt.occurred_at < end,
        )
        .order_by(Receipt.occurred_at)
    ).all()
    for receipt, code in rows:
        found.append(
            _Ours(
                "receipt",
                receipt.id,
                receipt.amount,
                receipt.provider_event_id,
                receipt.payer_name,
                (code,) if code else (),
            )
        )
    for payout in session.scalars(
        select(Payout).where(
            Payout.from_account == account,
            Payout.status.in_((payouts.SUCCEEDED, payouts.RETURNED)),
            Payout.finished_at >= start,
            Payout.finished_at < end,
        )
    ):
        found.append(
            _Ours(
                "payout",
                payout.id,
                -payout.amount,
                payout.bank_reference,
                payout.name,
                (payout.id,),
            )
        )
    return found


def reconcile(session: Session, *, account: str, day: date) -> dict[str, Any]:
    lines = list(
        session.scalars(
            select(StatementLine)
            .where(StatementLine.account_number == account, StatementLine.day == day)
            .order_by(StatementLine.source_row, StatementLine.id)
        )
    )
    ours = _ours(session, account, day)
    pairs: list[tuple[StatementLine, _Ours]] = []
    left_lines, left_ours = list(lines), list(ours)
    for rule in (_same_serial, _code_in_remark, _same_party_and_amount):
        for line in list(left_lines):
            mine = next((o for o in left_ours if rule(line, o)), None)
            if mine is not None:
                pairs.append((line, mine))
                left_lines.remove(line)
                left_ours.remove(mine)
    matched = [_pair(line, o) for line, o in pairs if line.amount == o.amount]
    differs = [
        {**_pair(line, o), "difference": format_money(line.amount - o.amount)}
        for line, o in pairs
        if line.amount != o.amount
    ]
    return {
        "account": account,
        "day": day.isoformat(),
        "matched": matched,
        "amount_differs": differs,
        "ours_only": [o.to_dict() for o in left_ours],
        "bank_only": [_line_dict(line) for line in left_lines],
    }


def reconcile_file(
    session: Session,
    *,
    data: bytes,
    filename: str,
    account: str,
    actor: str,
    day: date | None = None,
) -> dict[str, Any]:
    """Import the statement and reconcile the account-day (``day``: the statement's own when
    all its lines share one): the whole answer of the command and of the finance desk."""
    rows = read_statement(data, filename)  # read once, for its day and its lines
    day = day or statement_day(rows, filename)
    imported = _import_rows(
        session, rows, data=data, filename=filename, account=account, day=day, actor=actor
    )
    result = reconcile(session, account=account, day=day)
    result["duplicates"] = imported["duplicates"]
    result["import"] = {k: imported[k] for k in ("import_id", "lines", "new")}
    return result


def _same_serial(line: StatementLine, ours: _Ours) -> bool:
    return bool(line.serial) and line.serial == ours.serial


def _code_in_remark(line: StatementLine, ours: _Ours) -> bool:
    if not line.remark:
        return False
    codes = set(invoices.codes_in(line.remark))
    return any(code in codes or code in line.remark for code in ours.codes)


def _same_party_and_amount(line: StatementLine, ours: _Ours) -> bool:
    return (
        bool(line.counterparty)
        and invoices.normalise_reference(line.counterparty)
        == invoices.normalise_reference(ours.counterparty)
        and line.amount == ours.amount
    )


def _line_dict(line: StatementLine) -> dict[str, Any]:
    return {
        "row": line.source_row,
        "day": line.day.isoformat(),
        "amount": format_money(line.amount),
        "counterparty": line.counterparty,
        "serial": line.serial,
        "remark": line.remark,
    }


def _row_dict(row: StatementRow) -> dict[str, Any]:
    return {
        "row": row.source_row,
        "day": row.day.isoformat(),
        "amount": format_money(row.amount),
        "counterparty": row.counterparty,
        "serial": row.serial,
        "remark": row.remark,
    }


def _pair(line: StatementLine, ours: _Ours) -> dict[str, Any]:
    return {"bank": _line_dict(line), "ours": ours.to_dict()}


# ---- the Excel report ------------------------------------------------------------------------

_SHEETS = (
    ("matched", "已核对"),
    ("amount_differs", "金额不符"),
    ("ours_only", "银行无此笔"),
    ("bank_only", "系统无此笔"),
    ("duplicates", "重复导入"),
)
_LINE_COLUMNS = (
    ("row", "行号"),
    ("day", "交易日期"),
    ("amount", "金额"),
    ("counterparty", "对方户名"),
    ("serial", "流水号"),
    ("remark", "摘要"),
)
_OURS_COLUMNS = (
    ("kind", "类别"),
    ("id", "编号"),
    ("amount", "金额"),
    ("counterparty", "对方户名"),
    ("serial", "流水号"),
)


def report_workbook(result: dict[str, Any]) -> bytes:
    """The reconciliation as an .xlsx: a summary sheet, then one sheet per outcome."""
    book = Workbook()
    summary = book.active
    summary.title = "汇总"
    summary.append(["账户", result["account"]])
    summary.append(["日期", result["day"]])
    for key, title in _SHEETS:
        summary.append([title, len(result.get(key, []))])
    for key, title in _SHEETS:
        sheet = book.create_sheet(title)
        items = result.get(key, [])
        if key in ("matched", "amount_differs"):
            header = [f"银行{t}" for _, t in _LINE_COLUMNS] + [f"系统{t}" for _, t in _OURS_COLUMNS]
            if key == "amount_differs":
                header.append("差额")
            sheet.append(header)
            for item in items:
                row = [item["bank"][k] for k, _ in _LINE_COLUMNS] + [
                    item["ours"][k] for k, _ in _OURS_COLUMNS
                ]
                if key == "amount_differs":
                    row.append(item["difference"])
                sheet.append(row)
        else:
            columns = _OURS_COLUMNS if key == "ours_only" else _LINE_COLUMNS
            sheet.append([t for _, t in columns])
            for item in items:
                sheet.append([item[k] for k, _ in columns])
        for cell in sheet[1]:
            cell.font = Font(bold=True)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
