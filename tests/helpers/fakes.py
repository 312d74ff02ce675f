"""In-memory fakes of what service logic talks to, for unit tests without files or a database.

``FakeLegacyReader`` stands in for ``LegacyReader`` (a legacy library's rows by id) and records
every query; ``legacy_model`` builds a valid legacy row with the fields a test cares about.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from backend.database.migration.legacy.rows import LegacyModel


def legacy_model(legacy_id: int, **fields: Any) -> LegacyModel:
    """A legacy row with a valid hash; ``fields`` override the defaults."""
    sha = f"{legacy_id:064x}"
    values: dict[str, Any] = {
        "legacy_id": legacy_id,
        "path": f"/models/loras/model_{legacy_id}.safetensors",
        "name": f"model {legacy_id}",
        "type": "lora",
        "hash_raw": sha,
        "hash_kind": "valid",
        "sha256": sha,
        "created_at": 1_700_000_000_000 + legacy_id,
    }
    return LegacyModel(**{**values, **fields})


class FakeLegacyReader:
    """A legacy library in memory: the reader's row access, each ``get_many`` query recorded."""

    def __init__(self, rows: Iterable[LegacyModel]) -> None:
        self.rows = {row.legacy_id: row for row in rows}
        self.queries: list[list[int]] = []
        self.closed = False

    def get_many(self, ids: Sequence[int]) -> dict[int, LegacyModel]:
        """The rows among ``ids`` that exist (one recorded query)."""
        self.queries.append(list(ids))
        return {i: self.rows[i] for i in ids if i in self.rows}

    def get(self, legacy_id: int) -> LegacyModel | None:
        """One row, or None."""
        return self.get_many([legacy_id]).get(legacy_id)

    def ids(self) -> list[int]:
        """Every legacy id, ascending."""
        return sorted(self.rows)

    def count(self) -> int:
        """How many rows there are."""
        return len(self.rows)

    def close(self) -> None:
        """Remember that it was closed."""
        self.closed = True
