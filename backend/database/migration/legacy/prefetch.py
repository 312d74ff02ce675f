"""Legacy rows for the steps, read ahead in blocks: every step of an item needs its row, and a
batch claims ids in order, so one query per block replaces four queries per item."""

from __future__ import annotations

from collections import OrderedDict

from backend.database.migration.jsonsafe import INT64_MAX
from backend.database.migration.legacy.reader import LegacyReader
from backend.database.migration.legacy.rows import LegacyModel

BLOCK = 256
CAPACITY = 4 * BLOCK


class PrefetchingRows:
    """``get(legacy_id)`` backed by a small LRU filled ``BLOCK`` ids at a time."""

    def __init__(self, reader: LegacyReader) -> None:
        self.reader = reader
        self._rows: OrderedDict[int, LegacyModel | None] = OrderedDict()

    def get(self, legacy_id: int) -> LegacyModel | None:
        """The legacy row with that id, or None when it does not exist."""
        if legacy_id not in self._rows:
            # Never past the largest 64-bit id: SQLite cannot bind a larger integer.
            block = list(range(legacy_id, min(legacy_id + BLOCK, INT64_MAX + 1)))
            found = self.reader.get_many(block)
            for key in block:
                self._rows[key] = found.get(key)
            while len(self._rows) > CAPACITY:
                self._rows.popitem(last=False)
        self._rows.move_to_end(legacy_id)
        return self._rows[legacy_id]

    def close(self) -> None:
        """Close the underlying reader."""
        self.reader.close()
