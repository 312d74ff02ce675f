"""Batch sizes follow the work (time is frozen and moved by hand)."""

from __future__ import annotations

from freezegun import freeze_time

from backend.database.migration.batching import START, BatchSizer


def test_quick_full_batches_double_up_to_the_maximum() -> None:
    sizer = BatchSizer(50, target_seconds=2.0)
    with freeze_time("2026-01-01 00:00:00"):
        sizes = []
        for _ in range(9):
            sizes.append(sizer.start())
            sizer.done(sizes[-1])
    assert sizes == [1, 2, 4, 8, 16, 32, 50, 50, 50]


def test_slow_batches_halve_down_to_one() -> None:
    sizer = BatchSizer(64, target_seconds=2.0)
    with freeze_time("2026-01-01 00:00:00") as clock:
        for _ in range(3):  # quick batches first: 1, 2, 4 → 8
            sizer.done(sizer.start())
        sizes = []
        for _ in range(5):
            sizes.append(sizer.start())
            clock.tick(10)
            sizer.done(sizes[-1])
    assert sizes == [8, 4, 2, 1, 1]


def test_the_first_batch_is_one_item_so_slow_work_is_shared() -> None:
    assert START == 1
    assert BatchSizer(256).start() == 1


def test_a_partial_or_empty_batch_does_not_grow_it() -> None:
    sizer = BatchSizer(64)
    with freeze_time("2026-01-01 00:00:00"):
        for _ in range(3):  # 1, 2, 4 → 8
            sizer.done(sizer.start())
        assert sizer.start() == 8
        sizer.done(3)
        assert sizer.start() == 8
        sizer.done(0)
        assert sizer.size == 8
