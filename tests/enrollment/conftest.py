"""Fixtures for the roster tests: Zhangjiakou's policy and template, and the done-when rosters."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import openpyxl
import pytest

from services.enrollment.template import HEADER_ROW, write_template
from services.kernel.policy import RosterFormat
from services.kernel.registry import load_registry
from tests.enrollment.samples import Person, bad_check_digit, person


@pytest.fixture(scope="session")
def zhangjiakou():
    return load_registry().get("zhangjiakou")


@pytest.fixture(scope="session")
def zjk_format(zhangjiakou) -> RosterFormat:
    return zhangjiakou.roster_format(2024)


# -- rosters from our template --------------------------------------------------------------------


class TemplateRoster:
    """Zhangjiakou's template filled with people; ``put`` overrides single cells."""

    def __init__(self, policy, path: Path):
        self.policy = policy
        self.path = write_template(policy, 2024, path)
        self.fmt = policy.roster_format(2024)
        self.col = {c.field: i for i, c in enumerate(self.fmt.columns, start=1)}

    def row_of(self, index: int) -> int:
        """The Excel row of the index-th person (0-based)."""
        return HEADER_ROW + 1 + index

    def build(
        self, people: list[Person], put: dict[tuple[int, str], object] | None = None
    ) -> bytes:
        book = openpyxl.load_workbook(self.path)
        sheet = book[self.fmt.sheet]
        for i, p in enumerate(people):
            row = self.row_of(i)
            sheet.cell(row, self.col["name"], p.name)
            sheet.cell(row, self.col["sex"], p.sex)
            sheet.cell(row, self.col["id_number"], p.id_number)
            sheet.cell(row, self.col["phone"], p.phone)
        for (row, field), value in (put or {}).items():
            sheet.cell(row, self.col[field]).value = value
        out = io.BytesIO()
        book.save(out)
        return out.getvalue()


@pytest.fixture(scope="session")
def template_roster(zhangjiakou, tmp_path_factory) -> TemplateRoster:
    return TemplateRoster(zhangjiakou, tmp_path_factory.mktemp("template") / "张家口市2024.xlsx")


@pytest.fixture(scope="session")
def five_hundred() -> list[Person]:
    return [person(i) for i in range(500)]


@dataclass(frozen=True)
class FaultyRoster:
    """The done-when roster: 500 rows with one fault each in four of them."""

    data: bytes
    numeric_row: int
    check_digit_row: int
    duplicate_row: int
    duplicate_of: int
    enrolled_row: int
    enrolled_id: str


@pytest.fixture(scope="session")
def faulty_roster(template_roster, five_hundred) -> FaultyRoster:
    people = list(five_hundred)
    numeric, check, duplicate, original, enrolled = 10, 120, 333, 7, 480
    people[check] = Person(
        people[check].name,
        people[check].sex,
        bad_check_digit(people[check].id_number),
        "13900000000",
    )
    people[duplicate] = Person(
        "重复人", people[original].sex, people[original].id_number, "13911112222"
    )
    row = template_roster.row_of
    # Excel shows a typed-in ID as 1.10102E+17: a number, its last digits gone
    put = {(row(numeric), "id_number"): int(people[numeric].id_number[:15] + "000")}
    data = template_roster.build(people, put)
    return FaultyRoster(
        data,
        numeric_row=row(numeric),
        check_digit_row=row(check),
        duplicate_row=row(duplicate),
        duplicate_of=row(original),
        enrolled_row=row(enrolled),
        enrolled_id=people[enrolled].id_number,
    )
