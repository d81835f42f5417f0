"""The collector's pauses are measured and long ones logged (keywatch.process.tune_gc)."""

from __future__ import annotations

import gc
import logging

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
