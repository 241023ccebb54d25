"""The process's peak resident memory over a block of work (Linux: /proc/self)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class Growth:
    bytes: int = 0


@contextmanager
def peak_growth() -> Iterator[Growth]:
    """How far the peak resident size rose above the size at the start of the block.

    The kernel's peak (VmHWM) is reset to the current size first: getrusage's ``ru_maxrss``
    keeps a peak reached before the block, and would hide a rise below it."""
    Path("/proc/self/clear_refs").write_text("5")
    before = _status_bytes("VmRSS")
    growth = Growth()
    yield growth
    growth.bytes = _status_bytes("VmHWM") - before


def _status_bytes(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024  # reported in kB
    raise RuntimeError(f"no {field} in /proc/self/status")
