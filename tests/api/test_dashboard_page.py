"""The dashboard page at ``/``: HTML that loads one same-origin JS file, served with its CSP."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from flask.testing import FlaskClient
from PIL import Image

from backend.server.dashboard import PAGE_CSP


def test_the_page_is_html_that_loads_the_script(client: FlaskClient) -> None:
    response = client.get("/")

    assert response.status_code == 200
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    scripts = re.findall(r'<script src="([^"]+)"', html)
    assert scripts == ["/dashboard/static/dashboard.js"]
    assert 'href="/dashboard/static/dashboard.css"' in html
    for testid in ("legacy-form", "runs-table", "advance-batch", "state-filter", "error"):
        assert f'data-testid="{testid}"' in html
    assert "<script>" not in html  # no inline script: the CSP would block it


def test_the_page_csp_allows_only_its_own_script_style_and_api(client: FlaskClient) -> None:
    page = client.get("/").headers["Content-Security-Policy"]
    api = client.get("/api/health").headers["Content-Security-Policy"]

    assert page == PAGE_CSP
    assert "script-src 'self'" in page and "connect-src 'self'" in page
    assert "unsafe-inline" not in page and "unsafe-eval" not in page
    assert "frame-ancestors 'none'" in page
    assert api == "default-src 'none'; frame-ancestors 'none'"  # the API keeps the strict one


def test_the_static_files_are_served(client: FlaskClient) -> None:
    with client.get("/dashboard/static/dashboard.js") as js:
        assert js.status_code == 200 and "javascript" in js.mimetype
        assert "/api/migration/runs" in js.get_data(as_text=True)
    with client.get("/dashboard/static/dashboard.css") as css:
        assert css.status_code == 200 and css.mimetype == "text/css"
    assert client.get("/dashboard/static/missing.js").status_code == 404


def test_with_a_token_only_the_page_shell_is_open(make_client: Callable[..., FlaskClient]) -> None:
    client = make_client(api_token="t0ken")

    assert client.get("/").status_code == 200
    with client.get("/dashboard/static/dashboard.js") as js:
        assert js.status_code == 200
    assert client.get("/api/migration/runs").status_code == 401
    auth = {"Authorization": "Bearer t0ken"}
    assert client.get("/api/migration/runs", headers=auth).status_code == 200


def test_the_readme_shows_screenshots_of_the_models_and_the_conflict_views() -> None:
    root = Path(__file__).resolve().parents[2]
    readme = (root / "README.md").read_text()

    for name in ("dashboard.png", "items.png", "conflict.png"):
        shot = root / "docs" / name
        assert f"(docs/{name})" in readme
        with Image.open(shot) as image:
            assert image.format == "PNG"
            assert image.width >= 1000 and image.height >= 600
    assert "make screenshots" in readme


def test_the_page_documents_its_keys_and_sends_json_posts(client: FlaskClient) -> None:
    html = client.get("/").get_data(as_text=True)
    with client.get("/dashboard/static/core.js") as core:
        script = core.get_data(as_text=True)

    assert 'data-testid="conflict-keys"' in html and "<kbd>Esc</kbd>" in html
    assert 'headers["Content-Type"] = "application/json"' in script
    assert 'method === "GET" ? undefined : JSON.stringify' in script
