"""``keywatch replay``: publish recorded tracks through MQTT at N× speed, with progress.

Track CSVs (sample_tracks/README.md): ``t`` seconds from the scenario start,
``kind`` pos|tacho. By default times are shifted so the track starts now;
``--keep-time`` uses the manifest's ``start`` (or ``--start``) instead.
"""

from __future__ import annotations

import csv
import json
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ingest.mqtt import BrokerAddress, Publisher
from keywatch.settings import Settings

SAMPLE_DEMO_TRACK = Path(__file__).resolve().parent.parent / "sample_tracks/tracks/demo.csv"


@dataclass(frozen=True, slots=True)
class TrackRow:
    t: float
    device_id: str
    kind: str
    item: dict[str, Any]


def _number(value: str) -> float | None:
    return float(value) if value not in ("", None) else None


def _item(row: dict[str, str]) -> dict[str, Any]:
    item: dict[str, Any] = {}
    for key in ("lat", "lon", "speed", "heading", "acc"):
        if (value := _number(row.get(key, ""))) is not None:
            item[key] = value
    if row.get("kind") == "tacho":
        item["event"] = row["event"]
        if row.get("driver"):
            item["driver"] = row["driver"]
        return item
    if row.get("ign") not in ("", None):
        item["ign"] = row["ign"] in ("1", "true", "True")
    if row.get("alarms"):
        item["alarms"] = [a for a in row["alarms"].split(";") if a]
    return item


def read_track(path: Path) -> list[TrackRow]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return [TrackRow(float(r["t"]), r["device_id"], r.get("kind") or "pos", _item(r))
                for r in csv.DictReader(handle)]


def _track_files(paths: Iterable[str]) -> Iterator[Path]:
    for name in paths:
        path = Path(name)
        if path.is_dir():
            yield from sorted(p for p in path.glob("*.csv"))
        elif path.exists():
            yield path
        else:
            raise FileNotFoundError(f"no such track file or folder: {name}")


def manifest_start(path: Path) -> datetime | None:
    manifest = path.parent / "manifest.json"
    if not manifest.exists():
        return None
    for entry in json.loads(manifest.read_text(encoding="utf-8")):
        if entry.get("file") == path.name and entry.get("start"):
            return datetime.fromisoformat(entry["start"])
    return None


def _progress(done: int, total: int, started: float) -> None:
    width = 30
    filled = int(width * done / max(total, 1))
    rate = done / max(time.monotonic() - started, 1e-6)
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} messages "
                     f"({rate:,.0f}/s)")
    sys.stderr.flush()


def publish_rows(publisher: Publisher, rows: list[TrackRow], *, start: datetime, speed: float,
                 progress: bool = True) -> int:
    """Publish rows in time order, paced at ``speed``× real time; returns messages sent."""
    rows = sorted(rows, key=lambda r: r.t)
    began = time.monotonic()
    infos = []
    for done, row in enumerate(rows, start=1):
        delay = row.t / speed - (time.monotonic() - began)
        if delay > 0:
            time.sleep(delay)
        item = dict(row.item, ts=(start + timedelta(seconds=row.t)).isoformat())
        topic = f"kw/v1/dev/{row.device_id}/{'tacho' if row.kind == 'tacho' else 'pos'}"
        infos.append(publisher.publish(topic, json.dumps(item, ensure_ascii=False)))
        if progress and (done % 50 == 0 or done == len(rows)):
            _progress(done, len(rows), began)
    for info in infos:
        info.wait_for_publish(30)
    if progress:
        sys.stderr.write("\n")
    return len(rows)


def replay_paths(settings: Settings, paths: list[str], *, speed: float = 1.0,
                 shift: bool = True) -> int:
    if speed <= 0:
        print("keywatch replay: --speed must be positive", file=sys.stderr)
        return 2
    publisher = Publisher(BrokerAddress.parse(settings.mqtt_url)).start()
    try:
        for path in _track_files(paths):
            start = datetime.now(UTC).astimezone(settings.zone)
            if not shift:
                start = manifest_start(path) or start
            rows = read_track(path)
            print(f"replaying {path.name}: {len(rows)} messages from {start.isoformat()} "
                  f"at {speed:g}×", file=sys.stderr)
            publish_rows(publisher, rows, start=start, speed=speed)
    finally:
        publisher.stop()
    return 0
