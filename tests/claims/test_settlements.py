"""Quzhou's hospital settlement records: a batch checked row by row and, only when every row is
good, recorded as paid claims of the members' units with no payout to anyone."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from services.claims import accumulators, settlements
from services.claims.exceptions import Conflict, SettlementUnreadable, SubmissionRefused
from services.claims.models import Claim, LedgerEntry, SettlementBatch
from tests.claims.flow import PNG, events, record
from tests.enrollment.files import xlsx_bytes
from tests.enrollment.samples import person

HEADER = [
    "序号",
    "结算单号",
    "姓名",
    "身 份 证 号 码",
    "入院日期",
    "出院日期",
    "医疗费总额",
    "互助结算金额",
    "疾病名称",
    "医院",
]
A, B, STRANGER = person(100), person(101), person(102)


def row(no, who, amount, admitted=date(2025, 3, 1), name=None, disease="肺炎", cost=20000.0):
    return [
        1,
        no,
        name or who.name,
        who.id_number,
        admitted,
        date(2025, 3, 9),
        cost,
        amount,
        disease,
        "衢州市人民医院",
    ]


def workbook(rows) -> bytes:
    return xlsx_bytes(
        {"结算记录": [["衢州市职工医疗互助直接结算记录（2025年3月）"], HEADER, *rows]}
    )


@pytest.fixture
def enrolled(cover):
    cover.enrol(
        "quzhou", 2025, A, unit_id="unit-a", unit_name="龙游某纸业有限公司工会", district="龙游县"
    )
    cover.enrol("quzhou", 2025, B, unit_id="unit-b", unit_name="衢州某厂工会")
    return cover


def count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def test_a_clean_file_is_recorded_as_paid_claims_of_the_units_without_payout(
    session, quzhou, enrolled
):
    data = workbook(
        [
            row("JS-001", A, 1234.56),
            row("JS-002", A, 800.0),
            row("JS-003", B, 2000.0, disease="胃癌"),
        ]
    )

    result = settlements.import_settlements(
        session,
        quzhou,
        year=2025,
        actor="agency:qz",
        cover=enrolled,
        record=record(session),
        data=data,
        filename="2025-03.xlsx",
    )

    assert result.importable and (result.rows, result.total) == (3, Decimal("4034.56"))
    claims = list(settlements.batch_claims(session, batch_id=result.batch_id))
    assert [(c.kind, c.status, c.unit_id, c.payable, c.payout_id) for c in claims] == [
        ("direct_settlement", "paid", "unit-a", Decimal("1234.56"), "JS-001"),
        ("direct_settlement", "paid", "unit-a", Decimal("800.00"), "JS-002"),
        ("direct_settlement", "paid", "unit-b", Decimal("2000.00"), "JS-003"),
    ]
    # the unit's district, as cover names it: a district clerk's scope (claims/access.py)
    assert [c.district for c in claims] == ["龙游县", "龙游县", None]
    assert (claims[2].disease, claims[2].counted, claims[2].paid_on) == (
        "胃癌",
        Decimal("20000.00"),
        date(2025, 3, 9),
    )
    kinds = session.execute(
        select(LedgerEntry.kind, LedgerEntry.actor).order_by(LedgerEntry.kind)
    ).all()
    assert sorted(kinds) == [("paid", "hospital")] * 3 + [("payable", "agency:qz")] * 3
    assert [e for e, _ in events(session)] == [
        "settlements_recorded"
    ]  # no claim_approved: nobody to pay
    assert events(session)[0][1] == {
        "v": 1,
        "batch_id": result.batch_id,
        "city": "quzhou",
        "year": 2025,
        "rows": 3,
        "total": "4034.56",
    }
    assert accumulators.member_totals(session, city="quzhou", year=2025, id_number=A.id_number) == {
        "direct_settlement": {"payable": "2034.56", "counted": "40000.00", "claims": 2}
    }

    with pytest.raises(Conflict, match="已于 .* 导入"):
        settlements.import_settlements(
            session,
            quzhou,
            year=2025,
            actor="agency:qz",
            cover=enrolled,
            record=record(session),
            data=data,
            filename="again.xlsx",
        )


def test_a_batch_with_bad_rows_stores_nothing_and_names_each_row(session, quzhou, enrolled):
    rows = [
        row("JS-101", A, 500.0),  # 3: good
        row("JS-102", STRANGER, 500.0),  # 4: not enrolled
        row("JS-103", A, 500.0),  # 5: its ID typed as a number
        row("JS-101", B, 300.0),  # 6: settlement number again
        row("JS-104", B, 12.345),  # 7: below the fen
        row("JS-105", B, 300.0, name="李四"),  # 8: not the roster's name
        row("JS-106", A, 300.0, admitted=date(2024, 12, 30)),  # 9: admitted before the cover year
    ]
    rows[2][3] = float(A.id_number[:15] + "000")

    result = settlements.import_settlements(
        session,
        quzhou,
        year=2025,
        actor="agency",
        cover=enrolled,
        record=record(session),
        data=workbook(rows),
        filename="bad.xlsx",
    )

    assert not result.importable and result.batch_id is None
    assert [(e.row, e.column) for e in result.errors] == [
        (4, "入院日期"),
        (5, "身份证号码"),
        (6, "结算单号"),
        (7, "互助结算金额"),
        (8, "姓名"),
        (9, "入院日期"),
    ]
    reasons = {e.row: e.reason for e in result.errors}
    assert "不在衢州市的保障范围内" in reasons[4] and "存成了数字" in reasons[5]
    assert "与第 3 行的结算单号 JS-101 重复" in reasons[6] and "两位小数" in reasons[7]
    assert "「李四」与参保名册" in reasons[8]
    assert (count(session, Claim), count(session, SettlementBatch), events(session)) == (0, 0, [])


def test_records_come_as_a_list_too_and_a_settlement_is_recorded_once(session, quzhou, enrolled):
    records = [
        {
            "settlement_no": "R-1",
            "id_number": A.id_number,
            "admission_date": "2025-05-01",
            "settled_amount": "600.00",
        },
        {
            "settlement_no": "R-2",
            "id_number": B.id_number,
            "admission_date": date(2025, 5, 2),
            "settled_amount": Decimal("700"),
            "hospital": "江山市人民医院",
        },
    ]
    first = settlements.import_settlements(
        session,
        quzhou,
        year=2025,
        actor="rpc",
        cover=enrolled,
        record=record(session),
        records=records,
    )
    assert first.importable and first.total == Decimal("1300.00")
    with pytest.raises(Conflict):
        settlements.import_settlements(
            session,
            quzhou,
            year=2025,
            actor="rpc",
            cover=enrolled,
            record=record(session),
            records=records,
        )
    again = settlements.import_settlements(
        session,
        quzhou,
        year=2025,
        actor="rpc",
        cover=enrolled,
        record=record(session),
        records=[
            records[1],
            {
                "settlement_no": "R-3",
                "id_number": A.id_number,
                "admission_date": "2025-06-01",
                "settled_amont": "1",
            },
        ],
    )
    assert [(e.row, e.reason) for e in again.errors] == [
        (1, "结算单号 R-2 已导入过"),
        (2, "不认识的字段（拼写错误？）"),
    ]


def test_a_csv_from_excel_in_gb18030_is_read(session, quzhou, enrolled):
    text = (
        f"结算单号,身份证号码,入院日期,互助结算金额\r\nC-1,{A.id_number},2025/4/1,88.80\r\n,,,\r\n"
    )
    result = settlements.import_settlements(
        session,
        quzhou,
        year=2025,
        actor="agency",
        cover=enrolled,
        record=record(session),
        data=text.encode("gb18030"),
        filename="4月.csv",
    )
    assert result.importable and result.rows == 1 and result.total == Decimal("88.80")


def test_files_that_are_not_settlement_tables_are_refused_in_words(
    session, quzhou, zhangjiakou, enrolled
):
    with pytest.raises(
        SettlementUnreadable,
        match="没有找到表头（须含 结算单号、身份证号码、入院日期、互助结算金额）",
    ):
        settlements.import_settlements(
            session,
            quzhou,
            year=2025,
            actor="a",
            cover=enrolled,
            record=record(session),
            data="姓名,金额\n张三,1\n".encode(),
            filename="x.csv",
        )
    with pytest.raises(SettlementUnreadable, match="不是 CSV 文本"):
        settlements.import_settlements(
            session,
            quzhou,
            year=2025,
            actor="a",
            cover=enrolled,
            record=record(session),
            data=PNG,
            filename="x.png",
        )
    with pytest.raises(SubmissionRefused, match="没有待遇 'direct_settlement'"):
        settlements.import_settlements(
            session,
            zhangjiakou,
            year=2024,
            actor="a",
            cover=enrolled,
            record=record(session),
            records=[],
        )


def test_a_settlement_stored_meanwhile_by_another_import_is_a_conflict(
    session, quzhou, enrolled, monkeypatch
):
    """The check found the number free, then another import stored it first: the unique index
    refuses the whole batch, and nothing of it is kept."""
    first = [
        {
            "settlement_no": "M-1",
            "id_number": A.id_number,
            "admission_date": "2025-05-01",
            "settled_amount": "10.00",
        }
    ]
    settlements.import_settlements(
        session, quzhou, year=2025, actor="a", cover=enrolled, record=record(session), records=first
    )
    monkeypatch.setattr(settlements, "_already_imported", lambda *args: None)  # checked too early
    with pytest.raises(Conflict, match="刚被另一批次导入"):
        settlements.import_settlements(
            session,
            quzhou,
            year=2025,
            actor="b",
            cover=enrolled,
            record=record(session),
            records=[{**first[0], "settlement_no": "M-2"}, *first],
        )
    assert count(session, Claim) == 1 and count(session, SettlementBatch) == 1
