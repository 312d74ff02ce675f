"""What the dashboard reads beyond runs and items: items as models (name, type, thumbnail,
filters), the preflight report, the conflict preview, and the read-only image route."""

from __future__ import annotations

import io
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from PIL import Image

from backend.sample.legacy_factory import LegacyLibrary
from tests.api.test_runs import RUNS, drive, items, start_legacy
from tests.api.test_v2_endpoints import error_of, paths
from tests.helpers.stage_libraries import COPY_TAG, make_copy_library

ITEMS = "/api/migration/items"
PREFLIGHT = "/api/migration/preflight"


def migrated(client: FlaskClient, lib: LegacyLibrary) -> int:
    run_id = int(start_legacy(client, lib)["id"])
    drive(client, run_id)
    return run_id


def by_name(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {row["name"]: row for row in rows}


def image_of(client: FlaskClient, ref: str) -> Image.Image:
    with client.get(f"/dashboard/images/{ref}") as response:
        assert response.status_code == 200, ref
        assert response.mimetype.startswith("image/")
        data = response.get_data()
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


# --- items as models --------------------------------------------------------------------------


def test_items_carry_name_type_and_a_thumbnail(client: FlaskClient, legacy: LegacyLibrary) -> None:
    run_id = int(start_legacy(client, legacy)["id"])
    before = by_name(items(client, run_id))
    valid = legacy.by_case("valid")[0]

    assert set(before) == {spec.name for spec in legacy.rows}
    assert str(before[valid.name]["thumbnail"]).startswith(f"legacy/{run_id}/")
    assert image_of(client, before[valid.name]["thumbnail"]).size > (0, 0)

    drive(client, run_id)
    after = by_name(items(client, run_id))
    promoted = after[valid.name]
    assert before[valid.name]["type"] == promoted["type"]  # the tab it lands in, before and after
    assert promoted["state"] == "promoted"
    assert promoted["thumbnail"] == f"images/{valid.content_sha256}_0_low.webp"
    assert image_of(client, promoted["thumbnail"]).format == "WEBP"
    staged = after[legacy.by_case("garbage_hash")[0].name]
    assert staged["state"] == "staged"
    assert str(staged["thumbnail"]).startswith("pending/legacy")
    image_of(client, staged["thumbnail"])
    [conflicted] = [row for row in after.values() if row["state"] == "conflicted"]
    assert conflicted["name"] == legacy.by_case("duplicate_hash")[1].name
    detail = client.get(f"{ITEMS}/{conflicted['id']}").get_json()["item"]
    assert (detail["name"], detail["type"]) == (conflicted["name"], conflicted["type"])

    promotion = client.post(RUNS, json={"kind": "promotion"}).get_json()
    drive(client, promotion["id"])
    [promoted_copy] = items(client, promotion["id"])
    assert (promoted_copy["state"], promoted_copy["name"]) == ("promoted", staged["name"])
    # The staged legacy row's pending model is gone (promoted): named from its legacy row.
    again = by_name(items(client, run_id))[staged["name"]]
    assert (again["state"], again["type"]) == ("staged", staged["type"])
    assert str(again["thumbnail"]).startswith(f"legacy/{run_id}/")


def test_items_filter_by_type_and_name_with_keyset_paging(
    client: FlaskClient, legacy: LegacyLibrary
) -> None:
    run_id = migrated(client, legacy)
    duplicates = legacy.by_case("duplicate_hash")
    kind = by_name(items(client, run_id))[duplicates[0].name]["type"]  # the v2 tab shown

    of_type = items(client, run_id, f"?type={kind}")
    assert {row["name"] for row in of_type} == {d.name for d in duplicates}
    assert all(row["type"] == kind for row in of_type)
    first = client.get(f"{RUNS}/{run_id}/items?type={kind}&limit=1").get_json()
    assert len(first["items"]) == 1 and first["next_after"] == first["items"][0]["id"]
    second = client.get(f"{RUNS}/{run_id}/items?type={kind}&limit=1&after={first['next_after']}")
    assert [r["id"] for r in first["items"] + second.get_json()["items"]] == [
        r["id"] for r in of_type
    ]
    needle = duplicates[1].name[-6:].upper()
    assert [r["name"] for r in items(client, run_id, f"?q={needle}")] == [duplicates[1].name]
    assert items(client, run_id, f"?q={needle}&state=promoted") == []
    assert items(client, run_id, "?type=no-such-type") == []


@pytest.mark.parametrize(
    "query", ["type=", f"type={'x' * 65}", f"q={'x' * 201}", "limit=0", "state=done"]
)
def test_bad_item_filters_are_422(client: FlaskClient, legacy: LegacyLibrary, query: str) -> None:
    run_id = migrated(client, legacy)

    error_of(client.get(f"{RUNS}/{run_id}/items?{query}"), 422)


# --- preflight ----------------------------------------------------------------------------------


def test_preflight_reports_counts_and_problems_without_writing(
    client: FlaskClient, legacy: LegacyLibrary
) -> None:
    response = client.get(PREFLIGHT, query_string=paths(legacy))

    assert response.status_code == 200
    report = response.get_json()
    assert report["models"] == len(legacy.rows)
    assert report["invalid_hashes"] + report["missing_hashes"] == 1  # the row to be staged
    assert report["duplicate_hashes"] == 1
    assert any("staged" in sentence for sentence in report["warnings"])
    assert client.get(RUNS).get_json() == {"runs": []}


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ({}, 422),
        ({"legacy_db_path": "relative.db", "legacy_images_dir": "/tmp"}, 422),
        ({"legacy_db_path": "/no/such.db", "legacy_images_dir": "/tmp"}, 422),
    ],
)
def test_preflight_rejects_bad_paths(
    client: FlaskClient, query: dict[str, str], status: int
) -> None:
    error_of(client.get(PREFLIGHT, query_string=query), status)


