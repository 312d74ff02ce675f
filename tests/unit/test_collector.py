"""The collector's young threshold is raised while loops of batches run, and restored after."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import pytest

from workflows.collector import BATCH_THRESHOLD, batch_collections


@pytest.fixture(autouse=True)
def default_thresholds() -> Iterator[None]:
    saved = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield
    gc.set_threshold(*saved)


def test_the_young_threshold_is_raised_inside_and_restored_after() -> None:
    with batch_collections():
        assert gc.get_threshold() == (BATCH_THRESHOLD, 10, 10)
    assert gc.get_threshold() == (700, 10, 10)


def test_a_failing_loop_restores_the_thresholds() -> None:
    with pytest.raises(RuntimeError), batch_collections():
        raise RuntimeError("batch failed")
    assert gc.get_threshold() == (700, 10, 10)


def test_a_higher_threshold_of_the_process_is_kept() -> None:
    gc.set_threshold(BATCH_THRESHOLD * 2, 5, 5)
    with batch_collections():
        assert gc.get_threshold() == (BATCH_THRESHOLD * 2, 5, 5)
    assert gc.get_threshold() == (BATCH_THRESHOLD * 2, 5, 5)


def test_thresholds_come_back_when_the_last_of_concurrent_loops_ends() -> None:
    inside = threading.Event()
    leave = threading.Event()
    seen: list[tuple[int, int, int]] = []

    def other_loop() -> None:
        with batch_collections():
            inside.set()
            leave.wait(timeout=10)
            seen.append(gc.get_threshold())

    thread = threading.Thread(target=other_loop)
    thread.start()
    assert inside.wait(timeout=10)
    with batch_collections():
        pass
    # This loop ended first: the other one still runs with the raised threshold.
    assert gc.get_threshold() == (BATCH_THRESHOLD, 10, 10)
    leave.set()
    thread.join(timeout=10)
    assert seen == [(BATCH_THRESHOLD, 10, 10)]
    assert gc.get_threshold() == (700, 10, 10)
