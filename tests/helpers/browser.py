"""The dashboard under a real browser: ``model-migrate serve`` on a free loopback port, Debian's
headless Chromium through Selenium, and a :class:`Page` that finds elements by data-testid and
waits on the page's own "action handled" counter.

Selenium never downloads anything: the Debian binaries are named explicitly and
``SE_OFFLINE=true``. Without them a test skips locally and fails in CI (``CI`` set).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.helpers.live_server import live_server, request_json

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
TIMEOUT = 20.0
CHROMIUM_FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--no-first-run", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-proxy-server",
)  # fmt: skip


def require_browser() -> None:
    """Skip without the Debian browser locally; in CI (``CI`` set) its absence is a failure."""
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.exists()]
    if not missing:
        return
    reason = f"{', '.join(missing)} missing: apt-get install chromium chromium-driver"
    if os.environ.get("CI"):
        pytest.fail(f"the browser test must run in CI: {reason}")
    pytest.skip(reason)


def api_get(base: str, path: str) -> Any:
    """GET ``path`` of the server at ``base``; the decoded JSON."""
    return request_json(f"{base}{path}", timeout=10)


@contextmanager
def serve(tmp_path: Path, roots: Path) -> Iterator[str]:
    """``model-migrate serve`` on ``tmp_path/data`` (reading only under ``roots``) on a free
    loopback port; yields its base URL."""
    with live_server(tmp_path / "data", tmp_path / "server.log", roots=roots, cwd=tmp_path) as base:
        yield base


@contextmanager
def chromium(profile: Path, window: str = "1280,1700") -> Iterator[webdriver.Chrome]:
    """Headless Chromium with its own profile; the browser log is kept for the test."""
    options = webdriver.ChromeOptions()
    for argument in (*CHROMIUM_FLAGS, f"--window-size={window}", f"--user-data-dir={profile}"):
        options.add_argument(argument)
    options.binary_location = str(CHROMIUM)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    browser = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
    try:
        yield browser
    finally:
        browser.quit()


def script_problems(driver: webdriver.Chrome) -> list[str]:
    """Script errors and CSP violations in the browser log (failed loads excepted)."""
    return [
        entry["message"]
        for entry in driver.get_log("browser")
        if entry["level"] == "SEVERE" and "Failed to load resource" not in entry["message"]
    ]


class Page:
    """The dashboard as the test sees it: elements by data-testid, waits on the page's state."""

    def __init__(self, driver: webdriver.Chrome) -> None:
        self.driver = driver

    def wait(self, timeout: float = TIMEOUT) -> WebDriverWait[webdriver.Chrome]:
        # The runs table is re-rendered while a run is active: read again if an element went stale.
        return WebDriverWait(
            self.driver, timeout, ignored_exceptions=(StaleElementReferenceException,)
        )

    def el(self, testid: str) -> WebElement:
        return self.driver.find_element(By.CSS_SELECTOR, f'[data-testid="{testid}"]')

    def all(self, prefix: str) -> list[WebElement]:
        return self.driver.find_elements(By.CSS_SELECTOR, f'[data-testid^="{prefix}"]')

    def text(self, testid: str) -> str:
        text: str = self.wait().until(lambda _: (self.el(testid).text,))[0]
        return text

    def shown(self, testid: str) -> bool:
        return self.el(testid).is_displayed()

    def actions(self) -> int:
        return int(self.driver.find_element(By.TAG_NAME, "body").get_attribute("data-actions") or 0)

    def act(self, do: Callable[[], object], *, error: str = "") -> None:
        """Do one user action and wait until the page has handled it; check the error box."""
        before = self.actions()
        do()
        self.wait().until(lambda _: self.actions() > before, "the page did not finish the action")
        shown = self.text("error") if self.el("error").is_displayed() else ""
        if error:
            assert error in shown
        else:
            assert shown == ""

    def click(self, testid: str, *, error: str = "") -> None:
        self.act(lambda: self.wait().until(lambda _: self.el(testid).click() or True), error=error)

    def fill(self, element_id: str, value: str) -> None:
        field = self.driver.find_element(By.ID, element_id)
        field.clear()
        field.send_keys(value)

    def choose(self, testid: str, value: str) -> None:
        Select(self.el(testid)).select_by_value(value)

    def filter_items(self, state: str) -> None:
        self.act(lambda: self.choose("state-filter", state))

    def item_ids(self) -> list[int]:
        rows = self.all("item-row-")
        return [int(str(row.get_attribute("data-testid")).rsplit("-", 1)[1]) for row in rows]

    def advance_rows(self) -> dict[int, str]:
        rows = self.all("advance-states-")
        return {int(str(r.get_attribute("data-testid")).rsplit("-", 1)[1]): r.text for r in rows}

    def images_loaded(self, prefix: str) -> list[str]:
        """Wait until every thumbnail under ``prefix`` has loaded; returns their references."""
        images = self.driver.find_elements(By.CSS_SELECTOR, f'[data-testid^="{prefix}"] img')
        images += self.driver.find_elements(By.CSS_SELECTOR, f'img[data-testid^="{prefix}"]')
        self.wait().until(lambda _: all(i.get_attribute("data-loaded") == "1" for i in images))
        assert all(
            self.driver.execute_script("return arguments[0].naturalWidth", i) for i in images
        )
        return [str(i.get_attribute("data-ref")) for i in images]
