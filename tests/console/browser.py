"""What the console's browser tests share: signing in on the login page, clicking through to
the next page, reading an element, the browser's cookies for a request made beside it, and a
transaction on a service's database beside the running services."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from eventlet import tpool
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from sqlalchemy.orm import Session

from services.messaging.database import make_engine, make_session_factory, session_scope

T = TypeVar("T")


def sign_in(driver, base: str, index: int) -> None:
    driver.delete_all_cookies()
    driver.get(f"{base}/console/login")
    click(driver, By.ID, f"login-{index}")


def click(driver, by, value) -> None:
    """Click what submits a form or follows a link, and wait until the next page has loaded.

    The old page's <html> element is marked first; a new document starts without the mark,
    and so does a page the upload script wrote in place of the old one (document.open keeps
    the window, so a mark on the window would outlive it). (Waiting for the old <html> element
    to go stale raced chromedriver mid-navigation: it answered "Node with given id does not
    belong to the document" instead of "stale".) While the browser is between documents a
    script may fail to run at all: that is the wait, not an answer."""
    driver.execute_script("document.documentElement.__before_click = true")
    driver.find_element(by, value).click()
    WebDriverWait(driver, 30, ignored_exceptions=(WebDriverException,)).until(
        lambda d: d.execute_script(
            "return !document.documentElement.__before_click && document.readyState === 'complete'"
        )
    )


def text(driver, element_id: str) -> str:
    return driver.find_element(By.ID, element_id).text


def cookies_of(driver) -> dict:
    return {c["name"]: c["value"] for c in driver.get_cookies()}


def in_database(tmp_path: Path, service: str, work: Callable[[Session], T]) -> T:
    """``work(session)`` in one transaction on ``service``'s SQLite file (the console
    fixture's ``var/<service>.sqlite``), committed when it returns; its answer. To read or to
    write.

    It runs in a native thread (``eventlet.tpool``). The services run as green threads on this
    process's eventlet hub, and sqlite3 is C code eventlet cannot switch out of: every
    transaction begins IMMEDIATE, taking the file's write lock (services/messaging/database.py
    says why), so while a service's worker holds it, a wait for it from the hub's own thread
    is a wait in C with the whole hub stopped. The holder never runs to commit, and the test
    stands still until the busy timeout. In a native thread the wait stops only that thread;
    the hub runs on, the worker commits, and the work goes ahead."""

    def run() -> T:
        engine = make_engine(f"sqlite:///{tmp_path / 'var' / f'{service}.sqlite'}", must_exist=True)
        try:
            with session_scope(make_session_factory(engine)) as session:
                return work(session)
        finally:
            engine.dispose()

    return tpool.execute(run)
