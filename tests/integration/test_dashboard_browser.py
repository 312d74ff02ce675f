"""The dashboard page end to end: a real ``model-migrate serve`` and Debian's headless Chromium.

One user session through the page: a readable error for a bad path, a legacy run started from
the form and advanced to completion with the button, the duplicate-hash conflict resolved with
"merge", items filtered and paged, an item's history, and a promotion run whose items really
fail (their model files are gone), are retried one by one and all at once, and end promoted.

Selenium never downloads anything: the Debian binaries are named explicitly and
``SE_OFFLINE=true``. Without them the test skips locally and fails in CI (``CI`` set).
Set ``MODEL_MIGRATE_UPDATE_SCREENSHOT=1`` to refresh ``docs/dashboard.png`` from the run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import Select, WebDriverWait

from backend.sample.legacy_factory import LegacyLibrary, make_legacy_library

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
TIMEOUT = 20.0
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "dashboard.png"
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@pytest.fixture(autouse=True)
def require_browser() -> None:
    """Skip without the Debian browser locally; in CI (``CI`` set) its absence is a failure."""
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.exists()]
    if not missing:
        return
    reason = f"{', '.join(missing)} missing: apt-get install chromium chromium-driver"
    if os.environ.get("CI"):
        pytest.fail(f"the browser test must run in CI: {reason}")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def api_get(base: str, path: str) -> Any:
    with NO_PROXY.open(f"{base}{path}", timeout=10) as response:
        return json.load(response)


@pytest.fixture
def legacy(tmp_path: Path) -> LegacyLibrary:
    return make_legacy_library(tmp_path / "legacy")


@pytest.fixture
def server(tmp_path: Path, legacy: LegacyLibrary) -> Iterator[str]:
    """``model-migrate serve`` on a free loopback port; yields its base URL."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODEL_MIGRATE_")}
    env["MODEL_MIGRATE_DATA_DIR"] = str(tmp_path / "data")
    env["MODEL_MIGRATE_IMPORT_ROOTS"] = str(legacy.root)
    script = Path(sys.executable).with_name("model-migrate")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "backend.cli"]
    log = (tmp_path / "server.log").open("wb")
    proc = subprocess.Popen(
        [*command, "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"

    def healthy(_: object) -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {(tmp_path / 'server.log').read_text()}")
        return bool(api_get(base, "/api/health")["ok"])

    try:
        WebDriverWait(proc, TIMEOUT, poll_frequency=0.1, ignored_exceptions=(OSError,)).until(
            healthy, "the server did not answer /api/health"
        )
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture
def driver(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[webdriver.Chrome]:
    monkeypatch.setenv("SE_OFFLINE", "true")
    options = webdriver.ChromeOptions()
    for argument in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-proxy-server", "--window-size=1280,1700",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ):  # fmt: skip
        options.add_argument(argument)
    options.binary_location = str(CHROMIUM)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    browser = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
    try:
        yield browser
    finally:
        browser.quit()


class Page:
    """The dashboard as the test sees it: elements by data-testid, waits on the page's state."""

    def __init__(self, driver: webdriver.Chrome) -> None:
        self.driver = driver

    def wait(self) -> WebDriverWait[webdriver.Chrome]:
        # The runs table is re-rendered while a run is active: read again if an element went stale.
        return WebDriverWait(
            self.driver, TIMEOUT, ignored_exceptions=(StaleElementReferenceException,)
        )

    def el(self, testid: str) -> WebElement:
        return self.driver.find_element(By.CSS_SELECTOR, f'[data-testid="{testid}"]')

    def text(self, testid: str) -> str:
        text: str = self.wait().until(lambda _: (self.el(testid).text,))[0]
        return text

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
        rows = self.driver.find_elements(By.CSS_SELECTOR, '[data-testid^="item-row-"]')
        return [int(str(row.get_attribute("data-testid")).rsplit("-", 1)[1]) for row in rows]

    def advance_rows(self) -> dict[int, str]:
        rows = self.driver.find_elements(By.CSS_SELECTOR, '[data-testid^="advance-states-"]')
        return {int(str(r.get_attribute("data-testid")).rsplit("-", 1)[1]): r.text for r in rows}


def test_a_migration_driven_from_the_dashboard(
    server: str, driver: webdriver.Chrome, legacy: LegacyLibrary, tmp_path: Path
) -> None:
    page = Page(driver)
    total = len(legacy.rows)
    driver.get(f"{server}/")
    page.wait().until(lambda _: page.text("runs-empty") == "No runs yet — start one below.")
    assert driver.title == "Model Library Migrator"

    # A path outside the import roots: the API's message, readable, and no run.
    page.fill("legacy-db-path", "/etc/passwd")
    page.fill("legacy-images-dir", str(legacy.images_dir))
    page.click(
        "start-legacy", error="is outside the allowed import roots (path_forbidden, HTTP 403)"
    )
    assert page.el("runs-empty").is_displayed()

    # Start the legacy run from the form.
    page.fill("legacy-db-path", str(legacy.db_path))
    page.click("start-legacy")
    assert page.text("run-heading") == "Run #1 (legacy)"
    assert page.text("action-result") == "Started legacy run #1."
    assert page.text("run-progress-1") == f"0 / {total}"
    assert page.text("run-summary").startswith(f"0 / {total} done · 0 waiting · {total} remaining")

    # Advance it batch by batch until nothing is left to do.
    page.fill("batch-size", "10")
    page.click("advance-batch")
    first = page.advance_rows()
    assert len(first) == 10
    assert first[1] == "pending → promoted"
    done = re.fullmatch(
        r"Advanced 10 item\(s\) of run #1: now (\d+) / (\d+) done\.", page.text("action-result")
    )
    assert done and int(done[1]) > 0 and int(done[2]) == total
    for _ in range(total):
        if "· 0 remaining ·" in page.text("run-summary"):
            break
        page.click("advance-batch")
    assert page.text("run-progress-1") == f"{total - 1} / {total}"
    assert page.text("run-status-1") == "finished — 1 waiting (conflicted/failed)"
    assert page.text("run-resumable-1") == "no"
    assert page.text("count-conflicted") == "conflicted: 1"

    # The duplicate hash is the one conflicted item: resolve it with "merge", then advance it.
    page.filter_items("conflicted")
    [conflicted] = page.item_ids()
    assert page.text(f"item-state-{conflicted}") == "conflicted"
    page.choose(f"resolve-strategy-{conflicted}", "merge")
    page.click(f"resolve-item-{conflicted}")
    assert page.text("action-result") == f"Resolved item #{conflicted} with merge: now pending."
    assert page.item_ids() == []
    assert page.el("items-empty").is_displayed()
    page.click("advance-batch")
    assert page.advance_rows() == {conflicted: "pending → promoted"}
    assert page.text("run-progress-1") == f"{total} / {total}"
    assert page.text("run-status-1") == "finished"

    # Its history and record.
    page.filter_items("")
    page.click(f"show-item-{conflicted}")
    assert page.text("event-trigger-1") == "conflict"
    assert page.text("event-trigger-2") == "resolve"
    assert page.text("item-field-state") == "promoted"
    assert page.text("item-field-strategy") == "merge"

    # Warnings are shown with the items; keyset paging moves on without overlap.
    assert "image_missing: " in page.text("items-table")
    page.fill("page-size", "10")
    page.click("items-first")
    first_page = page.item_ids()
    page.click("items-next")
    second_page = page.item_ids()
    assert len(first_page) == len(second_page) == 10
    assert max(first_page) < min(second_page)
    assert page.text("items-page") == "Page 2 · 10 item(s) · all states"

    # Promotion of the staged models, whose files are gone: the items fail for real.
    pending = api_get(server, "/api/migration/pending_models")["models"]
    assert len(pending) == 2
    files = [
        Path(api_get(server, f"/api/migration/pending_model?id={m['id']}")["path"]) for m in pending
    ]
    for path in files:
        path.rename(path.with_suffix(".away"))
    page.click("start-promotion")
    assert page.text("run-heading") == "Run #2 (promotion)"
    page.click("advance-batch")
    failed = sorted(page.advance_rows())
    assert len(failed) == 2
    for item_id in failed:
        assert page.text(f"advance-states-{item_id}") == "pending → failed"
        assert page.text(f"advance-error-{item_id}").startswith("source_missing: model file ")
    assert page.text("run-status-2") == "finished — 2 waiting (conflicted/failed)"
    page.filter_items("failed")
    assert page.item_ids() == failed
    assert page.text(f"item-error-{failed[0]}").startswith("source_missing: ")

    # Files back: retry one item, advance; then retry all failed, advance.
    for path in files:
        path.with_suffix(".away").rename(path)
    page.click(f"retry-item-{failed[0]}")
    assert page.text("action-result") == f"Retried item #{failed[0]}: back in the queue."
    assert page.item_ids() == [failed[1]]
    page.click("advance-batch")
    assert page.advance_rows() == {failed[0]: "pending → promoted"}
    page.click("retry-all")
    assert page.text("action-result") == f"Retried 1 failed item(s): #{failed[1]}."
    assert page.item_ids() == []
    page.click("advance-batch")
    assert page.advance_rows() == {failed[1]: "pending → promoted"}
    page.filter_items("promoted")
    assert page.item_ids() == failed
    assert all(page.text(f"item-state-{i}") == "promoted" for i in failed)
    assert page.text("run-progress-2") == "2 / 2"
    assert page.text("run-status-2") == "finished"
    page.click(f"show-item-{failed[0]}")
    triggers = [
        e.text for e in driver.find_elements(By.CSS_SELECTOR, '[data-testid^="event-trigger-"]')
    ]
    assert triggers[:2] == ["fail", "retry"] and triggers[-1] == "promote"

    # The finished legacy run, as the README shows it.
    page.click("open-run-1")
    assert page.text("run-heading") == "Run #1 (legacy)"
    assert page.text("run-summary").startswith(f"{total} / {total} done · 0 waiting · 0 remaining")
    assert page.text("auto-refresh") == ""  # nothing active: no polling
    page.filter_items("")
    driver.execute_script("window.scrollTo(0, 0)")
    assert driver.execute_script(
        "return document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    )  # long paths wrap: no horizontal scrolling
    shot = tmp_path / "dashboard.png"
    assert driver.save_screenshot(str(shot))
    assert shot.read_bytes().startswith(b"\x89PNG")
    if os.environ.get("MODEL_MIGRATE_UPDATE_SCREENSHOT"):
        shutil.copyfile(shot, SCREENSHOT)

    # No script errors and no CSP violations (the 403 of the bad path is expected).
    problems = [
        entry["message"]
        for entry in driver.get_log("browser")
        if entry["level"] == "SEVERE" and "Failed to load resource" not in entry["message"]
    ]
    assert problems == []