def test_preflight_outside_the_import_roots_is_403(
    make_client: Callable[..., FlaskClient], legacy: LegacyLibrary, tmp_path: Path
) -> None:
    client = make_client(import_roots=[tmp_path / "elsewhere"])

    assert error_of(client.get(PREFLIGHT, query_string=paths(legacy)), 403)["code"] == (
        "path_forbidden"
    )


# --- conflict preview ----------------------------------------------------------------------------


def test_conflict_preview_of_a_legacy_duplicate_matches_what_merge_writes(
    client: FlaskClient, legacy: LegacyLibrary
) -> None:
    run_id = migrated(client, legacy)
    [conflicted] = items(client, run_id, "?state=conflicted")
    owner, copy = legacy.by_case("duplicate_hash")

    preview = client.get(f"{ITEMS}/{conflicted['id']}/conflict").get_json()

    assert preview["library"]["source"] == "library"
    assert preview["library"]["name"] == owner.name
    assert preview["incoming"]["source"] == f"legacy row {copy.legacy_id}"
    assert preview["incoming"]["name"] == copy.name
    assert preview["library"]["sha256"] == preview["incoming"]["sha256"]
    assert preview["incoming"]["images_count"] == len(preview["incoming"]["images"]) == 1
    for key in ("type", "path", "size_bytes", "tags", "description", "prompts", "images"):
        assert key in preview["library"] and key in preview["incoming"]
    strategies = {s["strategy"]: s for s in preview["strategies"]}
    assert list(strategies) == ["override", "merge", "ignore", "delete"]
    assert strategies["delete"]["allowed"] is False and strategies["delete"]["result"] is None
    assert strategies["ignore"]["result"] == preview["library"]
    assert strategies["ignore"]["changes"] == []
    override = {c["field"]: c for c in strategies["override"]["changes"]}
    assert override["name"] == {"field": "name", "before": owner.name, "after": copy.name}
    merge = strategies["merge"]["result"]
    assert merge["name"] == owner.name  # merge only fills empty fields
    expected_images = preview["library"]["images_count"] + len(preview["incoming"]["images"])
    assert merge["images_count"] == expected_images

    resolved = client.post(f"{ITEMS}/{conflicted['id']}/resolve", json={"strategy": "merge"})
    assert resolved.status_code == 200
    drive(client, run_id)
    model = client.get(f"{ITEMS}/{conflicted['id']}").get_json()["item"]
    assert model["state"] == "promoted"
    assert model["name"] == merge["name"]
    error_of(client.get(f"{ITEMS}/{conflicted['id']}/conflict"), 409)


