"""The one place that maps errors to HTTP: ``{"error": {"code", "message"}}`` plus a status.

Domain errors (``MigrationError``), request validation errors (pydantic), the HTTP layer's own
refusals (``ApiError``: bad body, token, host) and Werkzeug's routing errors (404, 405, 413) all
end here. Anything else is a bug: it is logged and answered with a JSON 500.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify
from pydantic import BaseModel, ConfigDict, ValidationError
from werkzeug.exceptions import HTTPException

from backend.database.migration.errors import (
    ForbiddenPathError,
    InvalidInputError,
    MigrationError,
    NotFoundError,
    WrongStateError,
)

log = logging.getLogger(__name__)

DOMAIN_STATUS: tuple[tuple[type[MigrationError], int], ...] = (
    (NotFoundError, 404),
    (WrongStateError, 409),
    (ForbiddenPathError, 403),
    (InvalidInputError, 422),  # LegacyDatabaseError included
)
"""Domain error → status, most specific first."""

HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}
MAX_REPORTED_ISSUES = 10


class ErrorDetail(BaseModel):
    """What went wrong: a stable machine-readable ``code`` and a message for people."""

    model_config = ConfigDict(extra="forbid")

    code: str
    message: str


class ErrorResponse(BaseModel):
    """The body of every 4xx and 5xx response."""

    model_config = ConfigDict(extra="forbid")

    error: ErrorDetail


class ApiError(Exception):
    """A refusal by the HTTP layer itself (not a domain error): carries its status and code."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class MalformedBodyError(ApiError):
    """The body is not JSON, not UTF-8, nested too deep, or sent with a non-JSON content type."""

    code = "malformed_body"


class UnauthorizedError(ApiError):
    """The API token is required and was missing or wrong."""

    status = 401
    code = "unauthorized"


class HostNotAllowedError(ApiError):
    """The Host (or Origin) header names a host this server was not bound to."""

    status = 403
    code = "host_not_allowed"


class UnsupportedMediaTypeError(ApiError):
    """A POST without ``Content-Type: application/json`` (what HTML forms and simple cross-site
    requests send)."""

    status = 415
    code = "unsupported_media_type"


class CrossSiteError(ApiError):
    """A browser's cross-site request to an endpoint that changes state."""

    status = 403
    code = "cross_site_request"


def error_response(status: int, code: str, message: str) -> tuple[Response, int]:
    """The JSON error body every failure uses."""
    body = ErrorResponse(error=ErrorDetail(code=code, message=message))
    return jsonify(body.model_dump(mode="json")), status


def domain_status(exc: MigrationError) -> int:
    """HTTP status of a domain error; unmapped ones are server errors."""
    for kind, status in DOMAIN_STATUS:
        if isinstance(exc, kind):
            return status
    return 500


def describe_validation(exc: ValidationError) -> str:
    """One line per problem, e.g. ``batch_size: Input should be less than or equal to 10000``."""
    issues = exc.errors(include_url=False, include_input=False, include_context=False)
    lines = []
    for issue in issues[:MAX_REPORTED_ISSUES]:
        where = ".".join(str(part) for part in issue["loc"])
        message = issue["msg"].removeprefix("Value error, ")
        lines.append(f"{where}: {message}" if where else message)
    if len(issues) > MAX_REPORTED_ISSUES:
        lines.append(f"... and {len(issues) - MAX_REPORTED_ISSUES} more")
    return "; ".join(lines)


def register(app: Flask) -> None:
    """Install the error handlers on ``app``."""

    @app.errorhandler(MigrationError)
    def _domain(exc: MigrationError) -> tuple[Response, int]:
        status = domain_status(exc)
        if status == 500:
            log.error("unmapped domain error %s: %s", exc.code, exc.message)
        return error_response(status, exc.code, exc.message)

    @app.errorhandler(ValidationError)
    def _validation(exc: ValidationError) -> tuple[Response, int]:
        return error_response(422, "validation_error", describe_validation(exc))

    @app.errorhandler(ApiError)
    def _api(exc: ApiError) -> tuple[Response, int] | tuple[Response, int, dict[str, str]]:
        if isinstance(exc, UnauthorizedError):
            body, status = error_response(exc.status, exc.code, exc.message)
            return body, status, {"WWW-Authenticate": 'Bearer realm="model-migrate"'}
        return error_response(exc.status, exc.code, exc.message)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        status = exc.code or 500
        body, _ = error_response(
            status, HTTP_CODES.get(status, f"http_{status}"), exc.description or exc.name
        )
        body.status_code = status
        for name, value in exc.get_headers():
            if name.lower() != "content-type":
                body.headers[name] = value
        return body

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> tuple[Response, int]:
        log.exception("unexpected error while handling a request")
        return error_response(500, "internal_error", "unexpected server error; see the log")
