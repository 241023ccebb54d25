"""Resident identity numbers (居民身份证号码), GB 11643-1999.

18 characters: 6 region digits, 8 birth-date digits, 3 sequence digits (odd = male,
even = female) and an ISO 7064 MOD 11-2 check character (0-9 or X). Every refusal carries
a reason a clerk can act on; full-width characters and a lower-case x are normalised, the
first with a warning (POLICIES.md, "Rules every city shares").
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from services.kernel.clock import SYSTEM

_CHECK = "10X98765432"
# Province-level codes of GB/T 2260 (83 is used by residence permits for Taiwan residents).
_PROVINCES = frozenset(
    "11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 "
    "50 51 52 53 54 61 62 63 64 65 71 81 82 83".split()
)
_SHAPE = re.compile(r"^\d{17}[\dX]$")
_LAST = frozenset("0123456789X")
# the sex the 17th character (the sequence's last digit) says: odd male, even female
SEX_OF_DIGIT = {d: "male" if int(d) % 2 else "female" for d in "0123456789"}
_EARLIEST_BIRTH = date(1900, 1, 1)
# Birth dates seen by quick_id, by their 8 digits: only dates from _EARLIEST_BIRTH to a day
# already lived are kept, so it holds at most one entry per day since 1900 (~46 000). A
# roster's people share birthdays (100 000 rows, ~18 000 dates): parsing each once was a
# fifth of what checking a row's ID costs.
_BIRTHS: dict[str, date] = {}


@dataclass(frozen=True)
class IdCheck:
    """The outcome of reading one ID number."""

    raw: str
    number: str  # normalised (half-width, upper-case X, no blanks)
    valid: bool
    reasons: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    birth_date: date | None = None
    sex: str | None = None  # "male" | "female"

    @property
    def sex_label(self) -> str | None:
        return {"male": "男", "female": "女"}.get(self.sex or "")

    def age_on(self, day: date) -> int:
        """Whole years of age on ``day`` (the claim form's 年龄 is derived this way)."""
        if self.birth_date is None:
            raise ValueError("无效身份证号码没有出生日期")
        born = self.birth_date
        return day.year - born.year - ((day.month, day.day) < (born.month, born.day))

    def to_dict(self) -> dict:
        return {
            "number": self.number,
            "valid": self.valid,
            "reasons": list(self.reasons),
            "warnings": list(self.warnings),
            "birth_date": self.birth_date.isoformat() if self.birth_date else None,
            "sex": self.sex,
        }


def check_digit(first17: str) -> str:
    """The MOD 11-2 check character for the first 17 digits.

    GB 11643 weights digit i (from 0) by 2**(17 - i) mod 11: 7, 9, 10, 5, 8, 4, 2, 1, 6, 3, …
    Read as a base-13 number the digits are weighted 13**(16 - i), and 13 = 2 (mod 11), so
    twice that number is the weighted sum mod 11: one C call instead of 17 multiplications
    in Python (which were a third of what checking a 100 000-row roster's IDs cost).
    """
    if len(first17) != 17 or not first17.isdigit():
        raise ValueError(f"需要17位数字，得到的是 {first17!r}")
    return _CHECK[2 * int(first17, 13) % 11]


def quick_id(text: str, today: date) -> date | None:
    """The birth date when ``text`` is an ID number in its normal form (18 ASCII characters,
    an upper-case X) that passes every check of parse_id; otherwise None, and parse_id says
    why. The roster's fast path: nearly every cell is such a number, and a whole check costs
    less than building an IdCheck."""
    if (
        len(text) == 18
        and text.isascii()  # ASCII digits only: nothing for NFKC to change
        and (first17 := text[:17]).isdigit()
        and text[17] in _LAST
        and text[:2] in _PROVINCES
        and _CHECK[2 * int(first17, 13) % 11] == text[17]
    ):
        digits = text[6:14]
        born = _BIRTHS.get(digits)
        if born is None:
            born = _birth_date(digits)
            if born is None or not _EARLIEST_BIRTH <= born <= today:
                return None
            _BIRTHS[digits] = born
        elif born > today:  # kept for a later day than this caller's (a pinned clock)
            return None
        return born
    return None


def parse_id(value: object, *, today: date | None = None) -> IdCheck:
    """Check one ID number; never raises for bad input, the reasons say what is wrong.

    A birth date after ``today`` is refused; without it, after the real day in Asia/Shanghai
    (kernel/clock.py). Callers holding a pinned clock pass its day.
    """
    if isinstance(value, bool) or isinstance(value, int | float):
        # Excel stores a typed-in ID as a number: digits past the 15th are already gone.
        return IdCheck(
            raw=str(value),
            number=str(value),
            valid=False,
            reasons=("身份证号码被存成了数字，第15位以后的数字已丢失；请把该列设为文本后重新录入",),
        )
    raw = "" if value is None else str(value)
    if value.__class__ is str:
        born = quick_id(raw, today or SYSTEM.today())
        if born is not None:
            sex = SEX_OF_DIGIT[raw[16]]
            return IdCheck(raw=raw, number=raw, valid=True, birth_date=born, sex=sex)
    warnings: list[str] = []
    if raw.isascii() and raw.isalnum():
        # Nearly every cell: ASCII is unchanged by NFKC and holds no blanks, so only the case
        # can differ (a lower-case x); the slow path below would give the same text.
        text = raw.upper()
    else:
        text = unicodedata.normalize("NFKC", raw)
        if text != raw:
            warnings.append("身份证号码含全角字符，已转换为半角")
        text = re.sub(r"\s+", "", text).upper()
    if not text:
        return IdCheck(raw=raw, number=text, valid=False, reasons=("身份证号码为空",))
    if len(text) == 15 and text.isdigit():
        return _refuse(raw, text, warnings, "这是15位的一代身份证号码，请填写18位号码")
    if len(text) != 18:
        return _refuse(raw, text, warnings, f"身份证号码应为18位，实际为{len(text)}位")
    if not _SHAPE.match(text):
        return _refuse(raw, text, warnings, "身份证号码前17位须为数字，末位为数字或X")
    reasons: list[str] = []
    if text[:2] not in _PROVINCES:
        reasons.append(f"地区码 {text[:6]} 不是有效的省级行政区划代码")
    born = _birth_date(text[6:14])
    if born is None:
        reasons.append(f"出生日期 {text[6:14]} 不是有效日期")
    elif born < _EARLIEST_BIRTH or born > (today or SYSTEM.today()):
        reasons.append(f"出生日期 {born.isoformat()} 不合理")
    expected = check_digit(text[:17])
    if text[17] != expected:
        reasons.append(f"校验码错误：末位应为 {expected}，填写的是 {text[17]}")
    sex = "male" if int(text[16]) % 2 else "female"
    return IdCheck(
        raw=raw,
        number=text,
        valid=not reasons,
        reasons=tuple(reasons),
        warnings=tuple(warnings),
        birth_date=born,
        sex=sex,
    )


@lru_cache(maxsize=1 << 16)  # a roster repeats birthdays; bounded, as the input is anyone's
def _birth_date(digits: str) -> date | None:
    try:
        return date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        return None


def _refuse(raw: str, text: str, warnings: list[str], reason: str) -> IdCheck:
    return IdCheck(raw=raw, number=text, valid=False, reasons=(reason,), warnings=tuple(warnings))
