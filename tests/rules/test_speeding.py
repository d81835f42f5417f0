from tests.rules.helpers import T0, context, fence, fix, run


def test_speeding_opens_after_30_s_and_upgrades_severity():
    ctx = context("school_bus")  # limit 60
    steps = [[fix(ctx, 0, speed=65.0)], [fix(ctx, 20, speed=66.0)], [fix(ctx, 30, speed=66.0)],
             [fix(ctx, 40, speed=75.0)], [fix(ctx, 50, speed=95.0)], [fix(ctx, 60, speed=50.0)],
             [fix(ctx, 75, speed=50.0)]]
    st, ev = run(ctx, steps, only="speeding")
    assert ev[0] == [] and ev[1] == []
    (opened,) = ev[2]
    assert (opened.action, opened.severity, opened.ts) == ("open", "warning", T0)
    assert [(e.action, e.severity) for e in ev[3]] == [("update", "serious")]
    assert [(e.action, e.severity) for e in ev[4]] == [("update", "critical")]
    assert ev[5] == []
    (closed,) = ev[6]
    assert closed.action == "close" and closed.details["max_speed"] == 95.0
    assert "speeding" not in st["rules"]


def test_brief_excess_is_a_near_miss():
    ctx = context("school_bus")
    _, ev = run(ctx, [[fix(ctx, 0, speed=70.0), fix(ctx, 20, speed=70.0),
                       fix(ctx, 29, speed=70.0), fix(ctx, 35, speed=59.0),
                       fix(ctx, 40, speed=70.0), fix(ctx, 65, speed=70.0)]], only="speeding")
    assert ev == [[]]


def test_jump_fix_does_not_count():
    ctx = context("school_bus")
    _, ev = run(ctx, [[fix(ctx, 0, speed=70.0, flags=frozenset({"jump"})),
                       fix(ctx, 31, speed=70.0)]], only="speeding")
    assert ev == [[]]


def test_speed_zone_overrides_class_limit_after_confirmation():
    zone = fence(7, "speed", speed_limit={"coach": 100, "freight": 30})
    ctx = context("coach", [zone])
    # Inside the zone (lon 120.32): 95 km/h is under the zone's 100 for a coach.
    inside = [fix(ctx, t, lon=120.32, speed=95.0) for t in (0, 20, 40, 60)]
    _, ev = run(ctx, [inside], only="speeding")
    assert ev == [[]]
    ctx2 = context("freight", [zone])
    inside = [fix(ctx2, t, lon=120.32, speed=40.0) for t in (0, 20, 40, 60)]
    _, ev = run(ctx2, [inside], only="speeding")
    assert [(e.action, e.severity, e.details["limit"]) for e in ev[0]] == [
        ("open", "serious", 30)]


def test_coach_limit_at_night_is_80_percent():
    ctx = context("coach")
    night = 13 * 3600  # 23:00 local
    fixes = [fix(ctx, night + t, speed=70.0) for t in (0, 20, 40)]
    _, ev = run(ctx, [fixes], only="speeding")
    assert [(e.action, e.details["limit"]) for e in ev[0]] == [("open", 64.0)]
    day = [fix(ctx, t, speed=70.0) for t in (0, 20, 40)]
    assert run(ctx, [day], only="speeding")[1] == [[]]
