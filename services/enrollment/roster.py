"""Reading a unit's member roster (参保职工名册) from an uploaded workbook, and checking every row.

The city's RosterFormat says which sheet to look in and what the columns are called; the
header row is found by those titles (blanks ignored, so 身 份 证 号 码 matches 身份证号码),
never by position, so merged title rows and 填表日期 lines above it are skipped wherever they
are. Each row is checked by the rules every city shares (POLICIES.md): the resident ID
(an ID stored as a number has lost its last digits and is refused, never guessed; full-width
digits are normalised with a warning), the name, the sex against the ID, the mobile number,
the same person twice in the file, and a person already enrolled by another unit. A file
with any error imports nothing: ``members`` is empty and ``errors`` says, by the row number
Excel shows and the column's title, what to correct.

One pass over calamine's rows, one row at a time, looking only at the format's columns;
what a row costs beyond that is the kernel's ID and phone checks.
"""

from __future__ import annotations

import functools
import itertools
import os
import re
import unicodedata
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from types import MappingProxyType
from typing import NamedTuple

from python_calamine import CalamineError, CalamineSheet, CalamineWorkbook

from services.enrollment.workbook import RosterUnreadable, open_workbook
from services.kernel.clock import SYSTEM
from services.kernel.collector import collector_paused
from services.kernel.idcard import SEX_OF_DIGIT, parse_id, quick_id
from services.kernel.phone import NORMAL_MOBILE, parse_mobile
from services.kernel.policy import RosterFormat

__all__ = ["FoundColumn", "Issue", "Member", "RosterResult", "RosterUnreadable", "read_roster"]

HEADER_SEARCH_ROWS = 20  # the header is looked for among this many rows at the top of a sheet
PROGRESS_EVERY = 5000  # rows between two progress calls


class Enrolled(NamedTuple):
    """Where a person on the file is already enrolled this city-year: the unit's name,
    whether the reader may be told it (issue 9: a clerk learns only "another unit"; their
    own roster they may), and whether it is this very roster (adding joiners)."""

    unit: str
    named: bool = True
    own: bool = False


# {id_number: Enrolled}; a plain name stands for Enrolled(name, named=bool(name))
EnrolledElsewhere = Callable[[set[str]], Mapping[str, "Enrolled | str"]]
Progress = Callable[[int, int], None]

_BLANKS = re.compile(r"\s+")
_HAN = re.compile(r"[\u3400-\u9fff]")
_DIGIT = re.compile(r"\d")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # NUL, …: PostgreSQL refuses NUL in text
_SEX = {"男": "male", "男性": "male", "女": "female", "女性": "female"}
_SEX_LABEL = {"male": "男", "female": "女"}
_LOSSY = 1e15  # a number this large held more digits than a spreadsheet keeps (15)
_CORE = ("seq", "name", "sex", "id_number", "phone")
_NO_FIELDS: Mapping[str, str] = MappingProxyType({})  # shared by members with no other columns


@dataclass(frozen=True)
class Issue:
    """One problem with one cell: ``row`` as Excel numbers it, ``column`` the header's title."""

    row: int
    column: str
    reason: str
    col: int = 0  # Excel column number (1 = A), for highlighting the cell in the report
    sheet: str | None = None  # set only for a sheet other than the roster's (Sheet1, 申请表)
    # a person another unit enrolled: that unit's name, for a reviewer's eyes only (the
    # reason a clerk reads may not name it; to_dict leaves it out)
    other_unit: str | None = field(default=None, compare=False)

    def to_dict(self) -> dict:
        found = {"row": self.row, "column": self.column, "reason": self.reason}
        if self.sheet is not None:
            found["sheet"] = self.sheet
        return found


class Member(NamedTuple):
    """A roster row that passed every check, normalised. A named tuple: a 100 000-row roster
    makes 100 000 of them, and a frozen dataclass's __init__ cost as much as checking the ID."""

    excel_row: int
    name: str
    id_number: str
    sex: str  # "male" | "female", from the ID number
    birth_date: date  # from the ID number, so storing the member need not read it again
    phone: str | None
    fields: Mapping[str, str] = MappingProxyType({})  # the format's other columns, filled


