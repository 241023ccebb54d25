"""CPU-bound work (decoding a workbook, checking an image) in a worker thread, so a running
service keeps answering while it is done.

Under nameko every request is a green thread on eventlet's one hub: a green thread that
decodes a 100 000-row workbook for two seconds holds every other request for two seconds.
``off_hub`` hands the work to a real thread (``eventlet.tpool``) and lets the hub run
meanwhile; outside eventlet (the CLI) it is a plain call. The work may still need the
caller's database session, which belongs to the hub's thread: it asks through ``on_hub``,
and the hub runs the query and hands the answer back.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
OnHub = Callable[..., Any]  # on_hub(fn, *args): fn(*args) run on the caller's thread


def off_hub(work: Callable[[OnHub], T]) -> T:
    """``work(on_hub)`` in a worker thread when eventlet runs this process, else here.

    Exceptions travel back to the caller as they were raised."""
    if not _eventlet_patched():
        return work(_here)
    from eventlet import patcher, tpool

    queue = patcher.original("queue")
    threading = patcher.original("threading")
    asks, answers = queue.Queue(), queue.Queue()

    def on_hub(fn: Callable[..., Any], *args: Any) -> Any:
        asks.put((fn, args))
        ok, value = answers.get()
        if ok:
            return value
        raise value

    def run() -> None:
        try:
            outcome = (True, work(on_hub))
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            outcome = (False, exc)
        asks.put((None, outcome))

    threading.Thread(target=run, name="off-hub", daemon=True).start()
    while True:
        # waiting for the worker blocks a pool thread, not the hub
        fn, args = tpool.execute(asks.get)
        if fn is None:
            ok, value = args
            if ok:
                return value
            raise value
        try:
            answers.put((True, fn(*args)))
        except BaseException as exc:  # noqa: BLE001 - re-raised in the worker's thread
            answers.put((False, exc))


def _here(fn: Callable[..., Any], *args: Any) -> Any:
    return fn(*args)


def _eventlet_patched() -> bool:
    patcher = sys.modules.get("eventlet.patcher")
    return patcher is not None and patcher.is_monkey_patched("thread")
