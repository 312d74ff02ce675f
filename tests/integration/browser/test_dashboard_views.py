"""The dashboard for people, end to end in headless Chromium against ``model-migrate serve``.

One session: a legacy run started through its preview; the page watching it finish while
another process (``model-migrate worker``) drives it, without a reload; models with their
pictures, filtered by type and searched by name; the duplicate-hash conflict compared side by
side, previewed with merge and resolved from the keyboard; a promotion run whose models fail
for real (their files are gone) retried as one group; and the audit of the legacy run with a
problem grouped under its fix.

``MODEL_MIGRATE_UPDATE_SCREENSHOT=1`` (``make screenshots``) refreshes ``docs/items.png`` and
``docs/conflict.png`` from this run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.common.keys import Keys

from backend.sample.legacy_factory import LegacyLibrary
from tests.helpers.browser import Page, api_get, script_problems
from tests.helpers.live_server import cli_command, server_env

pytestmark = [pytest.mark.browser, pytest.mark.slow]

DOCS = Path(__file__).resolve().parents[3] / "docs"
WINDOW = "1280,1400"


def screenshot(driver: webdriver.Chrome, tmp_path: Path, name: str) -> None:
    """Save a screenshot of the page as it is; copy it to docs/ when asked to."""
    shot = tmp_path / name
    assert driver.save_screenshot(str(shot))
    assert shot.read_bytes().startswith(b"\x89PNG")
    if os.environ.get("MODEL_MIGRATE_UPDATE_SCREENSHOT"):
        shutil.copyfile(shot, DOCS / name)


def worker_batch(tmp_path: Path, legacy: LegacyLibrary) -> None:
    """One batch of five items of run 1, by another process than the server."""
    subprocess.run(
        [*cli_command(), "worker", "--run", "1", "--once", "--batch-size", "5", "--quiet"],
        cwd=tmp_path,
        env=server_env(tmp_path / "data", legacy.root),
        check=True,
        timeout=120,
    )


def test_a_person_migrates_decides_retries_and_audits(
    server: str, driver: webdriver.Chrome, legacy: LegacyLibrary, tmp_path: Path
) -> None:
    page = Page(driver)
    total = len(legacy.rows)
    owner, copy = legacy.by_case("duplicate_hash")
    driver.get(f"{server}/")
    page.wait().until(lambda _: page.text("runs-empty") == "No runs yet — start one below.")
    loaded_at = driver.find_element("tag name", "body").get_attribute("data-loaded-at")

    # 1. The preview: counts, what will be staged, problems; nothing starts before confirming.
    page.fill("legacy-db-path", str(legacy.db_path))
    page.fill("legacy-images-dir", str(legacy.images_dir))
    page.click("start-legacy")
    report = api_get(
        server,
        f"/api/migration/preflight?legacy_db_path={legacy.db_path}"
        f"&legacy_images_dir={legacy.images_dir}",
    )
    assert page.text("preflight-models") == str(total)
    assert page.text("preflight-duplicate_hashes") == "1"
    staged = report["missing_hashes"] + report["invalid_hashes"]
    assert f"{staged} staged as pending models" in page.text("preflight-summary")
    problems = [e.text for e in page.all("preflight-problem-")]
    assert problems == report["warnings"] and problems
    assert api_get(server, "/api/migration/runs") == {"runs": []}
    page.click("confirm-legacy")
    assert page.text("action-result") == "Started legacy run #1."

    # 2. Live: another process drives the run; the page follows it without a reload.
    while not api_get(server, "/api/migration/runs/1")["finished"]:
        worker_batch(tmp_path, legacy)
        done = api_get(server, "/api/migration/runs/1")["done"]
        page.wait().until(lambda _, done=done: page.text("run-progress-1") == f"{done} / {total}")
    page.wait().until(lambda _: page.text("live-status").startswith("Finished"))
    page.wait().until(lambda _: page.text("auto-refresh") == "")
    progress = driver.find_element("tag name", "body").get_attribute("data-progress") or ""
    shown = [int(n) for n in progress.split(",")]
    assert shown == sorted(set(shown)) and len(shown) >= 4  # it moved, in steps, forward
    assert shown[-1] == total - 1  # all but the conflicted row
    assert page.text("count-conflicted") == "conflicted: 1"
    assert page.text("run-summary").startswith(
        f"{total - 1} / {total} done · 1 waiting · 0 remaining"
    )

    # 3. Models: pictures, type filter, name search, keyset paging kept.
    assert len(page.images_loaded("item-thumb-")) >= total // 2
    rows = api_get(server, "/api/migration/runs/1/items")["items"]
    kind = next(row["type"] for row in rows if row["name"] == copy.name)
    page.act(lambda: page.fill("type-filter", kind + Keys.TAB))
    assert {page.text(f"item-type-{i}") for i in page.item_ids()} == {kind}
    assert copy.name in [page.text(f"item-name-{i}") for i in page.item_ids()]
    assert len(page.item_ids()) == sum(row["type"] == kind for row in rows)
    page.act(lambda: page.fill("type-filter", Keys.TAB))
    page.act(lambda: page.fill("name-search", "unicode" + Keys.TAB))
    [found] = page.item_ids()
    assert "unicode" in page.text(f"item-name-{found}")
    assert (
        page.text("items-page")
        == "Page 1 · 1 item(s) · all states · name contains “unicode” · last page"
    )
    page.act(lambda: page.fill("name-search", Keys.TAB))
    assert len(page.item_ids()) == total
    driver.execute_script("document.activeElement.blur()")
    driver.execute_script("document.getElementById('items-heading').scrollIntoView()")
    screenshot(driver, tmp_path, "items.png")

    # 4. The conflict side by side; merge previewed from the keyboard, then resolved with Enter.
    page.filter_items("conflicted")
    [conflicted] = page.item_ids()
    page.click(f"compare-item-{conflicted}")
    assert page.text("library-name") == owner.name
    assert page.text("incoming-name") == copy.name
    assert page.text("library-source") == "library"
    assert page.text("incoming-source") == f"legacy row {copy.legacy_id}"
    for field in ("type", "path", "size_bytes", "tags", "description", "prompts-positive"):
        assert page.text(f"library-{field}") and page.text(f"incoming-{field}")
    assert page.images_loaded("conflict-library") and page.images_loaded("conflict-incoming")
    assert not page.el("strategy-delete").is_enabled()  # a legacy row is never deleted
    page.el("conflict-panel").send_keys("2")
    page.wait().until(lambda _: page.el("strategy-merge").get_attribute("aria-checked") == "true")
    assert "fill only the library model's empty ones" in page.text("preview-summary")
    assert page.text("result-name") == owner.name  # merge keeps the library's name
    assert page.text("result-images_count") == "2"  # one image each, appended
    page.images_loaded("preview-result")
    assert driver.switch_to.active_element == page.el("resolve-conflict")
    driver.execute_script("document.getElementById('conflict-panel').scrollIntoView()")
    screenshot(driver, tmp_path, "conflict.png")
    page.act(lambda: driver.switch_to.active_element.send_keys(Keys.ENTER))
    assert page.text("action-result") == f"Resolved item #{conflicted} with merge: now pending."
    assert not page.shown("conflict-panel")
    page.click("run-to-end")
    assert page.text("run-status-1") == "finished"
    item = api_get(server, f"/api/migration/items/{conflicted}")["item"]
    assert (item["state"], item["name"]) == ("promoted", owner.name)

    # 5. Failures grouped by cause: the staged models' files are gone, both fail; retry the group.
    pending = api_get(server, "/api/migration/pending_models")["models"]
    files = [
        Path(api_get(server, f"/api/migration/pending_model?id={m['id']}")["path"]) for m in pending
    ]
    for path in files:
        path.rename(path.with_suffix(".away"))
    page.click("start-promotion")
    page.click("run-to-end")
    group = "group-error-source_missing"
    assert page.text(f"group-count-{group.removeprefix('group-')}") == "2 models failed"
    assert page.text(f"group-message-{group.removeprefix('group-')}").startswith("model file ")
    affected = page.text(f"group-models-{group.removeprefix('group-')}")
    assert all(m["name"] in affected for m in pending)
    for path in files:
        path.with_suffix(".away").rename(path)
    page.click("retry-group-source_missing")
    assert page.text("action-result").startswith("Retried 2 models that failed with source_missing")
    assert page.all(group) == []
    page.click("run-to-end")
    assert page.text("run-status-2") == "finished"
    assert page.text("count-promoted") == "promoted: 2"

    # 6. The audit of the legacy run: a tier file removed behind its back is a grouped problem.
    promoted = api_get(server, "/api/migration/runs/1/items?state=promoted&limit=1")["items"][0]
    (tmp_path / "data" / "images" / f"{promoted['sha256']}_0_low.webp").unlink()
    audit = api_get(server, "/api/migration/runs/1/audit")
    page.click("open-run-1")
    page.click("open-audit")
    assert page.text("audit-summary") == audit["summary"]
    codes = {p["code"]: p["fix"] for row in audit["rows"] for p in row["problems"]}
    codes.update({p["code"]: p["fix"] for p in audit["library_problems"]})
    assert codes
    for code, fix in codes.items():
        assert fix in page.text(f"audit-fix-{code}")

    assert driver.find_element("tag name", "body").get_attribute("data-loaded-at") == loaded_at
    assert script_problems(driver) == []
