import json
from datetime import timedelta

import shapely

from rules.engine import RuleEngine
from rules.params import RuleParams
from tests.rules.helpers import PARAMS, T0, context, fence, fix, run, tacho

# The default fence box spans lon 120.31..120.33; a vehicle drives east along lat 36.10.
OUT, IN = 120.305, 120.32


def test_forbidden_zone_enter_confirmed_then_exit():
    zone = fence(3, "restricted", classes=["muck_truck"])
    ctx = context("muck_truck", [zone])
    steps = [[fix(ctx, 0, lon=OUT, speed=30.0)], [fix(ctx, 10, lon=IN, speed=30.0)],
             [fix(ctx, 20, lon=IN, speed=30.0)], [fix(ctx, 30, lon=IN, speed=30.0)],
             [fix(ctx, 40, lon=OUT, speed=30.0)], [fix(ctx, 60, lon=OUT, speed=30.0)]]
    st, ev = run(ctx, steps, only="forbidden_zone")
    assert ev[1] == [] and ev[2] == []
    (opened,) = ev[3]
    assert (opened.action, opened.key, opened.ts.second) == ("open", "3", 10)
    assert ev[4] == []
    (closed,) = ev[5]
    assert (closed.action, closed.key, closed.ts.second) == ("close", "3", 40)
    assert st["member"] == {"init": True}


def test_forbidden_zone_near_misses():
    sched = [{"days": [1, 2, 3, 4, 5, 6, 7], "start": "22:00", "end": "06:00"}]
    zones = [fence(3, "restricted", classes=["coach"]),
             fence(4, "restricted", schedule=sched, geom=shapely.box(120.34, 36.09, 120.35, 36.11))]
    ctx = context("muck_truck", zones)
    day = [fix(ctx, t, lon=IN, speed=30.0) for t in range(0, 120, 10)]  # other class
    night_zone = [fix(ctx, 200 + t, lon=120.345, speed=30.0) for t in range(0, 120, 10)]
    _, ev = run(ctx, [day, night_zone], only="forbidden_zone")
    assert ev == [[], []]


