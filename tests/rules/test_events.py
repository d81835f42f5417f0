from datetime import timedelta

from rules.engine import RuleEngine
from tests.rules.helpers import T0, context, fix, run, tacho


def test_cover_open_moving_confirmed_after_30_s():
    ctx = context("muck_truck")
    steps = [([fix(ctx, 0, speed=0.0)], [tacho(5, "cover_open")]),
             ([fix(ctx, 10, speed=20.0), fix(ctx, 20, speed=20.0)], []),
             ([fix(ctx, 40, speed=20.0), fix(ctx, 60, speed=0.0)], []),
             ([fix(ctx, 100, speed=20.0)], [tacho(110, "cover_close")])]
    st, ev = run(ctx, steps, only="cover_open_moving")
    assert ev[0] == [] and ev[1] == []
    (opened,) = ev[2]
    assert opened.action == "open" and opened.ts == T0 + timedelta(seconds=10)
    assert [e.action for e in ev[3]] == ["close"]
    assert "cover_open_moving" not in st["rules"]
    # Near miss: cover open only while parked, then closed before moving.
    quiet = [([fix(ctx, 0)], [tacho(5, "cover_open")]),
             ([fix(ctx, 60, speed=30.0), fix(ctx, 100, speed=30.0)],
              [tacho(50, "cover_close")])]
    assert run(ctx, quiet, only="cover_open_moving")[1] == [[], []]


def test_signal_lost_tick_opens_and_data_closes():
    ctx = context()
    engine = RuleEngine()
    st, _ = engine.process({}, [fix(ctx, 0, speed=40.0)], [], ctx)
    st, ev = engine.tick(st, T0 + timedelta(seconds=599), ctx)
    assert ev == []
    st, ev = engine.tick(st, T0 + timedelta(seconds=600), ctx)
    assert [(e.rule, e.action, e.ts) for e in ev] == [("signal_lost", "open", T0)]
    st, ev = engine.tick(st, T0 + timedelta(seconds=1200), ctx)
    assert ev == []  # once per episode
    st, ev = engine.process(st, [fix(ctx, 1300, speed=40.0)], [], ctx)
    assert [(e.rule, e.action) for e in ev] == [("signal_lost", "close")]
    assert "signal_lost" not in st["rules"]


def test_signal_lost_near_miss_parked_with_ignition_off():
    ctx = context()
    engine = RuleEngine()
    st, _ = engine.process({}, [fix(ctx, 0, speed=0.0, ign=False)], [], ctx)
    assert engine.tick(st, T0 + timedelta(hours=2), ctx)[1] == []


def test_signal_lost_gap_seen_after_the_fact():
    ctx = context()
    _, ev = run(ctx, [[fix(ctx, 0, ign=True)], [fix(ctx, 900, ign=True)]], only="signal_lost")
    assert [e.action for e in ev[1]] == ["open", "close"]
    assert ev[1][0].ts == T0


def test_accident_suspect_from_tacho_and_alarm_rising_edge():
    ctx = context()
    steps = [([fix(ctx, 0)], [tacho(1, "accident_suspect")]),
             ([fix(ctx, 10, alarms=("collision",)), fix(ctx, 20, alarms=("collision",))], []),
             ([fix(ctx, 30)], [])]
    _, ev = run(ctx, steps, only="accident_suspect")
    assert [(e.action, e.severity) for e in ev[0]] == [("instant", "critical")]
    assert [e.details["alarm"] for e in ev[1]] == ["collision"]
    assert ev[2] == []
    # A late fix repeating the same collision is not a new accident.
    _, ev = run(ctx, [steps[1][0], [fix(ctx, 15, alarms=("collision",))]],
                only="accident_suspect")
    assert len(ev[0]) == 1 and ev[1] == []


def test_terminal_alarm_episode_per_alarm_name():
    ctx = context()
    steps = [[fix(ctx, 0, alarms=("sos",))], [fix(ctx, 10, alarms=("sos", "power_cut"))],
             [fix(ctx, 20, alarms=("power_cut",))], [fix(ctx, 30)]]
    _, ev = run(ctx, steps, only="terminal_alarm")
    assert [(e.action, e.key, e.severity) for e in ev[0]] == [("open", "sos", "critical")]
    assert [(e.action, e.key, e.severity) for e in ev[1]] == [("open", "power_cut", "serious")]
    assert [(e.action, e.key) for e in ev[2]] == [("close", "sos")]
    assert [(e.action, e.key) for e in ev[3]] == [("close", "power_cut")]
    # collision belongs to accident_suspect
    assert run(ctx, [[fix(ctx, 0, alarms=("collision",))]], only="terminal_alarm")[1] == [[]]