@dataclass(frozen=True)
class FoundColumn:
    field: str
    title: str  # as the file spells it, blanks removed
    col: int  # Excel column number (1 = A)


@dataclass(frozen=True)
class RosterResult:
    sheet: str
    header_row: int  # Excel row number of the header
    columns: tuple[FoundColumn, ...]
    rows: int  # member rows read (blank rows and rows with only 序号 not counted)
    members: tuple[Member, ...]  # empty whenever there is an error: nothing is imported
    errors: tuple[Issue, ...]
    warnings: tuple[Issue, ...]

    @property
    def importable(self) -> bool:
        return not self.errors

    def to_dict(self) -> dict:
        return {
            "sheet": self.sheet,
            "header_row": self.header_row,
            "rows": self.rows,
            "importable": self.importable,
            "errors": [i.to_dict() for i in self.errors],
            "warnings": [i.to_dict() for i in self.warnings],
        }


def read_roster(
    source: bytes | str | os.PathLike | CalamineWorkbook,
    filename: str | None,
    fmt: RosterFormat,
    enrolled_elsewhere: EnrolledElsewhere | None = None,
    progress: Progress | None = None,
    today: date | None = None,
) -> RosterResult:
    """Read and check the roster in ``source`` (the file's bytes, a path, or the workbook
    already opened by ``open_workbook``, so Sheet1 can be read from the same opening).

    ``enrolled_elsewhere`` is asked once, with every valid ID number in the file, and answers
    ``{id_number: other unit's name}`` for the people another unit already enrolled this
    city-year. ``progress(rows_read, rows_in_sheet)`` is called every PROGRESS_EVERY rows and
    at the end (a long import's progress bar). ``today`` (kernel/clock.py; default: the real
    day in Asia/Shanghai) is the day a birth date must not be after. Raises RosterUnreadable
    when the file cannot be read as a roster at all.
    """
    if isinstance(source, CalamineWorkbook):
        book, filename = source, filename or "名册"
    else:
        data, filename = load_source(source, filename)
        book = open_workbook(data, filename)
    sheet, rows, header, height = _find_roster(book, fmt, filename)
    if progress is not None:
        rows = _reporting(rows, height, progress)
    try:
        with collector_paused():  # a Member kept per row, no cycles made (kernel/collector.py)
            return _check_rows(
                rows, header, sheet, fmt, enrolled_elsewhere, filename, today or SYSTEM.today()
            )
    except CalamineError:
        raise RosterUnreadable(
            f"{filename}：工作表「{sheet}」已损坏，无法读取；请重新保存后再上传"
        ) from None


def _reporting(rows, total: int, progress: Progress):
    done = 0
    for row in rows:
        yield row
        done += 1
        if done % PROGRESS_EVERY == 0:
            progress(done, total)
    progress(total, total)


def sheet_rows(sheet: CalamineSheet) -> Iterator[tuple[int, int, list]]:
    """``(excel_row, first_excel_col, cells)`` for every row from row 1, one row at a time.

    python-calamine's ``iter_rows`` yields the empty rows above the used range (so the index
    is the Excel row) but starts each row at the used range's first column, which ``start``
    gives; an empty sheet has no ``start`` and no rows.
    """
    start = sheet.start
    if start is None:
        return iter(())
    # zip of C iterators: no Python frame per row (a 100 000-row roster's check counts them)
    return zip(itertools.count(1), itertools.repeat(start[1] + 1), sheet.iter_rows())


def normalise_title(value: object) -> str:
    """A header cell as compared with the format's titles: NFKC, no blanks, no * marks."""
    if not isinstance(value, str):
        return ""
    return _BLANKS.sub("", unicodedata.normalize("NFKC", value)).strip("*")


def load_source(source: bytes | str | os.PathLike, filename: str | None) -> tuple[bytes, str]:
    """The upload's bytes and the name to call it by in messages."""
    if isinstance(source, bytes | bytearray | memoryview):
        return bytes(source), filename or "名册"
    path = Path(source)
    try:
        return path.read_bytes(), filename or path.name
    except OSError as exc:
        raise RosterUnreadable(f"{filename or path.name}：无法读取文件（{exc.strerror}）") from None


# -- finding the sheet and its header ---------------------------------------------------------


