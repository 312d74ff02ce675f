"""Runs over HTTP: start, advance, inspect, page, retry, resolve — and their bad inputs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from backend.sample.legacy_factory import LegacyLibrary
from tests.api.test_v2_endpoints import error_of, paths

RUNS = "/api/migration/runs"


def start_legacy(client: FlaskClient, lib: LegacyLibrary, **extra: Any) -> dict[str, Any]:
    response = client.post(RUNS, json={"kind": "legacy", **paths(lib), **extra})
    assert response.status_code == 201, response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


def drive(client: FlaskClient, run_id: int) -> dict[str, Any]:
    body: dict[str, Any] = client.post(f"{RUNS}/{run_id}/advance", json={"batch_size": 100}).json
    return body


def items(client: FlaskClient, run_id: int, query: str = "") -> list[dict[str, Any]]:
    page: list[dict[str, Any]] = client.get(f"{RUNS}/{run_id}/items{query}").json["items"]
    return page


def test_start_a_legacy_run_then_resume_it(client: FlaskClient, legacy: LegacyLibrary) -> None:
    run = start_legacy(client, legacy)

    assert run["kind"] == "legacy"
    assert run["resumed"] is False
    again = start_legacy(client, legacy)
    assert (again["id"], again["resumed"]) == (run["id"], True)


def test_run_status_before_and_after_advancing(client: FlaskClient, legacy: LegacyLibrary) -> None:
    run = start_legacy(client, legacy)

    before = client.get(f"{RUNS}/{run['id']}").get_json()
    assert (before["total"], before["done"], before["finished"]) == (6, 0, False)
    assert before["counts"]["pending"] == 6
    step = client.post(f"{RUNS}/{run['id']}/advance", json={"batch_size": 2}).get_json()
    assert len(step["items"]) == 2
    assert step["items"][0]["transitions"]
    assert step["status"]["done"] == 2
    drive(client, run["id"])
    after = client.get(f"{RUNS}/{run['id']}").get_json()
    assert after["finished"] is True
    assert after["counts"]["promoted"] == 4
    assert after["counts"]["conflicted"] == 1


def test_advance_without_a_body_uses_the_configured_batch(
    client: FlaskClient, legacy: LegacyLibrary
) -> None:
    run = start_legacy(client, legacy)

    response = client.post(f"{RUNS}/{run['id']}/advance", content_type="application/json")

    assert response.status_code == 200
    assert len(response.get_json()["items"]) == 6


def test_list_runs_newest_first(client: FlaskClient, legacy: LegacyLibrary) -> None:
    assert client.get(RUNS).get_json() == {"runs": []}
    legacy_run = start_legacy(client, legacy)
    drive(client, legacy_run["id"])
    promotion = client.post(RUNS, json={"kind": "promotion", "strategy": "merge"}).get_json()

    runs = client.get(RUNS).get_json()["runs"]

    assert [r["run_id"] for r in runs] == [promotion["id"], legacy_run["id"]]
    assert [r["kind"] for r in runs] == ["promotion", "legacy"]


def test_a_promotion_run_takes_the_pending_models(
    client: FlaskClient, legacy: LegacyLibrary
) -> None:
    drive(client, start_legacy(client, legacy)["id"])
    pending_id = client.get("/api/migration/pending_models").get_json()["models"][0]["id"]

    run = client.post(RUNS, json={"kind": "promotion", "ids": [pending_id]})

    assert run.status_code == 201
    assert run.get_json()["kind"] == "promotion"
    status = drive(client, run.get_json()["id"])["status"]
    assert status["counts"]["promoted"] == 1


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"kind": "other"},
        {"kind": "legacy"},
        {"kind": "legacy", "legacy_db_path": "/x.db", "legacy_images_dir": "/tmp", "ids": [1]},
        {"kind": "promotion", "ids": [0]},
        {"kind": "promotion", "ids": ["1"]},
        {"kind": "promotion", "ids": [2**63]},
        {"kind": "promotion", "strategy": "replace"},
        {"kind": "promotion", "on_conflict": "merge"},
    ],
)
def test_start_run_rejects_invalid_values(client: FlaskClient, body: dict[str, Any]) -> None:
    assert error_of(client.post(RUNS, json=body), 422)["code"] == "validation_error"


def test_start_run_rejects_a_non_json_body(client: FlaskClient) -> None:
    response = client.post(RUNS, data="kind=legacy", content_type="text/plain")

    assert error_of(response, 415)["code"] == "unsupported_media_type"


@pytest.mark.parametrize(
    "body", [{"batch_size": 0}, {"batch_size": -1}, {"batch_size": 10_001},
             {"batch_size": 10**40}, {"batch_size": "5"}, {"batch_size": 1.5},
             {"size": 5}],
)  # fmt: skip
def test_advance_rejects_bad_batch_sizes(
    client: FlaskClient, legacy: LegacyLibrary, body: dict[str, Any]
) -> None:
    run = start_legacy(client, legacy)

    assert error_of(client.post(f"{RUNS}/{run['id']}/advance", json=body), 422)
    assert client.get(f"{RUNS}/{run['id']}").get_json()["done"] == 0


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", f"{RUNS}/77"),
        ("post", f"{RUNS}/77/advance"),
        ("get", f"{RUNS}/77/items"),
        ("post", f"{RUNS}/77/retry"),
        ("get", "/api/migration/items/77"),
        ("post", "/api/migration/items/77/retry"),
    ],
)
def test_unknown_ids_are_404(client: FlaskClient, method: str, url: str) -> None:
    body = {"json": {}} if method == "post" else {}
    error = error_of(getattr(client, method)(url, **body), 404)

    assert error["code"] == "not_found"
    assert "77" in error["message"]


@pytest.mark.parametrize("run_id", ["0", "-1", "abc", str(2**63), "9" * 5000, "1.0"])
def test_ids_out_of_range_are_404_not_500(client: FlaskClient, run_id: str) -> None:
    for url in (f"{RUNS}/{run_id}", f"/api/migration/items/{run_id}"):
        assert error_of(client.get(url), 404)["code"] == "not_found"
    assert error_of(client.post(f"{RUNS}/{run_id}/advance", json={}), 404)


def test_the_largest_id_is_a_plain_404(client: FlaskClient) -> None:
    assert error_of(client.get(f"{RUNS}/{2**63 - 1}"), 404)["message"].startswith("no migration")


def test_items_keyset_pagination(client: FlaskClient, legacy: LegacyLibrary) -> None:
    run_id = start_legacy(client, legacy)["id"]
    drive(client, run_id)

    first = client.get(f"{RUNS}/{run_id}/items?limit=4").get_json()
    second = client.get(f"{RUNS}/{run_id}/items?limit=4&after={first['next_after']}").get_json()

    assert len(first["items"]) == 4
    assert first["next_after"] == first["items"][-1]["id"]
    assert len(second["items"]) == 2
    assert second["next_after"] is None
    ids = [i["id"] for i in first["items"] + second["items"]]
    assert ids == sorted(set(ids))


def test_items_filtered_by_state(client: FlaskClient, legacy: LegacyLibrary) -> None:
    run_id = start_legacy(client, legacy)["id"]
    drive(client, run_id)

    conflicted = items(client, run_id, "?state=conflicted")

    assert [i["state"] for i in conflicted] == ["conflicted"]
    assert items(client, run_id, "?state=failed") == []


@pytest.mark.parametrize(
    "query",
    ["?state=nope", "?state=", "?limit=0", "?limit=1001", "?limit=x", "?after=-1",
     f"?after={2**63}", "?after=1e3"],
)  # fmt: skip
def test_items_rejects_bad_queries(client: FlaskClient, legacy: LegacyLibrary, query: str) -> None:
    run_id = start_legacy(client, legacy)["id"]

    assert error_of(client.get(f"{RUNS}/{run_id}/items{query}"), 422)["code"] == (
        "validation_error"
    )


def test_item_detail_has_history_and_warnings(client: FlaskClient, legacy: LegacyLibrary) -> None:
    run_id = start_legacy(client, legacy)["id"]
    drive(client, run_id)
    with_warning = next(
        i for i in items(client, run_id) if "image_missing" in {w["code"] for w in i["warnings"]}
    )

    detail = client.get(f"/api/migration/items/{with_warning['id']}").get_json()

    assert detail["item"]["id"] == with_warning["id"]
    assert detail["item"]["warnings"][0]["code"] == "image_missing"
    assert [e["to_state"] for e in detail["events"]][-1] == "promoted"
    assert [e["seq"] for e in detail["events"]] == sorted(e["seq"] for e in detail["events"])


def test_resolve_a_conflict(client: FlaskClient, legacy: LegacyLibrary) -> None:
    run_id = start_legacy(client, legacy)["id"]
    drive(client, run_id)
    (conflict,) = items(client, run_id, "?state=conflicted")
    url = f"/api/migration/items/{conflict['id']}/resolve"

    response = client.post(url, json={"strategy": "ignore"})

    assert response.status_code == 200
    assert response.get_json()["state"] == "ignored"
    assert error_of(client.post(url, json={"strategy": "ignore"}), 409)["code"] == "wrong_state"


def test_resolve_merge_puts_the_item_back_to_work(
    client: FlaskClient, legacy: LegacyLibrary
) -> None:
    run_id = start_legacy(client, legacy)["id"]
    drive(client, run_id)
    (conflict,) = items(client, run_id, "?state=conflicted")

    resolved = client.post(
        f"/api/migration/items/{conflict['id']}/resolve", json={"strategy": "merge"}
    ).get_json()

    assert (resolved["state"], resolved["strategy"]) == ("pending", "merge")
    drive(client, run_id)
    assert client.get(f"{RUNS}/{run_id}").get_json()["counts"]["conflicted"] == 0


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"strategy": "replace"}, 422),
        ({"strategy": None}, 422),
        ({}, 422),
        ({"strategy": "delete"}, 422),  # delete is for pending models, not legacy rows
    ],
)
def test_resolve_rejects_bad_strategies(
    client: FlaskClient, legacy: LegacyLibrary, body: dict[str, Any], status: int
) -> None:
    run_id = start_legacy(client, legacy)["id"]
    drive(client, run_id)
    (conflict,) = items(client, run_id, "?state=conflicted")

    error_of(client.post(f"/api/migration/items/{conflict['id']}/resolve", json=body), status)

    assert items(client, run_id, "?state=conflicted") == [conflict]


def test_resolve_of_a_promoted_item_is_a_409(client: FlaskClient, legacy: LegacyLibrary) -> None:
    run_id = start_legacy(client, legacy)["id"]
    drive(client, run_id)
    promoted = items(client, run_id, "?state=promoted")[0]

    response = client.post(
        f"/api/migration/items/{promoted['id']}/resolve", json={"strategy": "merge"}
    )

    assert error_of(response, 409)["code"] == "wrong_state"


def test_retry_of_a_promoted_item_is_a_409(client: FlaskClient, legacy: LegacyLibrary) -> None:
    run_id = start_legacy(client, legacy)["id"]
    drive(client, run_id)
    promoted = items(client, run_id, "?state=promoted")[0]

    error = error_of(client.post(f"/api/migration/items/{promoted['id']}/retry", json={}), 409)

    assert error["code"] == "wrong_state"


def test_retry_a_failed_promotion(client: FlaskClient, tmp_path: Path) -> None:
    folder = tmp_path / "models"
    folder.mkdir()
    model = folder / "gone.safetensors"
    model.write_bytes(b"weights")
    client.get(f"/api/scan?dir={folder}")
    model.unlink()
    run_id = client.post(RUNS, json={"kind": "promotion"}).get_json()["id"]
    drive(client, run_id)
    (failed,) = items(client, run_id, "?state=failed")
    assert failed["last_error_code"] == "source_missing"

    model.write_bytes(b"weights")
    retried = client.post(f"/api/migration/items/{failed['id']}/retry", json={})

    assert retried.status_code == 200
    assert retried.get_json() == {"retried": [failed["id"]]}
    drive(client, run_id)
    assert client.get(f"{RUNS}/{run_id}").get_json()["counts"]["promoted"] == 1


def test_retry_a_run_retries_every_failed_item(client: FlaskClient, tmp_path: Path) -> None:
    folder = tmp_path / "models"
    folder.mkdir()
    for name in ("a", "b"):
        (folder / f"{name}.pt").write_bytes(name.encode())
    client.get(f"/api/scan?dir={folder}")
    for file in folder.iterdir():
        file.unlink()
    run_id = client.post(RUNS, json={"kind": "promotion"}).get_json()["id"]
    drive(client, run_id)

    response = client.post(f"{RUNS}/{run_id}/retry", json={})

    assert response.status_code == 200
    assert len(response.get_json()["retried"]) == 2
    assert items(client, run_id, "?state=failed") == []
    assert client.post(f"{RUNS}/{run_id}/retry", json={}).get_json() == {"retried": []}


def test_audit_of_a_finished_run_lists_the_open_conflict(
    client: FlaskClient, legacy: LegacyLibrary
) -> None:
    run = start_legacy(client, legacy)
    while not drive(client, run["id"])["status"]["finished"]:
        pass

    report = client.get(f"{RUNS}/{run['id']}/audit")

    assert report.status_code == 200
    body = report.get_json()
    assert body["legacy_rows"] == len(legacy.rows)
    assert body["accounted"] == len(legacy.rows)
    assert body["verdict"] == "decisions_pending"
    assert [d["legacy_id"] for d in body["needs_decision"]] == [
        r.legacy_id for r in legacy.rows if r.case == "duplicate_hash"
    ][1:]


def test_audit_of_an_unknown_run_is_a_404(client: FlaskClient) -> None:
    assert error_of(client.get(f"{RUNS}/999/audit"), 404)["code"] == "not_found"
