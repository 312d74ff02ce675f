"""Look-ups in the factory's CASES library: one row of a case, the hash kind the reader reports."""

from __future__ import annotations

from backend.database.migration.types import V1_ALIASES
from backend.sample.legacy_factory import LegacyLibrary, LegacyRowSpec

EXPECTED_KIND = {"uppercase_hash": "uppercase", "garbage_hash": "invalid", "empty_hash": "missing"}


def only(lib: LegacyLibrary, case: str) -> LegacyRowSpec:
    """The single legacy row of ``case``."""
    rows = lib.by_case(case)
    assert len(rows) == 1
    return rows[0]


def typed(type_: str) -> dict[str, str]:
    """The ``extra`` a legacy type adds in the library when its v2 type differs (no
    types_cache.json: only the v1 aliases change)."""
    return {"legacy_type": type_} if type_ in V1_ALIASES else {}