@dataclass
class _Header:
    excel_row: int
    first_col: int
    found: dict[str, tuple[int, str]]  # field -> (index in the row's cells, normalised title)

    def columns(self) -> tuple[FoundColumn, ...]:
        found = (FoundColumn(f, t, self.first_col + i) for f, (i, t) in self.found.items())
        return tuple(sorted(found, key=lambda c: c.col))


def _find_roster(book: CalamineWorkbook, fmt: RosterFormat, filename: str):
    """The roster's sheet name, its remaining rows and its header; else RosterUnreadable."""
    wanted = normalise_title(fmt.sheet).casefold()
    names = list(book.sheet_names)
    named = [n for n in names if normalise_title(n).casefold() == wanted]
    lookup = {normalise_title(t): c.field for c in fmt.columns for t in c.titles}
    must = _required(fmt)
    required = [c for c in fmt.columns if c.field in must]
    best: tuple[str, _Header] | None = None
    for name in named + [n for n in names if n not in named]:
        try:
            found = book.get_sheet_by_name(name)
            rows = sheet_rows(found)
            header, closest = _find_header(rows, lookup, required)
        except CalamineError:
            raise RosterUnreadable(
                f"{filename}：工作表「{name}」已损坏，无法读取；请重新保存后再上传"
            ) from None
        if header is not None:
            return name, rows, header, found.total_height
        if closest is not None and (best is None or len(closest.found) > len(best[1].found)):
            best = (name, closest)
    looked_for = "、".join(c.titles[0] for c in fmt.columns)
    musts = "、".join(c.titles[0] for c in required)
    shown = "、".join(f"「{n}」" for n in names) or "没有工作表"
    if best is not None and best[1].found:
        name, header = best
        missing = "、".join(c.titles[0] for c in required if c.field not in header.found)
        raise RosterUnreadable(
            f"{filename}：工作表「{name}」第{header.excel_row}行像是名册表头，但缺少必需的列：{missing}"
            f"（表头应有：{looked_for}）"
        )
    if named:
        raise RosterUnreadable(
            f"{filename}：工作表「{named[0]}」的前{HEADER_SEARCH_ROWS}行里没有找到名册表头"
            f"（查找的列名：{looked_for}；其中 {musts} 必须有）"
        )
    raise RosterUnreadable(
        f"{filename}：没有名为「{fmt.sheet}」的名册工作表，其他工作表里也没有名册表头"
        f"（{looked_for}）；文件中的工作表：{shown}"
    )


def _find_header(rows, lookup, required):
    """The first of the top rows naming every required column, and the closest miss."""
    closest: _Header | None = None
    for excel_row, first_col, cells in rows:
        found: dict[str, tuple[int, str]] = {}
        for index, cell in enumerate(cells):
            title = normalise_title(cell)
            column = lookup.get(title) if title else None
            if column is not None and column not in found:
                found[column] = (index, title)
        header = _Header(excel_row, first_col, found)
        if found and all(c.field in found for c in required):
            return header, None
        if len(found) >= 2 and (closest is None or len(found) > len(closest.found)):
            closest = header
        if excel_row >= HEADER_SEARCH_ROWS:
            break
    return None, closest


# -- checking the rows -------------------------------------------------------------------------


