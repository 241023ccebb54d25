"""The console in a real browser: Debian's chromium and chromedriver (scripts/setup installs
them), driven by Selenium with both paths given, so Selenium Manager downloads nothing.

`console`: enrollment, claims, payments and the console in nameko containers on RabbitMQ,
one listener, two units of Zhangjiakou registered and the demo users of the login page.
`browser(size, javascript=True)` opens a headless window (the page's scripts off on
request); `shot(driver, name)` saves a screenshot
under var/screenshots/<test>/ (printed at the end of the run)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from nameko.standalone.rpc import ClusterRpcProxy

from services.claims.service import ClaimsService
from services.console.service import ConsoleService
from services.enrollment.service import EnrollmentService
from services.payments.service import PaymentsService
from tests.claims.test_service import config_for

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
PHONE, DESKTOP = (390, 844), (1280, 900)
CITY, YEAR = "zhangjiakou", 2024
SHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"


# headless Chromium keeps a window at least 500 px wide: a phone's 390 is emulated instead
HEADLESS_MIN_WIDTH = 500


def emulate(driver, height: int) -> None:
    """The phone's screen (DevTools device metrics, kept across navigations), ``height`` tall."""
    metrics = {**driver.phone, "height": height, "mobile": True}
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)


@pytest.fixture
def browser(request):
    if not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)):
        pytest.fail("chromium and chromium-driver are not installed (scripts/setup installs them)")
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager: never download a browser or driver
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opened = []

    def open_browser(size=DESKTOP, javascript=True):
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        if not javascript:  # the page's scripts off; WebDriver's own still run
            options.add_experimental_option(
                "prefs", {"profile.managed_default_content_settings.javascript": 2}
            )
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
        if size[0] < HEADLESS_MIN_WIDTH:  # a phone: its width, and its viewport meta obeyed
            driver.phone = {"width": size[0], "height": size[1], "deviceScaleFactor": 1}
            emulate(driver, size[1])
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
        phone = getattr(driver, "phone", None)
        if phone:
            emulate(driver, max(height, phone["height"]))
            driver.save_screenshot(str(path))
            emulate(driver, phone["height"])
        else:
            window = driver.get_window_size()
            driver.set_window_size(window["width"], max(height + 120, 600))
            driver.save_screenshot(str(path))
            driver.set_window_size(window["width"], window["height"])
        # back to the device's size: the next page is seen as on the phone or the desk
        taken.append(path)
        return path

    yield save
    print(f"\nscreenshots: {folder} ({len(taken)})")


@pytest.fixture
def console(container_factory, rabbit_config, web_config, web_config_port, tmp_path, issuer):
    enrollment_config, claims_config = config_for(
        rabbit_config, tmp_path, "2024-03-01", "2024-06-01"
    )
    enrollment_config = {**enrollment_config, **web_config}
    claims_config = {**claims_config, **web_config}
    payments_config = {
        **claims_config,
        "DATABASES": {
            **claims_config["DATABASES"],
            "payments": f"sqlite:///{tmp_path}/var/payments.sqlite",
        },
        "BANK_SIMULATOR": {"code": "sim", "secret": "test-secret", "delay": 0.1},
    }
    containers = [
        container_factory(EnrollmentService, enrollment_config),
        container_factory(ClaimsService, claims_config),
        container_factory(PaymentsService, payments_config),
    ]
    for container in containers:
        container.start()
    with ClusterRpcProxy(claims_config) as rpc:
        unit_a, unit_b = (
            rpc.enrollment.register_unit(
                CITY,
                YEAR,
                {"unit_key": key, "name": f"{key}工会", "staff_total": 10, "staff_insured": 10},
            )["unit_id"]
            for key in ("A", "B")
        )
    users = [
        {
            "name": "王芳",
            "sub": "wf-1",
            "role": "unit_clerk",
            "city": CITY,
            "unit": unit_a,
            "unit_name": "A工会",
        },
        {
            "name": "赵六",
            "sub": "zl-1",
            "role": "unit_clerk",
            "city": CITY,
            "unit": unit_b,
            "unit_name": "B工会",
        },
        {"name": "李审", "sub": "li-1", "role": "city_reviewer", "city": CITY},
        {"name": "钱财", "sub": "qc-1", "role": "finance", "city": CITY},
        {"name": "孙运维", "sub": "sy-1", "role": "provincial_operator"},
        # the finance desk's four eyes, and finance of another city
        {"name": "孙会计", "sub": "sk-1", "role": "finance", "city": CITY},
        {"name": "吴财", "sub": "wc-1", "role": "finance", "city": "wujin"},
        # district clerks: one whose district has units (registered by the test), one without
        {
            "name": "周区",
            "sub": "zq-1",
            "role": "district_clerk",
            "city": CITY,
            "district": "桥西区",
        },
        {
            "name": "郑区",
            "sub": "zh-1",
            "role": "district_clerk",
            "city": CITY,
            "district": "下花园区",
        },
        # the help desk: this city's, and another city's
        {"name": "孙客服", "sub": "kf-1", "role": "help_desk", "city": CITY},
        {"name": "吴客服", "sub": "kf-2", "role": "help_desk", "city": "wujin"},
    ]
    console_config = {**enrollment_config, "CONSOLE_DEMO_USERS": users}
    container = container_factory(ConsoleService, console_config)
    container.start()
    return f"http://127.0.0.1:{web_config_port}", unit_a, unit_b
