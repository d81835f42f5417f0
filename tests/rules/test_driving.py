from datetime import timedelta

from rules.engine import RuleEngine
from tests.rules.helpers import PARAMS, T0, context, fix, run, tacho


def drive(ctx, start, end, step=60, speed=50.0):
    return [fix(ctx, t, speed=speed) for t in range(start, end, step)]


def stop(ctx, start, end, step=60):
    return [fix(ctx, t, speed=0.0) for t in range(start, end, step)]


def hours(h):
    return int(h * 3600)


def _fatigue_batches(ctx):
    batches = [drive(ctx, hours(k), hours(k + 0.5)) for k in (0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5)]
    return batches + [drive(ctx, hours(4), hours(4.5)), stop(ctx, hours(4.5), hours(4.5) + 1260)]


def test_fatigue_opens_after_4_h_and_closes_on_a_20_min_rest():
    ctx = context("freight")
    st, ev = run(ctx, _fatigue_batches(ctx), only="fatigue_driving")
    # No early warning by default: only an exceeded limit is an incident (contract 5).
    assert all(e == [] for e in ev[:8])
    (opened,) = ev[8]
    assert opened.action == "open" and opened.ts == T0 + timedelta(seconds=hours(4) + 60)
    (closed,) = ev[9]
    assert closed.action == "close" and closed.ts == T0 + timedelta(seconds=hours(4.5))
    assert "fatigue_driving" not in st["rules"]


def test_fatigue_early_warning_when_configured():
    params = PARAMS.with_overrides({"class": {"freight": {"fatigue_driving": {
        "warn_before_s": 1200}}}})
    ctx = context("freight", params=params)
    _, ev = run(ctx, _fatigue_batches(ctx), only="fatigue_driving")
    assert all(e == [] for e in ev[:7])
    (warn,) = ev[7]
    assert (warn.action, warn.severity) == ("instant", "info")
    assert warn.ts == T0 + timedelta(seconds=hours(4) - 1200 + 60)
    assert [e.action for e in ev[8]] == ["open"]


def test_short_stops_do_not_reset_but_a_20_min_rest_does():
    ctx = context("freight")
    # 3 h driving, 19 min stop, 1.5 h driving: 4.5 h of driving -> fires.
    short = drive(ctx, 0, hours(3)) + stop(ctx, hours(3), hours(3) + 1140) + \
        drive(ctx, hours(3) + 1140, hours(4.5) + 1140)
    _, ev = run(ctx, [short], only="fatigue_driving")
    assert [e.action for e in ev[0]] == ["open"]
    # Near miss: 3 h driving, 20 min rest, 1.5 h driving.
    rest = drive(ctx, 0, hours(3)) + stop(ctx, hours(3), hours(3) + 1260) + \
        drive(ctx, hours(3) + 1260, hours(4.5) + 1260)
    _, ev = run(ctx, [rest], only="fatigue_driving")
    assert ev == [[]]


def test_relay_driver_starts_fresh():
    ctx = context("coach")
    a = (drive(ctx, 0, hours(3)), [tacho(-10, "driver_login", driver="A")])
    b = (drive(ctx, hours(3), hours(5)), [tacho(hours(3) - 5, "driver_logout", driver="A"),
                                          tacho(hours(3) - 1, "driver_login", driver="B")])
    st, ev = run(ctx, [a, b], only="fatigue_driving")
    assert ev == [[], []]
    assert st["rules"]["fatigue_driving"]["cur"] == "B"
    # Without the relay the same 5 h fires for the vehicle.
    _, ev = run(ctx, [drive(ctx, 0, hours(5))], only="fatigue_driving")
    assert [(e.action, e.key) for e in ev[0]] == [("open", "")]


def test_coach_at_night_limit_is_2_h():
    ctx = context("coach")
    night = hours(12)  # 22:00 local
    _, ev = run(ctx, [drive(ctx, night, night + hours(2.2))], only="fatigue_driving")
    assert [e.action for e in ev[0]] == ["open"]
    _, ev = run(context("freight"), [drive(ctx, night, night + hours(2.2))],
                only="fatigue_driving")
    assert ev == [[]]


