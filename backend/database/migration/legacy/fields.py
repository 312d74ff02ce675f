"""One legacy column value at a time: odd values become a warning plus the original, never a crash.

SQLite keeps whatever the v1 app (or anyone) wrote: 1.5e300 in ``created_at``, a BLOB in
``name``, bytes that are not UTF-8 in a TEXT column. Each such value gets a per-field
:class:`ItemWarning` with a code, and its original goes, losslessly, into the row's ``extra``
under ``legacy_<column>`` (bytes as hex, see :func:`jsonsafe.original`).

Codes: ``legacy_field_invalid`` (not an integer where one is needed), ``legacy_value_out_of_range``
(an integer outside what the library stores: 64-bit, sizes not negative), ``legacy_blob_value``
(a BLOB where text belongs), ``legacy_text_not_utf8`` (shown with ``\\xNN`` escapes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from backend.database.migration.jsonsafe import INT64_MAX, INT64_MIN, InvalidText, original
from backend.database.migration.records import ItemWarning

FIELD_CODES = frozenset(
    {"legacy_field_invalid", "legacy_value_out_of_range", "legacy_blob_value",
     "legacy_text_not_utf8"}
)  # fmt: skip
"""Warning codes of odd column values (counted as ``fields_invalid`` by the preflight)."""
_SHOWN = 80


def put(extra: dict[str, Any], key: str, value: Any) -> None:
    """Store ``value`` under ``key``, or ``key_2``, ``key_3``… so no user key is overwritten."""
    name, n = key, 1
    while name in extra:
        n += 1
        name = f"{key}_{n}"
    extra[name] = value


def _shown(value: Any) -> str:
    if isinstance(value, InvalidText):
        text = str(value)
    elif isinstance(value, bytes):
        text = f"x'{value.hex()}'"
    else:
        text = repr(value)
    return text if len(text) <= _SHOWN else f"{text[:_SHOWN]}…"


@dataclass
class FieldNotes:
    """Warnings and originals gathered while one row's columns are read."""

    warnings: list[ItemWarning] = field(default_factory=list)
    originals: dict[str, Any] = field(default_factory=dict)

    def note(self, code: str, column: str, value: Any, problem: str) -> None:
        """Record one odd value: a warning naming the column, and the original kept."""
        self.warnings.append(
            ItemWarning(
                code=code,
                message=f"{column} {_shown(value)} {problem}; original kept as legacy_{column}",
            )
        )
        self.originals[column] = original(value)

    def text(self, column: str, value: Any) -> str | None:
        """A text column: str as is, other scalars as text; a BLOB or bad UTF-8 escaped."""
        if value is None:
            return None
        if isinstance(value, InvalidText):
            self.note("legacy_text_not_utf8", column, value, "is not valid UTF-8 (shown escaped)")
            return str(value)
        if isinstance(value, bytes):
            try:
                decoded = value.decode("utf-8")
            except UnicodeDecodeError:
                decoded = value.decode("utf-8", errors="backslashreplace")
            self.note("legacy_blob_value", column, value, "is a BLOB, read as text")
            return decoded
        return str(value)

    def integer(self, column: str, value: Any, *, minimum: int = INT64_MIN) -> int | None:
        """An integer column within ``minimum``..2**63-1; anything else is None plus a note."""
        if value is None:
            return None
        number = _as_int(value)
        if number is None:
            self.note("legacy_field_invalid", column, value, "is not an integer")
            return None
        if not minimum <= number <= INT64_MAX:
            self.note(
                "legacy_value_out_of_range",
                column,
                value,
                f"is outside {minimum}..{INT64_MAX}",
            )
            return None
        return number

    def json_text(self, column: str, value: Any) -> str | None:
        """A JSON column's text to parse: bad UTF-8 or a BLOB is decoded with U+FFFD for
        parsing, and the exact bytes are kept as the original."""
        if value is None or (isinstance(value, str) and not isinstance(value, InvalidText)):
            return value
        raw = value.raw if isinstance(value, InvalidText) else value
        if not isinstance(raw, bytes):
            return str(value)
        code = "legacy_text_not_utf8" if isinstance(value, InvalidText) else "legacy_blob_value"
        self.note(code, column, value, "is not valid UTF-8 text (parsed with U+FFFD)")
        return raw.decode("utf-8", errors="replace")


def _as_int(value: Any) -> int | None:
    """``value`` as an integer: ints as they are, finite numbers (or number text) truncated as
    the v1 app did; a BLOB, other text, NaN or an infinity is None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and not isinstance(value, InvalidText):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            try:
                value = float(text)
            except ValueError:
                return None
    if isinstance(value, float) and math.isfinite(value):
        return int(value)
    return None
