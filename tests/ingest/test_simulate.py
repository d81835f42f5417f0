"""``keywatch simulate`` against the real broker, database, ingest worker and gateway.

Short runs (a few seconds): every fix sent is stored once, none is dead-lettered,
every position is on land (inside a district of the sample city) and no fix is
flagged as an impossible jump. Longer runs without services check the driving
itself over simulated time: plausible, and breaking a rule only when a
violation is injected (the rule engine, fed as ingest feeds it, is the judge).
"""

from __future__ import annotations

import math
import random
import threading
from collections import Counter
from datetime import datetime, timedelta

import pytest
import shapely
from shapely.ops import unary_union
from sqlalchemy import func, select, text

from ingest.enrich import flag_motion
from ingest.gateway_service import GatewayService
from ingest.simulate import simulate
from ingest.simulate_fleet import CLASS_MIX, identities, register_simulated_fleet
from ingest.simulate_map import build_map
from ingest.simulate_trips import TripPlanner
from ingest.simulate_vehicle import Vehicle, is_night
from keywatch.db import make_sessionmaker, transaction
from registry.models import Company
from registry.models import Vehicle as VehicleRow
from rules.engine import RuleContext, RuleEngine, VehicleInfo
from rules.types import Fix, TachoEvent
from tests.helpers import running_worker, wait_for
from tests.rules.sample_city import TZ
from tests.rules.sample_city import city as sample_city


def _scalar(engine, sql: str):  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return conn.execute(text(sql)).scalar_one()


def _register(engine, **kw) -> dict[str, int]:  # type: ignore[no-untyped-def]
    with transaction(make_sessionmaker(engine)) as session:
        return register_simulated_fleet(session, **kw)


def _assert_clean_fixes(engine, prefix: str, expected: int) -> None:  # type: ignore[no-untyped-def]
    """Only our devices: other test runs may share the broker and publish strangers."""
    ours = f"FROM fixes WHERE device_id LIKE '{prefix}%'"
    wait_for(lambda: _scalar(engine, f"SELECT count(*) {ours}") >= expected, 60,
             f"{expected} simulated fixes in the database")
    assert _scalar(engine, f"SELECT count(*) {ours}") == expected
    with engine.connect() as conn:
        dead = conn.execute(text("SELECT reason, detail FROM dead_letters "
                                 "WHERE device_id LIKE :p LIMIT 5"), {"p": prefix + "%"}).all()
    assert not dead, dead
    assert _scalar(engine, f"SELECT count(*) {ours} AND district IS NULL") == 0
    assert _scalar(engine, f"SELECT count(*) {ours} AND 'jump' = ANY(flags)") == 0
    assert _scalar(engine, f"SELECT max(speed) {ours}") < 120


def test_register_is_idempotent_and_follows_the_sample_mix(clean_db, engine) -> None:
    first = _register(engine, vehicles=80, prefix="simr-", seed=4)
    again = _register(engine, vehicles=80, prefix="simr-", seed=4)
    assert first["created"] == 80 and again == {**first, "created": 0, "updated": 80}
    with make_sessionmaker(engine)() as session:
        rows = session.execute(select(VehicleRow.device_id, VehicleRow.vehicle_class,
                                      VehicleRow.company_code, VehicleRow.status)).all()
        assert session.scalar(select(func.count()).select_from(Company)
                              .where(Company.code.like("SIM-%"))) == len(CLASS_MIX)
    ours = [r for r in rows if r.device_id.startswith("simr-")]
    assert sorted(r.device_id for r in ours) == [f"simr-{n:05d}" for n in range(1, 81)]
    assert Counter(r.vehicle_class for r in ours) == {c: 2 * k for c, k in CLASS_MIX.items()}
    assert {r.status for r in ours} == {"active"}
    expected = {i.device_id: i.vehicle_class for i in identities(80, "simr-", 4)}
    assert {r.device_id: r.vehicle_class for r in ours} == expected


