"""Scheme periods (期 / 年度): one calendar year of cover, with its enrolment window."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class SchemePeriod:
    year: int
    number: int | None  # the notice's 期号 (Quzhou 12, Zhangjiakou 17), when it has one
    cover_start: date
    cover_end: date
    window_start: date | None  # enrolment/payment window; None = from the notice's issue
    window_end: date

    def covers(self, day: date) -> bool:
        return self.cover_start <= day <= self.cover_end

    def window_open(self, day: date) -> bool:
        if self.window_start is not None and day < self.window_start:
            return False
        return day <= self.window_end

    def to_dict(self) -> dict:
        return {
            "year": self.year,
            "number": self.number,
            "cover": [self.cover_start.isoformat(), self.cover_end.isoformat()],
            "window": [
                self.window_start.isoformat() if self.window_start else None,
                self.window_end.isoformat(),
            ],
        }
