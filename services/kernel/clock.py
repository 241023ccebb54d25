"""The one clock: what day and time it is in Asia/Shanghai, where the schemes count their days.

Enrolment windows, claim deadlines, ages and "born after today" all turn on a date, and a
date depends on the zone: at 23:30 UTC it is already the next morning in Shanghai, so the
host's zone (often UTC on a server) is never asked. Domain code takes ``today`` as an
argument; the edges make it here: the nameko ``Clock`` provider (config key FIXED_TODAY)
and the CLI (``mutual-aid --today YYYY-MM-DD …``).

A pinned day (a rehearsal of next year's window, a test) fixes the dates the rules see,
not the timestamps recorded on state changes: an audit trail says when something really
happened, so ``now()`` stays the real instant.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache

_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


@cache
def shanghai():
    """The Asia/Shanghai zone, made when first asked: a command that never asks the time does
    not import zoneinfo (issue 14, CLI start). ``SHANGHAI`` answers it too."""
    from zoneinfo import ZoneInfo

    return ZoneInfo("Asia/Shanghai")


def __getattr__(name: str):
    if name == "SHANGHAI":
        return shanghai()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _real_instant() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Clock:
    """``today()`` and ``now()`` in Asia/Shanghai; ``pinned`` fixes today's date.

    ``instant`` answers the current moment as an aware datetime (the real one unless a test
    gives another).
    """

    pinned: date | None = None
    instant: Callable[[], datetime] = _real_instant

    def now(self) -> datetime:
        return self.instant().astimezone(shanghai())

    def today(self) -> date:
        return self.pinned or self.now().date()


SYSTEM = Clock()  # the real clock, unpinned


def parse_day(text: object) -> date:
    """A pinned day as written in a config or on the command line (YYYY-MM-DD)."""
    if isinstance(text, date) and not isinstance(text, datetime):
        return text  # YAML reads an unquoted 2024-11-01 as a date already
    written = str(text).strip()
    try:
        if _DAY.fullmatch(written):
            return date.fromisoformat(written)
    except ValueError:
        pass  # 2024-02-30: the right shape, not a day
    raise ValueError(f"expected a date as YYYY-MM-DD, not {written!r}")