def test_fatigue_tick_extrapolates_only_while_data_is_fresh():
    ctx = context("freight")
    engine = RuleEngine()
    st, _ = engine.process({}, drive(ctx, 0, hours(4) - 60), [], ctx)
    later = T0 + timedelta(seconds=hours(4) + 60)
    st2, ev = engine.tick(st, later, ctx)
    assert [(e.rule, e.action) for e in ev if e.rule == "fatigue_driving"] == [
        ("fatigue_driving", "open")]
    much_later = T0 + timedelta(seconds=hours(5))
    _, ev = engine.tick(st, much_later, ctx)
    assert [e for e in ev if e.rule == "fatigue_driving"] == []
    _, ev = engine.tick(st2, much_later, ctx)
    assert [(e.rule, e.action) for e in ev if e.rule == "fatigue_driving"] == [
        ("fatigue_driving", "close")]


def test_daily_driving_limit_over_8_h_in_24_h():
    ctx = context("freight")
    # Four 2 h 10 min stints with 1 h rests: 8 h 40 min of driving in 11 h 40 min.
    batches, t = [], 0
    for _ in range(4):
        batches.append(drive(ctx, t, t + hours(2) + 600))
        batches.append(stop(ctx, t + hours(2) + 600, t + hours(3) + 600))
        t += hours(3) + 600
    st, ev = run(ctx, batches, only="daily_driving_limit")
    opened = [e for batch in ev for e in batch]
    assert [e.action for e in opened] == ["open"]
    assert opened[0].details["driving_s"] > 8 * 3600
    assert ev.index([opened[0]]) == 6
    # Near miss: 7.5 h.
    _, ev = run(ctx, [drive(ctx, 0, hours(7.5))], only="daily_driving_limit")
    assert ev == [[]]


def test_night_driving_for_coach_and_hazmat_only():
    night = hours(16.5)  # 02:30 local next day
    ctx = context("hazmat")
    st, ev = run(ctx, [drive(ctx, night, night + 600, step=30),
                       drive(ctx, night + hours(2.5), night + hours(2.6), step=30)],
                 only="night_driving")
    assert [e.action for e in ev[0]] == ["open"]
    assert [e.action for e in ev[1]] == ["close"]
    assert run(context("freight"), [drive(ctx, night, night + 600, step=30)],
               only="night_driving")[1] == [[]]
    # Near miss: parked with the engine idling, and driving at 01:59.
    assert run(ctx, [stop(ctx, night, night + 600)], only="night_driving")[1] == [[]]
    early = hours(15) + 2340
    assert run(ctx, [drive(ctx, early, early + 60, step=20)], only="night_driving")[1] == [[]]


def _stints(ctx, plan):
    """``plan``: (driver, hours driving); 30 min stops between stints, each driver
    logging in before their stint and out after it."""
    batches, t = [], 0
    for driver, h in plan:
        login = [tacho(t - 5, "driver_login", driver=driver)] if driver else []
        batches.append((drive(ctx, t, t + hours(h)), login))
        t += hours(h)
        logout = [tacho(t + 5, "driver_logout", driver=driver)] if driver else []
        batches.append((stop(ctx, t, t + 1800), logout))
        t += 1800
    return batches


def test_daily_driving_limit_per_driver_with_cards():
    ctx = context("coach")
    # A and B share the coach: 12 h 30 min of driving for the vehicle in 14 h,
    # but A drives 7 h 40 min and B 4 h 50 min -> nobody is over 8 h ...
    plan = [("A", 3.5), ("B", 3.5), ("A", 3.5), ("B", 1.35), ("A", 0.65)]
    st, ev = run(ctx, _stints(ctx, plan), only="daily_driving_limit")
    assert [e for batch in ev for e in batch] == []
    assert set(st["rules"]["daily_driving_limit"]["drivers"]) == {"A", "B"}
    # ... until A drives on: 8 h 10 min for A, opened under A's key.
    st, ev = run(ctx, _stints(ctx, [*plan[:-1], ("A", 1.2)]), only="daily_driving_limit")
    opened = [e for batch in ev for e in batch]
    assert [(e.action, e.key) for e in opened] == [("open", "A")]
    assert opened[0].details["driving_s"] > hours(8)
    # Without cards the same driving is the vehicle's, and fires.
    _, ev = run(ctx, _stints(ctx, [("", h) for _, h in plan]), only="daily_driving_limit")
    assert [(e.action, e.key) for batch in ev for e in batch] == [("open", "")]


def test_daily_driving_limit_reads_a_pre_driver_state():
    ctx = context("freight")
    old = {"rules": {"daily_driving_limit": {"iv": [[T0.timestamp() - hours(7.9),
                                                      T0.timestamp() - 60]]}},
           "last": {"ts": T0.timestamp() - 60, "moving": True}}
    _, ev = run(ctx, [drive(ctx, 0, 1200)], state=old, only="daily_driving_limit")
    assert [(e.action, e.key) for e in ev[0]] == [("open", "")]