def test_jitter_at_the_fence_line_never_flaps():
    watch = fence(5, "watch")
    ctx = context("freight", [watch])
    # Parked on the western edge: positions drift 10 m either side, speed 0.
    track = [fix(ctx, t, lon=120.31 + (1 if (t // 10) % 3 else -1) * 0.0001, speed=0.0)
             for t in range(0, 1800, 10)]
    # Moving but wobbling: never 15 s on the other side.
    wobble = [fix(ctx, 2000 + t, lon=120.31 + (0.0001 if t % 20 else -0.0001), speed=20.0)
              for t in range(0, 300, 10)]
    # Poor accuracy and jumps are not evidence.
    noisy = [fix(ctx, 2400 + t, lon=IN, speed=30.0, acc=80.0) for t in range(0, 60, 10)]
    noisy += [fix(ctx, 2500 + t, lon=IN, speed=30.0, flags=frozenset({"jump"}))
              for t in range(0, 60, 10)]
    st, ev = run(ctx, [track[i:i + 7] for i in range(0, len(track), 7)] + [wobble, noisy])
    assert [e for batch in ev for e in batch if e.rule.startswith("geofence")] == []


def test_geofence_enter_and_exit_instants():
    watch = fence(5, "watch")
    ctx = context("freight", [watch])
    steps = [[fix(ctx, 0, lon=OUT, speed=30.0), fix(ctx, 10, lon=IN, speed=30.0)],
             [fix(ctx, 20, lon=IN, speed=30.0), fix(ctx, 30, lon=IN, speed=0.0)],
             [fix(ctx, 40, lon=OUT, speed=30.0), fix(ctx, 50, lon=OUT, speed=30.0),
              fix(ctx, 60, lon=OUT, speed=30.0)]]
    _, ev = run(ctx, steps)
    assert [(e.rule, e.action, e.key, e.ts.second) for e in ev[0] + ev[1] + ev[2]] == [
        ("geofence_enter", "instant", "5", 10), ("geofence_exit", "instant", "5", 40)]


def test_confirm_time_is_configurable_per_zone():
    watch = fence(5, "watch")
    params = PARAMS.with_overrides({"zone": {"5": {"membership": {"confirm_s": 60}}}})
    ctx = context("freight", [watch], params=params)
    fixes = [fix(ctx, 0, lon=OUT, speed=30.0)] + [fix(ctx, t, lon=IN, speed=30.0)
                                                  for t in (10, 30, 50, 70)]
    _, (ev,) = run(ctx, [fixes], only="geofence_enter")
    assert [(e.action, e.ts.second) for e in ev] == [("instant", 10)]
    assert RuleParams.load().for_zone(ctx.vehicle, "membership", 5).confirm_s == 15


def test_route_deviation_after_60_s_outside_the_corridor():
    route = fence(9, "route", geom=shapely.LineString([(120.30, 36.10), (120.40, 36.10)]),
                  buffer_m=100)
    ctx = context("muck_truck", [route], granted={9})
    on = [fix(ctx, t, lon=120.30 + t * 1e-5, speed=40.0) for t in range(0, 60, 10)]
    off = [fix(ctx, 60 + t, lon=120.31, lat=36.105, speed=40.0) for t in range(0, 90, 10)]
    back = [fix(ctx, 200 + t, lon=120.32, speed=40.0) for t in range(0, 40, 10)]
    _, ev = run(ctx, [on, off[:6], off[6:], back], only="route_deviation")
    assert ev[0] == [] and ev[1] == []
    (opened,) = ev[2]
    assert opened.action == "open" and opened.ts.second == 0 and opened.ts.minute == 1
    assert 540 < opened.details["distance_m"] < 570  # 0.005 deg of latitude
    assert [e.action for e in ev[3]] == ["close"]
    # Near miss: the same track without a permit, and a short excursion with one.
    assert run(context("muck_truck", [route]), [on, off], only="route_deviation")[1] == [[], []]
    short = off[:4] + [fix(ctx, t, lon=120.32, speed=40.0) for t in range(100, 150, 10)]
    assert run(ctx, [on, short], only="route_deviation")[1] == [[], []]


def test_illegal_stop_outside_sites_only():
    site = fence(2, "site", plates=["鲁B00001"])
    ctx = context("muck_truck", [site])
    stop_out = [fix(ctx, t, lon=OUT) for t in range(0, 700, 60)]
    st, ev = run(ctx, [[fix(ctx, -30, lon=OUT, speed=20.0)], stop_out[:6], stop_out[6:],
                       [fix(ctx, 720, lon=OUT, speed=20.0)]], only="illegal_stop")
    assert ev[1] == []
    (opened,) = ev[2]
    assert opened.action == "open" and opened.ts == T0
    assert [e.action for e in ev[3]] == ["close"]
    # Near misses: at its site; a coach; a 9-minute stop.
    at_site = [fix(ctx, -30, lon=IN, speed=20.0)] + [fix(ctx, t, lon=IN) for t in
                                                    range(0, 900, 60)]
    assert run(ctx, [at_site], only="illegal_stop")[1] == [[]]
    assert run(context("coach", [site]), [stop_out], only="illegal_stop")[1] == [[]]
    assert run(ctx, [[fix(ctx, t, lon=OUT) for t in range(0, 540, 60)]],
               only="illegal_stop")[1] == [[]]


def test_illegal_unloading_outside_site_but_not_inside():
    site = fence(2, "site", classes=["muck_truck"])
    ctx = context("muck_truck", [site])
    inside = ([fix(ctx, 0, lon=IN)], [tacho(5, "body_lift", lon=IN, lat=36.10)])
    outside = ([fix(ctx, 30, lon=OUT, speed=30.0), fix(ctx, 50, lon=OUT, speed=30.0),
                fix(ctx, 60, lon=OUT)], [tacho(65, "body_lift")])
    _, ev = run(ctx, [inside, outside], only="illegal_unloading")
    assert ev[0] == []
    (e,) = ev[1]
    assert (e.action, e.severity, e.lon) == ("instant", "serious", OUT)


def _stopped_then_silent(ctx, lon, ign=True):
    """Arrives at 20 km/h, stands from t=0 to t=180, then nothing more."""
    return [fix(ctx, -30, lon=lon, speed=20.0, ign=ign)] + [
        fix(ctx, t, lon=lon, ign=ign) for t in range(0, 181, 60)]


def test_illegal_stop_from_tick_when_a_stopped_truck_goes_silent():
    site = fence(2, "site", plates=["鲁B00001"])
    ctx = context("muck_truck", [site])
    engine = RuleEngine()
    st, ev = engine.process({}, _stopped_then_silent(ctx, OUT), [], ctx)
    assert [e for e in ev if e.rule == "illegal_stop"] == []
    st = json.loads(json.dumps(st))

    def ticked(state, t):
        return [e for e in engine.tick(state, T0 + timedelta(seconds=t), ctx)[1]
                if e.rule == "illegal_stop"]

    assert ticked(st, 590) == []  # the stop is not 10 min old yet
    (opened,) = ticked(st, 600)
    assert (opened.action, opened.ts, opened.details["silent_s"]) == ("open", T0, 420)
    st2, _ = engine.tick(st, T0 + timedelta(seconds=600), ctx)
    assert ticked(st2, 660) == []  # one episode
    # Data comes back: still standing -> nothing new; then it drives off -> close.
    _, ev = engine.process(st2, [fix(ctx, 900, lon=OUT), fix(ctx, 960, lon=OUT, speed=20.0)],
                           [], ctx)
    assert [(e.rule, e.action) for e in ev if e.rule == "illegal_stop"] == [
        ("illegal_stop", "close")]


def test_illegal_stop_tick_near_misses():
    site = fence(2, "site", plates=["鲁B00001"])
    ctx = context("muck_truck", [site])
    engine = RuleEngine()
    for track in (_stopped_then_silent(ctx, IN),  # at its own site
                  _stopped_then_silent(ctx, OUT, ign=False)):  # engine off
        st, _ = engine.process({}, track, [], ctx)
        _, ev = engine.tick(st, T0 + timedelta(seconds=1800), ctx)
        assert [e for e in ev if e.rule == "illegal_stop"] == []
    # Not a muck truck.
    coach = context("coach", [site])
    st, _ = engine.process({}, _stopped_then_silent(coach, OUT), [], coach)
    _, ev = engine.tick(st, T0 + timedelta(seconds=1800), coach)
    assert [e for e in ev if e.rule == "illegal_stop"] == []
