"""GET /api/v1/exports/tracks/{plate}?start=&end=&format=gpx|geojson|csv — a vehicle's
track as a file. Scoped through ``visible_vehicle`` (a company exports only its own
vehicles); CSV cells that a spreadsheet would run as formulas are neutralised."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta
from typing import Annotated, Any
from urllib.parse import quote
from xml.sax.saxutils import escape

from fastapi import APIRouter, Query
from fastapi.responses import Response
from sqlalchemy import text

from dashboard.deps import CurrentUser, SessionDep, SettingsDep, local_time
from dashboard.routes.vehicles import visible_vehicle
from keywatch.errors import Invalid

router = APIRouter(prefix="/api/v1/exports", tags=["exports"])
MAX_SPAN = timedelta(days=7)
MAX_FIXES = 200_000
CSV_COLUMNS = ("plate", "ts", "lat", "lon", "speed", "heading", "ign", "alarms", "flags",
               "district")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "|", "%")
MEDIA = {"gpx": "application/gpx+xml", "geojson": "application/geo+json",
         "csv": "text/csv; charset=utf-8"}


def neutralise(value: Any) -> Any:
    """A text cell that Excel/LibreOffice would evaluate gets a leading apostrophe (OWASP)."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _fixes(session: SessionDep, vehicle_id: int, start: datetime, end: datetime,
           tz: Any) -> list[dict[str, Any]]:
    rows = session.execute(text(
        "SELECT ts, ST_Y(geom), ST_X(geom), speed, heading, ign, alarms, flags, district "
        "FROM fixes WHERE vehicle_id = :v AND ts BETWEEN :s AND :e ORDER BY ts LIMIT :n"),
        {"v": vehicle_id, "s": start, "e": end, "n": MAX_FIXES})
    return [
        {"ts": ts.astimezone(tz), "lat": lat, "lon": lon, "speed": speed, "heading": heading,
         "ign": ign, "alarms": list(alarms or []), "flags": list(flags or []),
         "district": district}
        for ts, lat, lon, speed, heading, ign, alarms, flags, district in rows
    ]


def to_gpx(plate: str, fixes: list[dict[str, Any]]) -> str:
    points = "".join(
        f'<trkpt lat="{f["lat"]:.7f}" lon="{f["lon"]:.7f}"><time>{f["ts"].isoformat()}</time>'
        + (f'<speed>{f["speed"] / 3.6:.2f}</speed>' if f["speed"] is not None else "")
        + (f'<course>{f["heading"]:.1f}</course>' if f["heading"] is not None else "")
        + "</trkpt>"
        for f in fixes
    )
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<gpx version="1.1" creator="Keywatch" xmlns="http://www.topografix.com/GPX/1/1">'
            f"<trk><name>{escape(plate)}</name><trkseg>{points}</trkseg></trk></gpx>\n")


def to_geojson(plate: str, fixes: list[dict[str, Any]]) -> str:
    line = {"type": "Feature", "geometry": {"type": "LineString",
                                            "coordinates": [[f["lon"], f["lat"]] for f in fixes]},
            "properties": {"plate": plate, "kind": "track"}}
    points = [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [f["lon"], f["lat"]]},
         "properties": {**{k: v for k, v in f.items() if k not in ("lat", "lon")},
                        "ts": f["ts"].isoformat()}}
        for f in fixes
    ]
    return json.dumps({"type": "FeatureCollection", "features": [line, *points]},
                      ensure_ascii=False)


def to_csv(plate: str, fixes: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    out.write("\ufeff")  # so Excel opens UTF-8 (the plate's Chinese character) correctly
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for f in fixes:
        row = {**f, "plate": plate, "ts": f["ts"].isoformat(),
               "alarms": ";".join(f["alarms"]), "flags": ";".join(f["flags"])}
        writer.writerow([neutralise(row[c]) for c in CSV_COLUMNS])
    return out.getvalue()


WRITERS = {"gpx": to_gpx, "geojson": to_geojson, "csv": to_csv}


@router.get("/tracks/{plate}")
def export_track(plate: str, start: datetime, end: datetime, session: SessionDep,
                 user: CurrentUser, settings: SettingsDep,
                 format: Annotated[str, Query(pattern="^(gpx|geojson|csv)$")] = "geojson",
                 ) -> Response:
    vehicle, _ = visible_vehicle(session, user, plate)
    start, end = (local_time(t, settings.zone) for t in (start, end))
    if end <= start:
        raise Invalid("end must be after start")
    if end - start > MAX_SPAN:
        raise Invalid("an export covers at most 7 days; narrow start/end")
    fixes = _fixes(session, vehicle.id, start, end, settings.zone)
    body = WRITERS[format](vehicle.plate, fixes)
    name = f"{vehicle.plate}_{start:%Y%m%d%H%M}_{end:%Y%m%d%H%M}.{format}"
    disposition = f"attachment; filename=\"track.{format}\"; filename*=UTF-8''{quote(name)}"
    return Response(body, media_type=MEDIA[format],
                    headers={"Content-Disposition": disposition})
