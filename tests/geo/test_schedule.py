from datetime import datetime

import pytest

from geo.errors import GeoError
from geo.schedule import Schedule

# 2026-11-23 is a Monday.
MON, TUE, SAT, SUN = 23, 24, 28, 29


def at(day: int, hh: int, mm: int = 0) -> datetime:
    return datetime(2026, 11, day, hh, mm)


def test_absent_schedule_is_none_meaning_always():
    assert Schedule.parse(None) is None


def test_daytime_window_on_weekdays():
    s = Schedule.parse([{"days": [1, 2, 3, 4, 5], "start": "07:00", "end": "21:00"}])
    assert s.active(at(MON, 7, 0))
    assert s.active(at(MON, 20, 59))
    assert not s.active(at(MON, 21, 0))
    assert not s.active(at(MON, 6, 59))
    assert not s.active(at(SAT, 12))


def test_window_crossing_midnight_belongs_to_start_day():
    s = Schedule.parse([{"days": [6], "start": "22:00", "end": "06:00"}])
    assert s.active(at(SAT, 23))
    assert s.active(at(SUN, 3))  # tail of Saturday's window
    assert not s.active(at(SAT, 3))  # Friday is not in days
    assert not s.active(at(SUN, 6))
    assert not s.active(at(SUN, 23))


def test_sunday_window_tail_falls_on_monday():
    s = Schedule.parse([{"days": [7], "start": "23:00", "end": "01:00"}])
    assert s.active(at(MON, 0, 30))
    assert not s.active(at(TUE, 0, 30))


def test_full_day_and_2400():
    assert Schedule.parse([{"days": [1], "start": "00:00", "end": "24:00"}]).active(at(MON, 23, 59))
    s = Schedule.parse([{"days": [1], "start": "08:00", "end": "08:00"}])
    assert s.active(at(MON, 8)) and s.active(at(TUE, 7, 59)) and not s.active(at(TUE, 8))


@pytest.mark.parametrize("bad", [
    [{"days": [0], "start": "07:00", "end": "08:00"}],
    [{"days": [8], "start": "07:00", "end": "08:00"}],
    [{"days": [], "start": "07:00", "end": "08:00"}],
    [{"days": [1], "start": "7:00", "end": "08:00"}],
    [{"days": [1], "start": "07:60", "end": "08:00"}],
    [{"days": [1], "start": "25:00", "end": "08:00"}],
    [{"days": [1], "start": "24:00", "end": "08:00"}],
    [{"days": [1], "start": "07:00"}],
    [{"days": [1], "start": "07:00", "end": "08:00", "tz": "x"}],
    [],
    "07:00-08:00",
    [["07:00", "08:00"]],
])
def test_bad_schedules_are_refused(bad):
    with pytest.raises(GeoError):
        Schedule.parse(bad)