def test_conflict_preview_of_a_pending_model_allows_delete(
    make_client: Callable[..., FlaskClient], tmp_path: Path
) -> None:
    copy_lib = make_copy_library(tmp_path / "copy")
    client = make_client()
    migrated(client, copy_lib.lib)
    pending = client.get("/api/migration/pending_models").get_json()["models"]
    copy_id = next(m["id"] for m in pending if m["name"] == copy_lib.copy.name)
    run = client.post(RUNS, json={"kind": "promotion", "ids": [copy_id]}).get_json()
    drive(client, run["id"])
    [conflicted] = items(client, run["id"], "?state=conflicted")

    preview = client.get(f"{ITEMS}/{conflicted['id']}/conflict").get_json()

    assert preview["incoming"]["source"] == f"pending model {copy_id}"
    assert COPY_TAG in preview["incoming"]["tags"]
    assert all(ref.startswith("pending/") for ref in preview["incoming"]["images"])
    strategies = {s["strategy"]: s for s in preview["strategies"]}
    assert strategies["delete"]["allowed"] is True
    assert "removed" in strategies["delete"]["summary"]
    library, incoming = preview["library"], preview["incoming"]
    merged = strategies["merge"]["result"]
    assert merged["tags"] == sorted(set(library["tags"]) | set(incoming["tags"]))
    assert COPY_TAG in merged["tags"]
    assert merged["community_links"] == library["community_links"] != ""
    overridden = strategies["override"]["result"]
    assert overridden["community_links"] == "https://copy.invalid"
    assert overridden["description"] == library["description"]  # incoming empty: kept


def test_conflict_preview_errors(client: FlaskClient, legacy: LegacyLibrary) -> None:
    run_id = migrated(client, legacy)
    promoted = items(client, run_id, "?state=promoted")[0]

    assert error_of(client.get(f"{ITEMS}/999999/conflict"), 404)["code"] == "not_found"
    assert client.get(f"{ITEMS}/0/conflict").status_code == 404
    assert client.get(f"{ITEMS}/{2**64}/conflict").status_code == 404
    assert error_of(client.get(f"{ITEMS}/{promoted['id']}/conflict"), 409)["code"] == "wrong_state"


def test_conflict_preview_when_the_legacy_row_is_gone_is_a_404(
    client: FlaskClient, legacy: LegacyLibrary
) -> None:
    run_id = migrated(client, legacy)
    [conflicted] = items(client, run_id, "?state=conflicted")
    with sqlite3.connect(legacy.db_path) as conn:
        conn.execute("DELETE FROM models WHERE id = ?", (int(conflicted["source_key"]),))
    conn.close()

    response = client.get(f"{ITEMS}/{conflicted['id']}/conflict")

    assert "no longer exists" in error_of(response, 404)["message"]


# --- images ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "ref",
    [
        "images/../library.sqlite3",
        "images/notatier.webp",
        "images/" + "a" * 64 + "_0_low.png",
        "pending/../library.sqlite3",
        "pending/.hidden.png",
        "legacy/1/../legacy.sqlite3",
        "legacy/1/missing.png",
        "legacy/x/a.png",
        "legacy/99/a.png",
        "other/a.png",
    ],
)
def test_the_image_route_serves_nothing_else(
    client: FlaskClient, legacy: LegacyLibrary, ref: str
) -> None:
    migrated(client, legacy)

    assert client.get(f"/dashboard/images/{ref}").status_code == 404


def test_the_image_route_needs_the_token(
    make_client: Callable[..., FlaskClient], legacy: LegacyLibrary
) -> None:
    client = make_client(api_token="t0ken")
    auth = {"Authorization": "Bearer t0ken"}
    run = client.post(RUNS, json={"kind": "legacy", **paths(legacy)}, headers=auth).get_json()
    page = client.get(f"{RUNS}/{run['id']}/items", headers=auth).get_json()
    ref = next(row["thumbnail"] for row in page["items"] if row["thumbnail"])

    assert client.get(f"/dashboard/images/{ref}").status_code == 401
    with client.get(f"/dashboard/images/{ref}", headers=auth) as response:
        assert response.status_code == 200
