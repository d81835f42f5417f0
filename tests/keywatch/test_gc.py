"""The collector's pauses are measured and long ones logged (keywatch.process.tune_gc)."""

from __future__ import annotations

import gc
import logging
import os

import pytest

from keywatch import process


@pytest.fixture
def tuned():
    threshold = gc.get_threshold()
    process.tune_gc()
    yield
    gc.callbacks.remove(process._time_gc)
    gc.unfreeze()
    gc.set_threshold(*threshold)


def _pauses(generation: str) -> float:
    """How many collections of ``generation`` the histogram has counted."""
    return sum(s.value for m in process.GC_PAUSE_SECONDS.collect() for s in m.samples
               if s.name.endswith("_count") and s.labels.get("generation") == generation)


def test_every_collection_is_timed_and_tuning_twice_times_it_once(tuned):
    process.tune_gc()  # idempotent: one callback, not two
    assert gc.callbacks.count(process._time_gc) == 1
    before = _pauses("2")
    gc.collect()
    assert _pauses("2") == before + 1
    gc.collect(0)
    assert _pauses("0") >= 1


def test_a_long_pause_is_logged_with_its_generation(tuned, monkeypatch, caplog):
    monkeypatch.setattr(process, "SLOW_GC_S", 0.0)
    with caplog.at_level(logging.WARNING, logger="keywatch.process"):
        gc.collect(1)
    assert any("generation 1" in r.getMessage() and "paused the process" in r.getMessage()
               for r in caplog.records)


def test_freed_but_fragmented_heap_memory_is_given_back():
    """200 MB of 1 KB blocks (glibc's heap, not Python's small-object arenas), 1 in 100
    kept: the rest is free but pinned behind the survivors until trimmed."""
    blocks = [bytearray(1024) for _ in range(200_000)]
    keep = blocks[::100]
    del blocks
    before = process.rss_mb(os.getpid())
    assert process.release_free_memory() is True
    assert before - process.rss_mb(os.getpid()) > 100, "the freed blocks stayed resident"
    assert len(keep) == 2000
