"""``rules.batch.Columns``: what rules derive over a whole ingest batch at once
(``Batch.derived`` / ``Batch.any_derived``) must be, for every vehicle, exactly what
the same computation over that vehicle's own fixes gives -- with vehicles that have
no new fix anywhere in the batch, and with a batch that spans a change of UTC offset
(each vehicle then works out its local time itself)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from rules.batch import VehicleInput, build_batches
from rules.speeding import in_window
from rules.types import Fix


def _inputs(plan: list[list[tuple[int, float]]], start: datetime, tz: ZoneInfo
            ) -> list[VehicleInput]:
    """One vehicle per entry: (seconds after ``start``, speed) of each new fix."""
    return [VehicleInput([Fix(f"d{v}", start + timedelta(seconds=t), 36.0, 120.0, speed=speed)
                          for t, speed in fixes], [], [], {"ts": start.timestamp() - 60},
                         5.0, 50.0, tz)
            for v, fixes in enumerate(plan)]


PLAN = [[], [(0, 30.0), (10, 0.0)], [], [(400, 0.0)], [(5, 50.0), (900, 40.0), (910, 0.0)], []]


@pytest.mark.parametrize("start", [
    datetime(2026, 11, 26, 13, 0, tzinfo=UTC),  # one offset over the batch
    datetime(2026, 3, 29, 0, 55, tzinfo=UTC),  # Berlin leaves CET at 01:00 UTC
])
def test_derived_columns_equal_each_vehicles_own(start):
    tz = ZoneInfo("Europe/Berlin")
    batches = build_batches(_inputs(PLAN, start, tz))
    for seconds in (30.0, 300.0, 600.0):
        key = ("gap>=", seconds)
        for batch in batches:
            own = batch.cache["gaps"] >= seconds
            assert batch.derived(key, lambda a, s=seconds: a["gaps"] >= s).tolist() == own.tolist()
            assert batch.any_derived(key, lambda a, s=seconds: a["gaps"] >= s) == bool(own.any())
    key = ("local_sod", "window", "01:30", "02:30")
    for batch in batches:
        own = in_window(batch.local_sod, "01:30", "02:30")
        got = batch.derived(key, lambda a: in_window(a["local_sod"], "01:30", "02:30"))
        assert got.tolist() == own.tolist()
        moving = batch.any_derived(
            (*key, "moving"), lambda a: in_window(a["local_sod"], "01:30", "02:30") & a["moving"])
        assert moving == bool((own & batch.moving).any())
    # the usable-fix index takes its short way only where every fix is usable
    assert [b.use_index.tolist() for b in batches] == [np.flatnonzero(b.usable).tolist()
                                                       for b in batches]


def test_across_the_offset_change_each_fix_has_its_own_local_time():
    """(So the second case above does take the per-vehicle way.) 00:55 UTC is 01:55
    CET; 01:10 UTC is 03:10 CEST -- with the first offset for the whole batch it would
    pass for 02:10, inside 02:00-03:00, a local hour that did not exist that night."""
    tz = ZoneInfo("Europe/Berlin")
    batches = build_batches(_inputs(PLAN, datetime(2026, 3, 29, 0, 55, tzinfo=UTC), tz))
    assert len({f.ts.astimezone(tz).utcoffset() for b in batches for f in b.fixes}) == 2
    inside = [b.derived(("local_sod", "w"), lambda a: in_window(a["local_sod"], "02:00", "03:00"))
              .tolist() for b in batches]
    assert inside[4] == [False, False, False]
    assert inside[1] == [False, False]
