"""What the console's browser tests share: signing in on the login page, clicking through to
the next page, reading an element, the browser's cookies for a request made beside it."""

from __future__ import annotations

from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait


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