def _check_rows(
    rows, header: _Header, sheet, fmt, enrolled_elsewhere, filename, today: date
) -> RosterResult:
    header_row, columns = header.excel_row, header.columns()
    by_field = {c.field: c for c in columns}
    required = [by_field[f] for f in _required(fmt) if f in by_field]
    # (field, index in the row's cells); 序号 alone does not make a row a member
    picks = [(f, index) for f, (index, _title) in header.found.items() if f != "seq"]
    extras = [c for c in columns if c.field not in _CORE]
    id_column = by_field["id_number"]
    errors: list[Issue] = []
    warnings: list[Issue] = []
    members: list[Member] = []
    first_seen: dict[str, int] = {}  # ID number -> the row it first appears on
    count = 0
    # The fast path: a row whose cells are already in their normal form and pass every check
    # is taken as it is, without a dict, an Issue list or an IdCheck; any other row (a blank,
    # a number, a full-width digit, an error of any kind) goes through the full diagnosis
    # below, which gives it its exact messages. Same answers, a third of the time (issue 14).
    at = {f: index for f, index in picks}
    i_name, i_id = at["name"], at["id_number"]
    i_sex, i_phone = at.get("sex"), at.get("phone")
    musts = {c.field for c in required}
    sex_optional, phone_optional = "sex" not in musts, "phone" not in musts
    extra_at = [(c.field, at[c.field], c.field not in musts) for c in extras]
    plain_name = _plain_name()
    normal_mobile = NORMAL_MOBILE.match
    sexes = _SEX
    # Member's own __new__ is a Python function taking the fields one by one: a third of
    # what a kept row cost beyond its checks; tuple.__new__ makes the same Member in C
    make, keep = tuple.__new__, members.append

    for excel_row, _first_col, cells in rows:
        try:  # anything not in its normal form raises (a number's TypeError, a short row's
            # IndexError, _Diagnose) and goes to the full diagnosis below
            ident = cells[i_id]
            person = cells[i_name]
            if plain_name(person) is None or (born := quick_id(ident, today)) is None:
                raise _Diagnose
            sex = SEX_OF_DIGIT[ident[16]]
            if i_sex is not None:
                given = cells[i_sex]
                if sexes.get(given) != sex and (given != "" or not sex_optional):
                    raise _Diagnose
            phone = None
            if i_phone is not None:
                given = cells[i_phone]
                if given == "":
                    if not phone_optional:
                        raise _Diagnose
                elif normal_mobile(given) is None:
                    raise _Diagnose
                else:
                    phone = given
            other = _NO_FIELDS  # a dict only for a row with another column filled
            for name, index, optional in extra_at:
                given = cells[index]
                if given == "":
                    if not optional:
                        raise _Diagnose
                elif given.isspace():
                    raise _Diagnose
                else:
                    if other is _NO_FIELDS:
                        other = {}
                    other[name] = given.strip()
            if first_seen.setdefault(ident, excel_row) != excel_row:
                raise _Diagnose
            count += 1
            if not errors:
                keep(make(Member, (excel_row, person, ident, sex, born, phone, other)))
            continue
        except (_Diagnose, TypeError, IndexError, AttributeError):
            pass
        width = len(cells)
        values = {}
        for name, index in picks:
            if index < width:
                value = cells[index]
                if value != "" and not (value.__class__ is str and value.isspace()):
                    values[name] = value
        if not values:
            continue  # a blank row, or only 序号 filled (the template numbers its rows)
        count += 1
        found: list[Issue] = []

        for column in required:
            if column.field not in values:
                found.append(Issue(excel_row, column.title, f"{column.title}为空", column.col))

        person = _name(values.get("name"))
        if isinstance(person, _Refusal):
            column = by_field["name"]
            found.append(Issue(excel_row, column.title, person.reason, column.col))

        check = parse_id(values["id_number"], today=today) if "id_number" in values else None
        if check is not None:
            for reason in check.reasons:
                found.append(Issue(excel_row, id_column.title, reason, id_column.col))
            for note in check.warnings:
                warnings.append(Issue(excel_row, id_column.title, note, id_column.col))
            if check.valid:
                earlier = first_seen.setdefault(check.number, excel_row)
                if earlier != excel_row:
                    reason = f"身份证号码与第{earlier}行重复，同一人只能填写一次"
                    found.append(Issue(excel_row, id_column.title, reason, id_column.col))

        if "sex" in values:
            column = by_field["sex"]
            raw = values["sex"]
            # a plain 男/女 needs no normalising; anything else is compared as a title would be
            sex = _SEX.get(raw) or _SEX.get(normalise_title(str(raw)))
            if sex is None:
                reason = f"性别应填“男”或“女”，填写的是“{raw}”"
                found.append(Issue(excel_row, column.title, reason, column.col))
            elif check is not None and check.valid and sex != check.sex:
                reason = (
                    f"性别填的是“{_SEX_LABEL[sex]}”，"
                    f"但身份证号码第17位表明是“{_SEX_LABEL[check.sex]}”"
                )
                found.append(Issue(excel_row, column.title, reason, column.col))

        phone = None
        if "phone" in values:
            column = by_field["phone"]
            mobile = parse_mobile(values["phone"])
            if mobile.valid:
                phone = mobile.number
            else:
                found.append(
                    Issue(excel_row, column.title, mobile.reason or "手机号码无效", column.col)
                )
            if mobile.warning:
                warnings.append(Issue(excel_row, column.title, mobile.warning, column.col))

        other: dict[str, str] = {}
        for column in extras:
            if column.field in values:
                text = _text(values[column.field])
                if isinstance(text, _Refusal):
                    reason = f"{column.title}{text.reason}"
                    found.append(Issue(excel_row, column.title, reason, column.col))
                else:
                    other[column.field] = text

        if found:
            errors.extend(found)
        elif not errors:  # after the first error nothing will be imported: stop keeping rows
            members.append(
                Member(
                    excel_row,
                    person,
                    check.number,
                    check.sex,
                    check.birth_date,
                    phone,
                    other or _NO_FIELDS,
                )
            )

    if count == 0:
        raise RosterUnreadable(
            f"{filename}：工作表「{sheet}」第{header_row}行是名册表头，但下面没有任何职工；"
            "请填写名册后再上传"
        )
    if enrolled_elsewhere is not None and first_seen:
        taken = enrolled_elsewhere(set(first_seen))
        for number, found in taken.items():
            row = first_seen.get(number)
            if row is not None:
                found = Enrolled(found, bool(found)) if isinstance(found, str) else found
                where = f"已由「{found.unit}」" if found.named else "已在其他单位"
                reason = f"此人{where}报名参保，同一人同一年度只能参保一次"
                other = None if found.own else found.unit or None
                errors.append(Issue(row, id_column.title, reason, id_column.col, other_unit=other))
    errors.sort(key=lambda i: (i.row, i.col))
    return RosterResult(
        sheet=sheet,
        header_row=header_row,
        columns=columns,
        rows=count,
        members=() if errors else tuple(members),
        errors=tuple(errors),
        warnings=tuple(warnings),
    )


