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

import os
import re
import shutil
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By

from backend.sample.legacy_factory import LegacyLibrary
from tests.helpers.browser import Page, api_get, script_problems

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SCREENSHOT = Path(__file__).resolve().parents[3] / "docs" / "dashboard.png"


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

    # Start the legacy run from the form, through its preview.
    page.fill("legacy-db-path", str(legacy.db_path))
    page.click("start-legacy")
    assert page.text("preflight-models") == str(total)
    assert page.el("runs-empty").is_displayed()  # a preview starts nothing
    page.click("confirm-legacy")
    assert not page.shown("preflight-panel")
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

    # Warnings are shown with the items (a short label, the message as its tooltip); keyset
    # paging moves on without overlap.
    [missing] = [r for r in legacy.rows if r.case == "missing_image"]
    missing_item = next(i for i in page.item_ids() if page.text(f"item-name-{i}") == missing.name)
    label = page.el(f"warning-{missing_item}-image_missing")
    assert label.text == "image_missing"
    assert str(label.get_attribute("title")).endswith(" does not exist")
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
    assert script_problems(driver) == []
