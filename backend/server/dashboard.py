"""The migration dashboard: one HTML page at ``/`` plus its static JS and CSS.

No database access and no service calls here: the page is a shell, and ``static/dashboard.js``
reads and drives the migration through the public JSON API (``/api/migration/...``) only.
"""

from __future__ import annotations

from flask import Blueprint, Response, render_template

PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
"""The page's Content-Security-Policy: its own scripts, styles and API only (the API's
responses keep the stricter default from ``security.py``)."""

bp = Blueprint(
    "dashboard",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/dashboard/static",
)


@bp.get("/")
def page() -> Response:
    response = Response(render_template("dashboard.html"), mimetype="text/html")
    response.headers["Content-Security-Policy"] = PAGE_CSP
    return response
