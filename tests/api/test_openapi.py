"""The OpenAPI document describes every route, with bodies, parameters and error shapes."""

from __future__ import annotations

import re
from typing import Any

import schemathesis
from flask import Flask
from flask.testing import FlaskClient

from backend.server.openapi import build_document

HTTP_METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}


def document(client: FlaskClient) -> dict[str, Any]:
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    body: dict[str, Any] = response.get_json()
    return body


def test_every_route_is_documented_and_nothing_else(app: Flask, client: FlaskClient) -> None:
    routes = {
        (re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule), method.lower())
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/")  # the dashboard page and static files are not API
        for method in (rule.methods or set()) & HTTP_METHODS
    }

    paths = document(client)["paths"]
    documented = {(path, method) for path, ops in paths.items() for method in ops}

    assert documented == routes
    assert len(routes) == 19
    assert ("/api/migration/items/{item_id}/conflict", "get") in routes
    assert ("/api/migration/preflight", "get") in routes


def test_it_is_openapi_3_1_with_resolvable_refs(client: FlaskClient) -> None:
    doc = document(client)
    schemas = doc["components"]["schemas"]

    assert doc["openapi"] == "3.1.0"
    refs = set(re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', str(doc).replace("'", '"')))
    assert refs and refs <= set(schemas)


def test_bodies_parameters_and_errors_are_described(client: FlaskClient) -> None:
    paths = document(client)["paths"]

    migrate = paths["/api/migration/migrate_legacy_db"]["post"]
    assert migrate["requestBody"]["required"] is True
    assert {"200", "400", "403", "413", "422", "500"} <= set(migrate["responses"])
    assert "207" in paths["/api/migration/import_models"]["post"]["responses"]
    assert "201" in paths["/api/migration/runs"]["post"]["responses"]
    scan = {p["name"]: p for p in paths["/api/scan"]["get"]["parameters"]}
    assert scan["dir"]["required"] is True and scan["dir"]["schema"]["type"] == "array"
    assert scan["ext"]["required"] is False
    items = {p["name"]: p for p in paths["/api/migration/runs/{run_id}/items"]["get"]["parameters"]}
    assert set(items) == {"run_id", "state", "limit", "after", "type", "q"}
    assert items["run_id"]["in"] == "path"
    assert items["run_id"]["schema"]["maximum"] == 2**63 - 1
    conflict = paths["/api/migration/items/{item_id}/conflict"]["get"]
    assert {"200", "404", "409"} <= set(conflict["responses"])
    ok = conflict["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/ConflictPreview"}
    preflight = {p["name"]: p for p in paths["/api/migration/preflight"]["get"]["parameters"]}
    assert preflight["legacy_db_path"]["required"] and preflight["legacy_images_dir"]["required"]
    advance = paths["/api/migration/runs/{run_id}/advance"]["post"]
    assert advance["requestBody"]["required"] is True  # every POST is JSON (issue 15, CSRF)


def test_errors_share_one_schema(client: FlaskClient) -> None:
    doc = document(client)
    error_refs = {
        response["content"]["application/json"]["schema"]["$ref"]
        for ops in doc["paths"].values()
        for op in ops.values()
        for status, response in op["responses"].items()
        if status.startswith("4") or status == "500"
    }

    assert error_refs == {"#/components/schemas/ErrorResponse"}
    error = doc["components"]["schemas"]["ErrorResponse"]
    assert error["required"] == ["error"]


def test_the_strategy_enum_comes_from_the_request_model(client: FlaskClient) -> None:
    schemas = document(client)["components"]["schemas"]

    strategy = schemas["ResolveRequest"]["properties"]["strategy"]
    assert strategy["enum"] == ["override", "merge", "ignore", "delete"]
    assert schemas["AdvanceRequest"]["properties"]["batch_size"]["anyOf"][0]["maximum"] == 10_000


def test_building_is_deterministic() -> None:
    assert build_document(token_required=False) == build_document(token_required=False)


def test_schemathesis_accepts_the_document() -> None:
    for token_required in (False, True):
        schema = schemathesis.openapi.from_dict(build_document(token_required=token_required))

        schema.validate()  # the OpenAPI 3.1 meta-schema
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) == 19
