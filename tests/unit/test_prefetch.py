"""Read-ahead of legacy rows (PrefetchingRows) on an in-memory reader: one query per block,
missing rows remembered, least recently used blocks dropped past the capacity."""

from __future__ import annotations

from backend.database.migration.legacy.prefetch import BLOCK, CAPACITY, PrefetchingRows
from tests.helpers.fakes import FakeLegacyReader, legacy_model

ROWS = 6 * BLOCK


def rows_over(reader: FakeLegacyReader) -> PrefetchingRows:
    return PrefetchingRows(reader)  # type: ignore[arg-type]


def make_reader(count: int = ROWS) -> FakeLegacyReader:
    return FakeLegacyReader(legacy_model(i) for i in range(1, count + 1))


def test_one_query_reads_a_whole_block_ahead() -> None:
    reader = make_reader()
    rows = rows_over(reader)
    got = [rows.get(i) for i in range(1, BLOCK + 1)]
    assert reader.queries == [list(range(1, BLOCK + 1))]
    assert got == [reader.rows[i] for i in range(1, BLOCK + 1)]


def test_a_missing_row_is_none_and_is_not_asked_for_again() -> None:
    reader = make_reader(count=10)
    rows = rows_over(reader)
    assert rows.get(5) == reader.rows[5]
    assert rows.get(11) is None  # inside the block read for 5
    assert rows.get(11) is None
    assert len(reader.queries) == 1


def test_the_least_recently_used_block_is_dropped_past_the_capacity() -> None:
    assert CAPACITY == 4 * BLOCK
    reader = make_reader()
    rows = rows_over(reader)
    starts = [1 + k * BLOCK for k in range(4)]
    for start in starts:
        rows.get(start)
    assert rows.get(1) == reader.rows[1]  # still cached: used again, now the most recent
    rows.get(1 + 4 * BLOCK)  # a fifth block: the oldest entries go
    assert len(reader.queries) == 5
    assert rows.get(1) == reader.rows[1]  # kept: it was used recently
    assert len(reader.queries) == 5
    assert rows.get(2) == reader.rows[2]  # dropped: read again
    assert len(reader.queries) == 6
    assert reader.queries[-1][0] == 2


def test_close_closes_the_reader() -> None:
    reader = make_reader(count=1)
    rows_over(reader).close()
    assert reader.closed
