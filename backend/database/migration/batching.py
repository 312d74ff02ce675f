"""Batch sizes that follow the work: large batches for fast items, small ones for slow items.

A batch of slow items (big images, big files) claimed by one worker keeps it busy while the
other workers starve at the end of a run; a batch of fast items that is too small pays the
commit and claim overhead too often. The sizer aims at ``target_seconds`` per batch, and
starts at one item: the first batch measures the work, so a run of a few huge files (each
seconds of hashing) is shared between workers instead of claimed whole by the first one,
while a run of fast items reaches the maximum after a few doublings.
"""

from __future__ import annotations

import time

START = 1


class BatchSizer:
    """Doubles the batch while batches are quick, halves it while they are slow."""

    def __init__(self, maximum: int, *, target_seconds: float = 2.0) -> None:
        self.maximum = maximum
        self.target_seconds = target_seconds
        self.size = min(START, maximum)
        self._started = 0.0

    def start(self) -> int:
        """Call before a batch; returns how many items to claim."""
        self._started = time.perf_counter()
        return self.size

    def done(self, handled: int) -> None:
        """Call after a batch with the number of items it handled."""
        if handled == 0:
            return
        elapsed = time.perf_counter() - self._started
        if elapsed < self.target_seconds / 2 and handled >= self.size:
            self.size = min(self.maximum, self.size * 2)
        elif elapsed > self.target_seconds * 2:
            self.size = max(1, self.size // 2)