def test_json_run_stores_every_fix_once(clean_db, engine, settings) -> None:
    _register(engine, vehicles=20, prefix="sim-", seed=7)
    with running_worker(settings):
        summary = simulate(settings, vehicles=20, interval_s=1, duration_s=5, processes=2,
                           seed=7, prefix="sim-", progress=False)
        assert (summary.fixes, summary.errors) == (100, 0)
        _assert_clean_fixes(engine, "sim-", 100)
        wait_for(lambda: _scalar(engine, "SELECT count(*) FROM tacho_events") >= 20, 30,
                 "the drivers' logins")
    assert sum(summary.per_class.values()) == 100
    assert summary.events >= 20  # every vehicle's driver logs in on its first fix
    assert _scalar(engine, "SELECT count(DISTINCT device_id) FROM fixes") == 20
    assert _scalar(engine, "SELECT min(seq) FROM fixes") == 1
    assert _scalar(engine, "SELECT max(seq) FROM fixes") == 5
    assert "fixes/s" in summary.table() and summary.result_line().startswith("RESULT ")


@pytest.fixture
def gateway(settings):  # type: ignore[no-untyped-def]
    service = GatewayService(settings, port=0)
    thread = threading.Thread(target=service.run, daemon=True)
    thread.start()
    assert service.ready.wait(10)
    yield service
    service.stop()
    thread.join(10)


def test_jt808_terminals_through_the_gateway(clean_db, engine, settings, gateway) -> None:
    _register(engine, vehicles=6, prefix="1990", seed=2)
    with running_worker(settings):
        summary = simulate(settings, vehicles=6, interval_s=1, duration_s=3, protocol="jt808",
                           seed=2, prefix="1990", progress=False,
                           jt808_host="127.0.0.1", jt808_port=gateway.gateway.port)
        assert (summary.fixes, summary.errors) == (18, 0)
        _assert_clean_fixes(engine, "1990", 18)
    devices = {r for (r,) in make_sessionmaker(engine)().execute(
        text("SELECT DISTINCT device_id FROM fixes"))}
    assert devices == {f"1990{n:05d}" for n in range(1, 7)}


def test_jt808_prefix_must_be_a_phone_number(settings) -> None:
    with pytest.raises(ValueError, match="digits"):
        simulate(settings, vehicles=1, interval_s=1, duration_s=1, protocol="jt808",
                 prefix="sim-", progress=False)


def test_an_hour_of_driving_stays_on_land_and_plausible() -> None:
    """200 vehicles, 10 s fixes, violations on: land, speeds, events, no teleports."""
    city = build_map()
    land = unary_union(list(city.districts.values()))
    shapely.prepare(land)
    fleet = []
    for ident in identities(200, "sim-", 5):
        rng = random.Random(ident.n)
        planner = TripPlanner(city, ident.vehicle_class, ident.home_district, rng)
        vehicle = Vehicle(ident.n, ident.vehicle_class, ident.drivers, planner, rng)
        vehicle.start(city)
        fleet.append(vehicle)
    events: Counter[str] = Counter()
    last: dict[int, tuple[float, float]] = {}
    for _ in range(360):
        for vehicle in fleet:
            fix, emitted = vehicle.step(10.0, city, 0.05 * 10 / 60)
            events.update(e["event"] for e in emitted)
            assert shapely.contains_xy(land, fix.x, fix.y), vehicle.vehicle_class
            if vehicle.number in last:
                px, py = last[vehicle.number]
                assert math.hypot(fix.x - px, fix.y - py) / 10 * 3.6 < 150
            last[vehicle.number] = (fix.x, fix.y)
    violations: Counter[str] = Counter()
    for vehicle in fleet:
        violations.update(vehicle.violations)
    assert events["driver_login"] >= 200
    assert events["body_lift"] > 0 and events["cover_close"] > 0
    assert set(violations) == {"sos", "speeding", "cover_open_moving", "forbidden_zone"}


FALSE_ALARMS = ("cover_open_moving", "speeding", "forbidden_zone")


