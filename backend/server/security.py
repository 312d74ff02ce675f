"""Request guards of the HTTP API: Host/Origin allow-list, Bearer token, import roots, headers.

- Host: only the names the server is bound to (loopback names plus ``Settings.allowed_hosts``,
  which ``model-migrate serve`` sets to its ``--host``) are answered, so a DNS-rebinding page
  cannot talk to a local server. ``*`` in ``allowed_hosts`` turns the check off.
- Origin: a browser request from another origin is refused (no CORS, no cross-site POSTs).
- Token: when ``Settings.api_token`` is set, every request but ``/api/health`` and the
  dashboard's data-free shell (``/`` and its static files) needs ``Authorization: Bearer <token>``.
- Import roots: when ``Settings.import_roots`` is set, every path a request names must resolve
  (symlinks followed) inside one of them; the request models call :func:`within_roots`.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from urllib.parse import urlsplit

from flask import Flask, Response, request

from backend.config import Settings
from backend.database.migration.errors import ForbiddenPathError
from backend.server.errors import HostNotAllowedError, UnauthorizedError

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
TOKEN_EXEMPT_PATHS = frozenset({"/api/health", "/"})
TOKEN_EXEMPT_PREFIX = "/dashboard/static/"
"""The dashboard page and its JS/CSS hold no data; the page sends the token on its API calls."""
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def normalize_host(name: str) -> str:
    """A host name as compared: lower case, no brackets, no trailing dot."""
    return name.strip().strip("[]").rstrip(".").lower()


def host_of(header: str) -> str:
    """The host name of a Host header value: ``[::1]:8765`` → ``::1``, ``a.b:80`` → ``a.b``."""
    value = header.strip()
    if value.startswith("["):
        return normalize_host(value.partition("]")[0])
    if value.count(":") == 1:
        value = value.partition(":")[0]
    return normalize_host(value)


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IP addresses (127.0.0.0/8, ::1)."""
    name = normalize_host(host)
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def allowed_host_names(settings: Settings) -> frozenset[str]:
    """Loopback names plus the configured ones (``*`` means any)."""
    return frozenset(normalize_host(h) for h in (*LOOPBACK_NAMES, *(settings.allowed_hosts or ())))


def within_roots(path: Path, roots: Sequence[Path] | None) -> Path:
    """``path`` resolved (symlinks followed); ForbiddenPathError when outside every root."""
    resolved = Path(os.path.realpath(path))
    if not roots:
        return resolved
    for root in roots:
        if resolved.is_relative_to(os.path.realpath(root)):
            return resolved
    raise ForbiddenPathError(f"{path} is outside the allowed import roots")


def _token_matches(header: str | None, token: str) -> bool:
    if not header:
        return False
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


def _origin_host(origin: str) -> str:
    try:
        return normalize_host(urlsplit(origin).hostname or "")
    except ValueError:  # e.g. "http://[::1" (unclosed IPv6 bracket)
        return ""


def _check_names(names: Iterable[str], allowed: frozenset[str]) -> bool:
    return "*" in allowed or all(name in allowed for name in names)


def install(app: Flask, settings: Settings) -> None:
    """Register the guards (before every request) and the security headers (after)."""
    allowed = allowed_host_names(settings)
    token = settings.api_token

    @app.before_request
    def _guard() -> None:
        host = host_of(request.host)
        if not _check_names([host], allowed):
            raise HostNotAllowedError(f"host {host!r} is not served here")
        origin = request.headers.get("Origin")
        if origin is not None:
            origin_host = _origin_host(origin)
            if not origin_host or not _check_names([origin_host], allowed):
                raise HostNotAllowedError(f"requests from origin {origin!r} are not accepted")
        exempt = request.path in TOKEN_EXEMPT_PATHS or request.path.startswith(TOKEN_EXEMPT_PREFIX)
        if token and not exempt and not _token_matches(request.headers.get("Authorization"), token):
            raise UnauthorizedError("missing or wrong API token (Authorization: Bearer …)")

    @app.after_request
    def _headers(response: Response) -> Response:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response
