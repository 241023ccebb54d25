"""``mutual-aid city new-year``: next scheme year's data file from the last one.

Every date moves a year; every number, date and the notice's title is tagged ``!unconfirmed``
("check against the new notice") until an operator confirms it by deleting the tag; the
loader reads through the tag (services/kernel/parameters.py) and ``city check`` lists each
one left. The file is rewritten as text, line by line, so its comments — the notice's
articles beside each value — survive; the cases of the old year come along with their dates
and rule ids moved, so a number changed for the new notice shows up as a failing case.
Old years stay as they are: a claim for a stay in the old year is still assessed under the
old year's file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from services.kernel.parameters import UNCONFIRMED
from services.onboarding.scaffold import ScaffoldError

DATE = re.compile(r"(?<![\w-])(\d{4})-(\d{2})-(\d{2})(?![\w-])")
QUOTED_NUMBER = re.compile(r'(?<![!\w"])"(-?\d+(?:\.\d+)?)"')
KEY_INT = re.compile(r"(?<=[{,\s])([A-Za-z_]+): (-?\d+)(?=\s*[,}]|\s*$)")
TOP_SOURCE = re.compile(r"^source: (?!!)(.+)$")
NOT_MARKED = {"year"}  # the file's own year is set, not copied


@dataclass(frozen=True)
class NewYear:
    data: Path
    cases: Path | None
    marked: int

    def to_dict(self) -> dict:
        return {
            "data": str(self.data),
            "cases": None if self.cases is None else str(self.cases),
            "unconfirmed": self.marked,
            "next": "check each !unconfirmed value against the new notice, delete the tag, "
            "then run `mutual-aid city check`",
        }


def shift(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def _shift_dates(text: str, years: int, mark: bool) -> str:
    def moved(m: re.Match) -> str:
        day = shift(date(int(m[1]), int(m[2]), int(m[3])), years)
        return f"{UNCONFIRMED} {day.isoformat()}" if mark else day.isoformat()

    return DATE.sub(moved, text)


def _split_comment(line: str) -> tuple[str, str]:
    """The value part and the comment (`  # …`) of a line; `#` inside quotes is text."""
    quoted = None
    for i, ch in enumerate(line):
        if ch in "\"'" and quoted in (None, ch):
            quoted = None if quoted else ch
        elif ch == "#" and quoted is None and (i == 0 or line[i - 1] in " \t"):
            return line[:i], line[i:]
    return line, ""


def next_year_text(text: str, previous: int, year: int) -> tuple[str, int]:
    """The new year's file and how many values it tags."""
    years = year - previous
    out, marked = [], 0
    for line in text.split("\n"):
        value, comment = _split_comment(line)
        if re.match(rf"^year: {previous}\s*$", value):
            out.append(f"year: {year}{comment and ' ' + comment.strip()}")
            continue
        before = value.count(UNCONFIRMED)
        value = _shift_dates(value, years, mark=True)
        value = QUOTED_NUMBER.sub(lambda m: f'{UNCONFIRMED} "{m[1]}"', value)
        value = KEY_INT.sub(
            lambda m: m[0] if m[1] in NOT_MARKED else f"{m[1]}: {UNCONFIRMED} {_next(m)}", value
        )
        value = TOP_SOURCE.sub(lambda m: f"source: {UNCONFIRMED} {m[1].rstrip()}", value)
        marked += value.count(UNCONFIRMED) - before
        out.append(value + comment)
    return "\n".join(out), marked


def _next(m: re.Match) -> str:
    # the notice's period number (期号) goes up with the year; every other number is copied
    return str(int(m[2]) + 1) if m[1] == "number" else m[2]


def next_year_cases(text: str, code: str, previous: int, year: int) -> str:
    """Last year's cases with their dates, rule ids and years moved (not tagged: a case is
    a claim, and it should keep passing while the numbers are unchanged)."""
    years = year - previous
    text = _shift_dates(text, years, mark=False)
    text = re.sub(
        rf"\b{re.escape(code)}\.(\d{{4}})\.",
        lambda m: f"{code}.{int(m[1]) + years}.",
        text,
    )
    text = re.sub(r"\byear: (\d{4})\b", lambda m: f"year: {int(m[1]) + years}", text)
    text = re.sub(r"(?<!\d)(\d{4})( ?年)", lambda m: f"{int(m[1]) + years}{m[2]}", text)
    return re.sub(r"/data/(\d{4})\.yaml", lambda m: f"/data/{int(m[1]) + years}.yaml", text)


def new_year(
    code: str, data_dir: Path, year: int, previous: int | None = None, cases_dir: Path | None = None
) -> NewYear:
    """Write ``data/<year>.yaml`` (and ``cases/<year>.yaml``) from the previous year's."""
    data_dir = Path(data_dir)
    known = sorted(int(p.stem) for p in data_dir.glob("*.yaml") if re.fullmatch(r"\d{4}", p.stem))
    if previous is None:
        earlier = [y for y in known if y < year]
        if not earlier:
            raise ScaffoldError(f"{code}: no year before {year} to start from (has {known})")
        previous = earlier[-1]
    if previous not in known:
        raise ScaffoldError(f"{code}: no {previous}.yaml in {data_dir} (has {known})")
    target = data_dir / f"{year}.yaml"
    if target.exists():
        raise ScaffoldError(f"{target} already exists")
    text, marked = next_year_text(
        (data_dir / f"{previous}.yaml").read_text(encoding="utf-8"), previous, year
    )
    target.write_text(text, encoding="utf-8")
    written_cases = None
    if cases_dir is not None and (cases_dir / f"{previous}.yaml").exists():
        written_cases = cases_dir / f"{year}.yaml"
        if not written_cases.exists():
            old = (cases_dir / f"{previous}.yaml").read_text(encoding="utf-8")
            written_cases.write_text(next_year_cases(old, code, previous, year), encoding="utf-8")
    return NewYear(target, written_cases, marked)
