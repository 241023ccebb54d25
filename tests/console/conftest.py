"""The console in a real browser: Debian's chromium and chromedriver (scripts/setup installs
them), driven by Selenium with both paths given, so Selenium Manager downloads nothing.

`browser(width, height)` opens a headless window; `shot(driver, name)` saves a screenshot
under var/screenshots/<test>/ (printed at the end of the run)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
PHONE, DESKTOP = (390, 844), (1280, 900)
SHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"


@pytest.fixture
def browser(request):
    if not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)):
        pytest.fail("chromium and chromium-driver are not installed (scripts/setup installs them)")
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager: never download a browser or driver
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opened = []

    def open_browser(size=DESKTOP):
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for argument in (
            "--headless=new",
            "--no-sandbox",
            "--disable-dev-shm-usage",
            "--disable-gpu",
            "--lang=zh-CN",
            f"--window-size={size[0]},{size[1]}",
        ):
            options.add_argument(argument)
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        driver.set_page_load_timeout(60)
        opened.append(driver)
        return driver

    yield open_browser
    for driver in opened:
        driver.quit()


@pytest.fixture
def shot(request):
    folder = SHOTS / request.node.name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    taken = []

    def save(driver, name: str) -> Path:
        path = folder / f"{len(taken) + 1:02d}-{name}.png"
        # the whole page, not only the window: a phone's long page is checked entire
        height = driver.execute_script("return document.documentElement.scrollHeight")
        width = driver.get_window_size()["width"]
        driver.set_window_size(width, max(height + 120, 600))
        driver.save_screenshot(str(path))
        taken.append(path)
        return path

    yield save
    print(f"\nscreenshots: {folder} ({len(taken)})")
