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

from ingest.mqtt import Publisher
from keywatch.settings import Settings

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


@contextmanager
def part(settings: Settings, name: str, **extra: str) -> Iterator[subprocess.Popen]:
    """``keywatch run --only NAME`` as a child process; killed (if alive) on exit."""
    proc = start_part(settings, name, **extra)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()


def start_part(settings: Settings, name: str, **extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "keywatch", "run", "--only", name],
        cwd=ROOT, env=part_env(settings, **extra),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )


def speed_profile(n: int, step: int) -> float:
    """50 km/h, except every 10th device speeds at 75 km/h for steps 10–19 (100 s)."""
    return 75.0 if n % 10 == 0 and 10 <= step < 20 else 50.0


def publish_fleet(pub: Publisher, *, devices: list[str], per_device: int, start: datetime,
                  lat: float, lon: float, parked: bool = False) -> int:
    """Publish per_device fixes for each device, 10 s apart, moving east at ~50 km/h."""
    infos = []
    for step in range(per_device):
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