def _required(fmt: RosterFormat) -> list[str]:
    """The fields a row cannot do without: the format's required ones, and always name and ID."""
    fields = [c.field for c in fmt.columns if c.required]
    return fields + [f for f in ("name", "id_number") if f not in fields]


class _Diagnose(Exception):
    """A row the fast path does not take as it is: the full diagnosis reads it."""


@dataclass(frozen=True)
class _Refusal:
    reason: str


def _name(value: object) -> str | _Refusal | None:
    if value is None:
        return None
    if not isinstance(value, str):
        return _Refusal(f"姓名应是文字，填写的是 {value}")
    name = unicodedata.normalize("NFKC", value).strip()
    if _BLANKS.search(name):
        # Two-character names are padded to line up (张  三): no blanks inside a Chinese name.
        name = _BLANKS.sub("" if _HAN.search(name) else " ", name)
    if _DIGIT.search(name):
        return _Refusal(f"姓名中不应有数字：{name}")
    if len(name) > _name_length():
        return _Refusal(f"姓名最多 {_name_length()} 个字，填写了 {len(name)} 个")
    if _CONTROL.search(name):
        return _Refusal("姓名中含有不可见的控制字符，请重新录入")
    return name


@functools.cache
def _plain_name() -> Callable[[str], re.Match | None]:
    """Matches a name the full check would take unchanged: Han characters only (NFKC leaves
    them as they are; no blanks, digits or controls), no longer than a name may be."""
    return re.compile(f"[\u3400-\u9fff]{{1,{_name_length()}}}\\Z").match


@functools.cache
def _name_length() -> int:
    """The longest name a roster line and a member can hold, as their columns say (imported
    here, when the first name is checked, so the CLI's start does not pay for SQLAlchemy)."""
    from services.enrollment.models import Member, RosterLine
    from services.kernel.schemas import length_of

    return min(length_of(RosterLine.name), length_of(Member.name))


def _text(value: object) -> str | _Refusal:
    """A non-ID cell as text; a long number that lost digits to the spreadsheet is refused."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, int | float):
        if abs(value) >= _LOSSY:
            return _Refusal("被存成了数字，第15位以后的数字已丢失；请把该列设为文本后重新录入")
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return str(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return str(value)