def _incidents(vehicles: int, minutes: int, rate: float, start: str, seed: int = 5
               ) -> tuple[Counter[str], Counter[str]]:
    """Incidents per rule and violations injected, for a fleet driven ``minutes`` from
    local time ``start`` with 10 s fixes: each tick's fixes and tachograph events
    (same time, as ``simulate`` publishes them) enriched and judged as ingest does."""
    city, sample, engine = build_map(), sample_city(), RuleEngine()
    fleet = []
    for ident in identities(vehicles, "sim-", seed):
        rng = random.Random(f"{seed}:{ident.n}")
        planner = TripPlanner(city, ident.vehicle_class, ident.home_district, rng)
        vehicle = Vehicle(ident.n, ident.vehicle_class, ident.drivers, planner, rng)
        vehicle.start(city)
        info = VehicleInfo(ident.n, ident.plate, ident.vehicle_class)
        fleet.append((ident, vehicle, RuleContext(info, sample.index, sample.params, TZ)))
    states: dict[int, dict] = {}
    last: dict[int, tuple] = {}
    incidents: Counter[str] = Counter()
    t0 = datetime.fromisoformat(start).replace(tzinfo=TZ)
    for k in range(minutes * 6):
        ts = t0 + timedelta(seconds=10 * k)
        steps = [v.step(10.0, city, rate / 6, night=is_night(ts)) for _, v, _ in fleet]
        lonlat = [fix.lonlat() for fix, _ in steps]
        zones = sample.index.containing([p[0] for p in lonlat], [p[1] for p in lonlat])
        items = []
        for (ident, _, ctx), (fix, events), (lon, lat), inside in zip(
                fleet, steps, lonlat, zones, strict=True):
            fixes = flag_motion([Fix(ident.device_id, ts, round(lat, 6), round(lon, 6),
                                     fix.speed, fix.heading, acc=5.0, ign=fix.ign, seq=k + 1,
                                     alarms=fix.alarms, vehicle_id=ident.n,
                                     zones=tuple(inside))], last.get(ident.n))
            last[ident.n] = (ts, fixes[0].lat, fixes[0].lon)
            tacho = [TachoEvent(ident.device_id, ts, e["event"], e.get("driver"), lat, lon,
                                fix.speed, ident.n) for e in events]
            items.append((states.get(ident.n), fixes, tacho, ctx))
        for (ident, _, _), (state, emitted) in zip(fleet, engine.process_many(items),
                                                   strict=True):
            states[ident.n] = state
            incidents.update(e.rule for e in emitted if e.action in ("open", "instant"))
    injected: Counter[str] = Counter()
    for _, vehicle, _ in fleet:
        injected.update(vehicle.violations)
    return incidents, injected


@pytest.mark.parametrize(("vehicles", "start"), [(400, "2026-11-26T10:00"),
                                                 (200, "2026-11-26T23:00")],
                         ids=["day", "night"])
def test_a_clean_fleet_raises_no_false_alarms(vehicles: int, start: str) -> None:
    """Without injected violations nobody drives with the cover open, over a limit
    or into a zone its class may not enter: not at the start (trucks part-way
    through loading), not leaving an expressway corridor or driving along its
    edge, not coaches at night (their limits × 0.8), not trips to or through a
    restricted zone. The day run is inside the downtown muck-truck ban."""
    incidents, injected = _incidents(vehicles, 30, 0.0, start)
    assert not injected
    assert {rule: incidents[rule] for rule in FALSE_ALARMS} == dict.fromkeys(FALSE_ALARMS, 0)


def test_injected_violations_are_what_the_rules_find() -> None:
    """Every injected kind fires its rule, and never more often than injected (a
    trespass is the next leg's, so some are still on their way at the end)."""
    incidents, injected = _incidents(200, 60, 0.3, "2026-11-26T10:00")
    for rule in FALSE_ALARMS:
        assert 0 < incidents[rule] <= injected[rule], (rule, incidents, injected)
