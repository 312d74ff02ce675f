"""The migration dashboard: one HTML page at ``/``, its static JS and CSS, and read-only images.

The page is a shell: ``static/dashboard.js`` reads and drives the migration through the public
JSON API (``/api/migration/...``) only. The one thing it cannot get as JSON is pictures, so
``/dashboard/images/<ref>`` serves the image references the API returns, read-only:

- ``images/<sha256>_<seq>_<high|medium|low>.webp`` — a published tier, from the images folder;
- ``pending/<file>`` — an original of a pending model, from images/pending;
- ``legacy/<run>/<path>`` — an image inside that legacy run's images folder.

Names are checked by pattern, the file must resolve (symlinks followed) inside its folder and
be a regular image file; anything else is a 404. These routes need the API token like the API.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from flask import Blueprint, Response, abort, render_template, send_file

from backend.database.migration.errors import MigrationError
from backend.server.state import api_state

PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' blob:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
"""The page's Content-Security-Policy: its own scripts, styles and API only (the API's
responses keep the stricter default from ``security.py``). Thumbnails are fetched with the
token and shown as ``blob:`` URLs."""

TIER_FILE = re.compile(r"[0-9a-f]{64}_[0-9]{1,6}_(?:high|medium|low)\.webp")
IMAGE_TYPES = {
    ".webp": "image/webp",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".bmp": "image/bmp",
}

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


def image_file(folder: Path, relative: str) -> Path | None:
    """``folder/relative`` when it is an image file that resolves inside ``folder``."""
    parts = relative.split("/")
    if any(not p or p.startswith(".") or "\\" in p or "\x00" in p for p in parts):
        return None
    if Path(relative).suffix.lower() not in IMAGE_TYPES:
        return None
    root = os.path.realpath(folder)
    real = os.path.realpath(os.path.join(root, relative))
    if not real.startswith(root.rstrip(os.sep) + os.sep) or not os.path.isfile(real):
        return None
    return Path(real)


def _legacy_folder(run_id: str) -> Path | None:
    if not run_id.isdigit() or len(run_id) > 18:
        return None
    try:
        options = api_state().service.get_run(int(run_id)).options
    except MigrationError:
        return None
    folder = options.get("images_dir")
    return Path(folder) if folder else None


@bp.get("/dashboard/images/<path:ref>")
def image(ref: str) -> Response:
    """One image by reference (see the module docstring); 404 for anything else."""
    settings = api_state().settings
    kind, _, rest = ref.partition("/")
    found: Path | None = None
    if kind == "images" and TIER_FILE.fullmatch(rest):
        found = image_file(settings.images_dir, rest)
    elif kind == "pending" and "/" not in rest:
        found = image_file(settings.pending_images_dir, rest)
    elif kind == "legacy":
        run_id, _, relative = rest.partition("/")
        folder = _legacy_folder(run_id)
        found = image_file(folder, relative) if folder is not None else None
    if found is None:
        abort(404)
    response = send_file(found, mimetype=IMAGE_TYPES[found.suffix.lower()], max_age=0)
    response.headers["Content-Disposition"] = "inline"
    return response
