"""Builders for synthetic tracks: no mocks, real fences, real engine."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import shapely
from shapely.geometry import mapping

from geo.fences import fence_from_feature
from geo.index import FenceIndex
from rules.engine import RuleContext, RuleEngine, VehicleInfo
from rules.params import RuleParams
from rules.types import Fix, TachoEvent

TZ = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 11, 26, 10, 0, tzinfo=TZ)  # a Thursday, 10:00 local
PARAMS = RuleParams.load()
LON, LAT = 120.30, 36.10


def fence(i, kind, geom=None, **props):
    geom = geom if geom is not None else shapely.box(120.31, 36.09, 120.33, 36.11)
    return fence_from_feature({"type": "Feature", "geometry": mapping(geom),
                               "properties": {"name": f"{kind}{i}", "kind": kind, **props}},
                              id=i)


def context(cls="freight", fences=(), plate="鲁B00001", granted=frozenset(), params=PARAMS,
            vehicle_id=1):
    return RuleContext(VehicleInfo(vehicle_id, plate, cls, granted=frozenset(granted)),
                       FenceIndex(list(fences)), params, TZ)


def fix(ctx, t, lon=LON, lat=LAT, speed=0.0, **kw):
    """A fix at ``t`` seconds after T0, enriched like ingest does."""
    zones = ctx.index.containing([lon], [lat])[0]
    return Fix(device_id="d1", ts=T0 + timedelta(seconds=t), lat=lat, lon=lon, speed=speed,
               zones=zones, vehicle_id=ctx.vehicle.vehicle_id, **kw)


def tacho(t, name, **kw):
    return TachoEvent(device_id="d1", ts=T0 + timedelta(seconds=t), event=name, **kw)


def track(ctx, start, end, step, lon0=LON, dlon=0.0, speed=0.0, **kw):
    return [fix(ctx, t, lon=lon0 + dlon * (t - start) / step, speed=speed, **kw)
            for t in range(start, end, step)]


def run(ctx, batches, engine=None, state=None, only=None):
    """Feed batches one by one; returns (final state, events per batch).

    State goes through JSON between every step (durability) and the same run
    without JSON must give the same events.
    """
    engine = engine or RuleEngine()
    out = []
    st_json, st_plain = state or {}, state or {}
    for b in batches:
        fixes, tach = (b if isinstance(b, tuple) else (b, []))
        before = json.dumps(st_json, sort_keys=True)
        st_json, ev = engine.process(json.loads(json.dumps(st_json)), fixes, tach, ctx)
        assert json.dumps(st_json) and before  # serialisable
        st_plain, ev2 = engine.process(st_plain, fixes, tach, ctx)
        assert _plain(ev) == _plain(ev2)
        out.append([e for e in ev if only is None or e.rule == only])
    assert json.loads(json.dumps(st_json)) == json.loads(json.dumps(st_plain))
    return json.loads(json.dumps(st_json)), out


def _plain(events):
    return [(e.rule, e.action, e.ts, e.severity, e.key, e.details) for e in events]


def actions(events):
    return [(e.rule, e.action) for e in events]
