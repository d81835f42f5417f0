from datetime import timedelta

from rules.engine import RuleEngine
from tests.rules.helpers import T0, context, fix, run, tacho


def drive(ctx, start, end, step=60, speed=50.0):
    return [fix(ctx, t, speed=speed) for t in range(start, end, step)]


def stop(ctx, start, end, step=60):
    return [fix(ctx, t, speed=0.0) for t in range(start, end, step)]


def hours(h):
    return int(h * 3600)


def test_fatigue_warns_then_opens_after_4_h_and_closes_on_a_20_min_rest():
    ctx = context("freight")
    batches = [drive(ctx, hours(k), hours(k + 0.5)) for k in (0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5)]
    batches += [drive(ctx, hours(4), hours(4.5)), stop(ctx, hours(4.5), hours(4.5) + 1260)]
    st, ev = run(ctx, batches, only="fatigue_driving")
    assert all(e == [] for e in ev[:7])
    (warn,) = ev[7]
    assert (warn.action, warn.severity) == ("instant", "info")
    assert warn.ts == T0 + timedelta(seconds=hours(4) - 1200 + 60)
    (opened,) = ev[8]
    assert opened.action == "open" and opened.ts == T0 + timedelta(seconds=hours(4) + 60)
    (closed,) = ev[9]
    assert closed.action == "close" and closed.ts == T0 + timedelta(seconds=hours(4.5))
    assert "fatigue_driving" not in st["rules"]


def test_short_stops_do_not_reset_but_a_20_min_rest_does():
    ctx = context("freight")
    # 3 h driving, 19 min stop, 1.5 h driving: 4.5 h of driving -> fires.
    short = drive(ctx, 0, hours(3)) + stop(ctx, hours(3), hours(3) + 1140) + \
        drive(ctx, hours(3) + 1140, hours(4.5) + 1140)
    _, ev = run(ctx, [short], only="fatigue_driving")
    assert [e.action for e in ev[0]] == ["instant", "open"]
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
    assert [(e.action, e.key) for e in ev[0]] == [("instant", ""), ("open", "")]


def test_coach_at_night_limit_is_2_h():
    ctx = context("coach")
    night = hours(12)  # 22:00 local
    _, ev = run(ctx, [drive(ctx, night, night + hours(2.2))], only="fatigue_driving")
    assert [e.action for e in ev[0]] == ["instant", "open"]
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
