"""Fault-injection plumbing: the platform's parts as real processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy.engine import Engine

from ingest.mqtt import Publisher
from keywatch.db import make_sessionmaker, transaction
from keywatch.settings import Settings
from tests.city import OUTSIDE, make_city
from tests.helpers import scalar, wait_for

ROOT = Path(__file__).resolve().parents[2]


def part_env(settings: Settings, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "KEYWATCH_DATABASE_URL": settings.database_url,
        "KEYWATCH_MQTT_URL": settings.mqtt_url,
        "KEYWATCH_SECRET_KEY": settings.secret_key,
        "KEYWATCH_METRICS_PORT": "0",
        "KEYWATCH_HOME": str(settings.home),
        "KEYWATCH_BATCH_MS": "100",
        **extra,
    })
    return env


LOG_TAIL_LINES = 60  # of a part's log, printed when a test fails with it running


@contextmanager
def part(settings: Settings, name: str, **extra: str) -> Iterator[subprocess.Popen]:
    """``keywatch run --only NAME`` as a child process; killed (if alive) on exit."""
    proc = start_part(settings, name, **extra)
    try:
        yield proc
    except BaseException:  # the part's own account of a failure, in pytest's report
        log = Path(settings.home) / "logs" / f"{name}.log"
        if log.exists():
            tail = log.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
            print(f"--- last lines of {log}:", *tail, sep="\n", file=sys.stderr)
        raise
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()


def start_part(settings: Settings, name: str, **extra: str) -> subprocess.Popen:
    """Its log goes to ``{home}/logs/{name}.log`` (a pipe nobody reads could fill up
    and block the part)."""
    logs = Path(settings.home) / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with open(logs / f"{name}.log", "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "keywatch", "run", "--only", name],
            cwd=ROOT, env=part_env(settings, **extra),
            stdout=subprocess.DEVNULL, stderr=log,
        )


def speed_profile(n: int, step: int) -> float:
    """50 km/h, except every 10th device speeds at 75 km/h for steps 10–19 (100 s)."""
    return 75.0 if n % 10 == 0 and 10 <= step < 20 else 50.0


def fleet_city(engine: Engine, prefix: str, devices: int) -> list[str]:
    """The tiny city with school buses ``{prefix}-0000``… and a ``{prefix}-probe``."""
    names = [f"{prefix}-{n:04d}" for n in range(devices)]
    with transaction(make_sessionmaker(engine)) as session:
        make_city(session, devices={name: "school_bus" for name in [*names, f"{prefix}-probe"]})
    return names


def probe(pub: Publisher, engine: Engine, start: datetime, device: str) -> None:
    """Re-published until stored: proves the worker's persistent session exists."""
    def stored() -> bool:
        publish_fleet(pub, devices=[device], per_device=1, start=start,
                      lat=OUTSIDE[0], lon=OUTSIDE[1], parked=True)
        return scalar(engine, "SELECT count(*) FROM fixes WHERE device_id = :d", d=device) >= 1

    wait_for(stored, 60, "the probe fix", poll_s=0.5)


def publish_fleet(pub: Publisher, *, devices: list[str], per_device: int, start: datetime,
                  lat: float, lon: float, parked: bool = False, first_step: int = 0) -> int:
    """Publish per_device fixes for each device, 10 s apart, moving east at ~50 km/h;
    fix ``step`` has ``seq`` = step (steps from ``first_step``)."""
    infos = []
    for step in range(first_step, first_step + per_device):
        ts = (start + timedelta(seconds=10 * step)).isoformat()
        for n, device in enumerate(devices):
            body = {"ts": ts, "lat": lat + n * 1e-4, "lon": lon + step * 1.5e-3,
                    "speed": speed_profile(n, step), "ign": True, "seq": step}
            if parked:
                body.update(speed=0.0, ign=False)
            infos.append(pub.publish(f"kw/v1/dev/{device}/pos", json.dumps(body)))
            if len(infos) % 5000 == 0:  # bounded: paho's own queue is not unlimited
                for info in infos[-5000:]:
                    info.wait_for_publish(60)
    for info in infos:
        info.wait_for_publish(60)
    return len(infos)
