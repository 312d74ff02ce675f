"""Request guards of the HTTP API: Host/Origin allow-list, Bearer token, import roots, headers.

- Host: only the names the server is bound to (loopback names plus ``Settings.allowed_hosts``,
  which ``model-migrate serve`` sets to its ``--host``) are answered, so a DNS-rebinding page
  cannot talk to a local server. ``*`` in ``allowed_hosts`` turns the check off.
- Origin: a present ``Origin`` must be this server's origin: same scheme, host AND port (a page
  on another ``localhost:PORT`` is another origin). No CORS.
- Content type: every POST needs ``Content-Type: application/json`` (415 otherwise), so no
  HTML form and no "simple" cross-site ``fetch`` can reach a state-changing endpoint.
- Fetch metadata: ``GET /api/scan`` changes state (the v2 contract keeps it a GET), so a browser
  request marked ``Sec-Fetch-Site: cross-site``/``same-site`` is refused; same-origin pages and
  non-browser callers (which send no ``Sec-Fetch-Site``) pass.
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
from backend.database.migration.scan import inside_roots
from backend.server.errors import (
    CrossSiteError,
    HostNotAllowedError,
    UnauthorizedError,
    UnsupportedMediaTypeError,
)

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
JSON_MIMETYPE = "application/json"
STATE_CHANGING_GETS = frozenset({"/api/scan"})
"""GET endpoints that write (kept as GET for the v2 contract): no cross-site browser requests."""
CROSS_SITE_FETCHES = frozenset({"cross-site", "same-site"})
DEFAULT_PORTS = {"http": 80, "https": 443}
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
    if inside_roots(resolved, roots):
        return resolved
    raise ForbiddenPathError(f"{path} is outside the allowed import roots")


def _token_matches(header: str | None, token: str) -> bool:
    if not header:
        return False
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


Origin = tuple[str, str, int]
"""(scheme, host, port) as compared."""


def origin_of(origin: str) -> Origin | None:
    """``http://localhost:8765`` → ``("http", "localhost", 8765)``; None when unparsable."""
    try:
        parts = urlsplit(origin.strip())
        scheme = parts.scheme.lower()
        port = parts.port or DEFAULT_PORTS.get(scheme)
        host = normalize_host(parts.hostname or "")
    except ValueError:  # e.g. "http://[::1" (unclosed IPv6 bracket), a port out of range
        return None
    if not host or port is None:
        return None
    return scheme, host, port


def server_origin(scheme: str, host_header: str) -> Origin | None:
    """The origin a page served by this request's server has (scheme, Host, port)."""
    return origin_of(f"{scheme}://{host_header.strip()}")


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
            given = origin_of(origin)
            if given is None or given != server_origin(request.scheme, request.host):
                raise HostNotAllowedError(f"requests from origin {origin!r} are not accepted")
        if request.method == "GET" and request.path in STATE_CHANGING_GETS:
            site = request.headers.get("Sec-Fetch-Site", "").strip().lower()
            if site in CROSS_SITE_FETCHES:
                raise CrossSiteError(f"{request.path} refuses {site} browser requests")
        exempt = request.path in TOKEN_EXEMPT_PATHS or request.path.startswith(TOKEN_EXEMPT_PREFIX)
        if token and not exempt and not _token_matches(request.headers.get("Authorization"), token):
            raise UnauthorizedError("missing or wrong API token (Authorization: Bearer …)")
        if request.method == "POST" and request.mimetype != JSON_MIMETYPE:
            given_type = request.content_type or "none"
            raise UnsupportedMediaTypeError(
                f"POST needs Content-Type: {JSON_MIMETYPE} (got {given_type}); send {{}} "
                "when there is nothing to say"
            )

    @app.after_request
    def _headers(response: Response) -> Response:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response
