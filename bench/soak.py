"""Soak: the whole platform under a city's load for minutes (issue 9).

The parts ``keywatch run`` starts — ingest (× ``--workers``, in slots when more than
one), dispatch, gateway, web — each as a subprocess on a scratch database and a
broker of its own (bench/common.py), and ``keywatch simulate`` publishing
``--vehicles`` vehicles, one fix each per ``--interval`` s (default 50,000 per 10 s:
5,000 fixes/s), for ``--minutes``. Every ``--sample`` s it records:

- ingest lag, publish → commit: probe vehicles publish a fix every second (``ts`` =
  now); each is timed from its publish to the first ingest commit (the batch's NOTIFY
  on ``keywatch_positions``) after which it is in the database;
- alert latency: a fresh vehicle raises ``sos`` every ``--alert-every`` s, timed from
  its publish to its incident's commit (the NOTIFY on ``keywatch_outbox``);
- each platform process's RSS (/proc), the database size and the fixes committed.

It prints a progress line per sample, then a table, and ends with
``RESULT lag_p99_ms=… alert_p99_ms=… rss_growth_mb=… db_mb_per_million_fixes=…
lag_trend_ms_per_min=…``, measured after ``--warmup`` s (the first fixes of 50,000
vehicles create their checkpoints; memory grows to its working set). Probes still
uncommitted at the end count with their age so far.

    .venv/bin/python bench/soak.py [--vehicles 50000] [--minutes 10] [--workers 1]
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.alert_latency import Stamps, commit_listener, percentiles  # noqa: E402
from bench.common import (  # noqa: E402
    free_ports,
    platform_env,
    scratch_settings,
    start_keywatch,
)
from ingest.mqtt import BrokerAddress, Publisher  # noqa: E402
from ingest.pipeline import POSITIONS_CHANNEL  # noqa: E402
from ingest.simulate_fleet import company_code, register_simulated_fleet  # noqa: E402
from keywatch.db import make_engine, make_sessionmaker, psycopg_url, transaction  # noqa: E402
from keywatch.process import rss_mb  # noqa: E402
from registry.models import Vehicle  # noqa: E402

PROBES = 5
PARTS = ("dispatch", "gateway", "web")


class ProbeLag:
    """Probe fixes from publish to commit: after each ingest commit's NOTIFY, which of
    the pending probe fixes are stored now."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.pending: dict[tuple[str, int], float] = {}  # (device, seq) → published
        self.done: list[tuple[float, float]] = []  # (committed, lag ms), monotonic
        self.lock = threading.Lock()

    def published(self, device: str, seq: int) -> None:
        with self.lock:
            self.pending[(device, seq)] = time.monotonic()

    def listen(self, stop: threading.Event) -> None:
        with psycopg.connect(self.url, autocommit=True) as listen, \
                psycopg.connect(self.url, autocommit=True) as look:
            listen.execute(f"LISTEN {POSITIONS_CHANNEL}")
            while not stop.is_set():
                if any(True for _ in listen.notifies(timeout=0.5, stop_after=1)):
                    self._look(look, time.monotonic())

    def _look(self, conn: psycopg.Connection, now: float) -> None:
        with self.lock:
            keys = list(self.pending)
        if not keys:
            return
        rows = conn.execute(
            "SELECT device_id, seq FROM fixes WHERE device_id = ANY(%s) AND seq >= %s "
            "AND ts > now() - interval '1 hour'",
            (sorted({d for d, _ in keys}), min(s for _, s in keys))).fetchall()
        with self.lock:
            for device, seq in rows:
                published = self.pending.pop((device, seq), None)
                if published is not None:
                    self.done.append((now, (now - published) * 1000))

    def window(self, since: float, until: float) -> list[float]:
        with self.lock:
            return [lag for at, lag in self.done if since <= at < until]

    def unfinished(self, now: float) -> list[float]:
        with self.lock:
            return [(now - published) * 1000 for published in self.pending.values()]

    def missing(self) -> str:
        """Probe fixes not committed yet, as ``device #first–#last (n)``."""
        with self.lock:
            seqs: dict[str, list[int]] = {}
            for device, seq in sorted(self.pending):
                seqs.setdefault(device, []).append(seq)
        return ", ".join(f"{d} #{s[0]}–#{s[-1]} ({len(s)})" for d, s in seqs.items())


@dataclass
class Sample:
    t: float  # seconds since the load began
    fixes: int
    db_mb: float
    rss: dict[str, float]
    lag: dict[str, float]
    alert: dict[str, float]


@dataclass
class Run:
    args: argparse.Namespace
    db_url: str
    where: tuple[float, float]  # (lat, lon) of the probes and alarms
    began: float = 0.0  # monotonic, when the load began
    loaded: int = 0  # samples taken while the simulator ran (then one after the drain)
    checkpoints: str = ""  # how the checkpoint table bore the load (checkpoint_table)
    parts: dict[str, object] = field(default_factory=dict)  # name → Popen
    probes: ProbeLag | None = None
    alerts: Stamps = field(default_factory=Stamps)
    published_alerts: dict[str, float] = field(default_factory=dict)  # plate → monotonic
    samples: list[Sample] = field(default_factory=list)


def register(engine, args: argparse.Namespace) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """The simulated fleet, probe and alarm vehicles; returns a (lat, lon) in the city."""
    from sqlalchemy import text

    with transaction(make_sessionmaker(engine)) as session:
        register_simulated_fleet(session, vehicles=args.vehicles, prefix="sim-", seed=1)
        district = session.execute(text(
            "SELECT code, ST_Y(ST_PointOnSurface(geom)), ST_X(ST_PointOnSurface(geom)) "
            "FROM districts ORDER BY code LIMIT 1")).one()
        alarms = int(args.minutes * 60 / args.alert_every) + 10
        extra = [(f"soak-probe-{n}", f"鲁Y{n:05d}") for n in range(PROBES)]
        extra += [(f"sos-{n:05d}", alarm_plate(n)) for n in range(alarms)]
        session.add_all(Vehicle(plate=plate, vehicle_class="freight",
                                company_code=company_code("freight"), device_id=device,
                                home_district=district[0], status="active")
                        for device, plate in extra)
    return district[1], district[2]


def alarm_plate(n: int) -> str:
    return f"鲁Z{n:05d}"


def start_platform(run: Run, settings, home: Path) -> None:  # type: ignore[no-untyped-def]
    slots = {"KEYWATCH_INGEST_SLOTS": "8"} if run.args.workers > 1 else {}
    env = platform_env(settings, home, **slots)
    for n in range(run.args.workers):
        run.parts[f"ingest-{n}"] = start_keywatch(["run", "--only", "ingest"], env,
                                                  home / f"ingest-{n}.log")
    for part in PARTS:
        run.parts[part] = start_keywatch(["run", "--only", part], env, home / f"{part}.log")


def publish_probes_and_alarms(run: Run, settings, where: tuple[float, float],  # type: ignore[no-untyped-def]
                              stop: threading.Event) -> None:
    """Every second a fix from each probe; every ``alert_every`` s an ``sos``."""
    pub = Publisher(BrokerAddress.parse(settings.mqtt_url)).start()
    seq, alarm, next_alarm = 0, 0, time.monotonic() + run.args.warmup / 2
    lat, lon = where
    sent = []
    try:
        while not stop.wait(1.0 - time.monotonic() % 1.0):
            seq += 1
            now = datetime.now(UTC).isoformat()
            for n in range(PROBES):
                device = f"soak-probe-{n}"
                run.probes.published(device, seq)  # type: ignore[union-attr]
                sent.append(pub.publish(f"kw/v1/dev/{device}/pos", json.dumps(
                    {"ts": now, "lat": lat, "lon": lon, "speed": 0.0, "ign": False, "seq": seq})))
            if time.monotonic() >= next_alarm:
                device = f"sos-{alarm:05d}"
                run.published_alerts[alarm_plate(alarm)] = time.monotonic()
                sent.append(pub.publish(f"kw/v1/dev/{device}/pos", json.dumps(
                    {"ts": now, "lat": lat, "lon": lon, "speed": 20.0, "alarms": ["sos"]})))
                alarm, next_alarm = alarm + 1, next_alarm + run.args.alert_every
            sent = sent[-100:]
    finally:
        for info in sent:  # the broker has them all before we hang up
            info.wait_for_publish(10)
        pub.stop()


def take_sample(run: Run, conn: psycopg.Connection, since: float) -> Sample:
    now = time.monotonic()
    fixes, size = conn.execute("SELECT (SELECT coalesce(sum(fixes_total), 0) FROM vehicle_state),"
                               " pg_database_size(current_database())").fetchone()  # type: ignore[misc]
    with run.alerts.lock:
        committed = {k: at for k, at in run.alerts.times.items() if since <= at < now}
    return Sample(round(now - run.began), int(fixes), size / 2**20,
                  {name: rss_mb(proc.pid) for name, proc in run.parts.items()},  # type: ignore[attr-defined]
                  percentiles(run.probes.window(since, now)),  # type: ignore[union-attr]
                  percentiles(_alert_ms(run, committed)))


def progress(sample: Sample, previous: Sample | None) -> str:
    rate = (sample.fixes - previous.fixes) / max(sample.t - previous.t, 1) if previous else 0
    rss = " ".join(f"{name}={mb:.0f}" for name, mb in sample.rss.items())
    return (f"{sample.t:5.0f} s  {sample.fixes:>10,} fixes  {rate:7,.0f}/s  "
            f"lag p50/p99 {sample.lag['p50']:6.0f}/{sample.lag['p99']:6.0f} ms  "
            f"alert p99 {sample.alert['p99']:6.0f} ms (n={sample.alert['n']})  "
            f"db {sample.db_mb:7.1f} MB  rss MB {rss}")


def soak(run: Run, settings, home: Path) -> None:  # type: ignore[no-untyped-def]
    args, stop = run.args, threading.Event()
    run.probes = ProbeLag(run.db_url)
    listeners = [threading.Thread(target=run.probes.listen, args=(stop,), daemon=True),
                 threading.Thread(target=commit_listener, daemon=True,
                                  args=(settings.database_url, run.alerts, stop))]
    for thread in listeners:
        thread.start()
    start_platform(run, settings, home)
    wait_ingesting(run, settings)
    simulator = start_keywatch(
        ["simulate", "--vehicles", str(args.vehicles), "--interval", str(args.interval),
         "--duration", str(args.minutes * 60), "--processes", str(args.publishers),
         "--violations", str(args.violations)],
        platform_env(settings, home), home / "simulate.log")
    feeder = threading.Thread(target=publish_probes_and_alarms, daemon=True,
                              args=(run, settings, run.where, stop))
    run.began = time.monotonic()
    feeder.start()
    with psycopg.connect(run.db_url, autocommit=True) as conn:
        since, previous = run.began, None
        while simulator.poll() is None:
            time.sleep(max(0.0, since + args.sample - time.monotonic()))
            dead = {name: proc.returncode for name, proc in run.parts.items()  # type: ignore[attr-defined]
                    if proc.poll() is not None}  # type: ignore[attr-defined]
            if dead:
                simulator.terminate()
                raise SystemExit(f"platform part(s) stopped during the soak (exit codes "
                                 f"{dead}): see their logs in {home}")
            sample = take_sample(run, conn, since)
            print(progress(sample, previous), flush=True)
            run.samples.append(sample)
            since, previous = time.monotonic(), sample
        stop.set()
        run.loaded = len(run.samples)  # the samples taken under load
        drain_until = time.monotonic() + args.drain
        while run.probes.pending and time.monotonic() < drain_until:
            time.sleep(0.5)
        run.samples.append(take_sample(run, conn, since))
        run.checkpoints = checkpoint_table(conn)
    print(f"simulator: {last_line(home / 'simulate.log', 'RESULT')}")


def checkpoint_table(conn: psycopg.Connection) -> str:
    """How the checkpoint table bore the load: rows updated in place (HOT) or moved,
    its size, and how often autovacuum ran on it."""
    upd, hot, size, vacuums = conn.execute(
        "SELECT n_tup_upd, n_tup_hot_upd, pg_total_relation_size(relid), autovacuum_count "
        "FROM pg_stat_user_tables WHERE relname = 'vehicle_state'").fetchone()  # type: ignore[misc]
    return (f"vehicle_state: {upd:,} row updates, {100 * hot / max(upd, 1):.0f} % in place "
            f"(HOT); {size / 2**20:.0f} MB; autovacuumed {vacuums} times")


def wait_ingesting(run: Run, settings, timeout_s: float = 120.0) -> None:  # type: ignore[no-untyped-def]
    """A fix re-published until stored: ingest has subscribed (the broker drops what
    nobody subscribes to, so load published earlier would be lost, not late)."""
    pub = Publisher(BrokerAddress.parse(settings.mqtt_url)).start()
    fix = {"ts": datetime.now(UTC).isoformat(), "lat": run.where[0], "lon": run.where[1],
           "speed": 0.0, "ign": False, "seq": 0}
    deadline = time.monotonic() + timeout_s
    try:
        with psycopg.connect(run.db_url, autocommit=True) as conn:
            while time.monotonic() < deadline:
                pub.publish_and_wait("kw/v1/dev/soak-probe-0/pos", json.dumps(fix))
                if conn.execute("SELECT 1 FROM fixes WHERE device_id = 'soak-probe-0'"
                                ).fetchone():
                    return
                time.sleep(0.5)
    finally:
        pub.stop()
    raise TimeoutError(f"ingest stored nothing within {timeout_s:.0f} s: see its log")


def last_line(path: Path, prefix: str) -> str:
    lines = [line for line in path.read_text(errors="replace").splitlines()
             if line.startswith(prefix)]
    return lines[-1] if lines else "(no summary: see " + str(path) + ")"


def report(run: Run) -> None:
    args = run.args
    warm = [s for s in run.samples if s.t >= args.warmup] or run.samples
    first, last = warm[0], run.samples[-1]
    cut = run.began + args.warmup
    lag = percentiles([ms for at, ms in run.probes.done if at >= cut]  # type: ignore[union-attr]
                      + run.probes.unfinished(time.monotonic()))  # type: ignore[union-attr]
    with run.alerts.lock:
        committed = {k: at for k, at in run.alerts.times.items() if at >= cut}
    alert = percentiles(_alert_ms(run, committed))
    growth = {name: last.rss[name] - first.rss[name] for name in last.rss}
    fixes = last.fixes - first.fixes
    db_per_million = (last.db_mb - first.db_mb) / fixes * 1e6 if fixes > 0 else float("nan")
    timed = [s for s in run.samples[:run.loaded] if s.t >= args.warmup and s.lag["n"]]
    trend = float(np.polyfit([s.t / 60 for s in timed], [s.lag["p50"] for s in timed], 1)[0]
                  ) if len(timed) >= 3 else float("nan")
    under_load = run.samples[max(run.loaded - 1, 0)]
    rate = (under_load.fixes - first.fixes) / max(under_load.t - first.t, 1)
    offered = args.vehicles / args.interval
    print(f"\nafter {args.warmup:.0f} s of warm-up, {last.t - first.t:.0f} s measured: "
          f"{fixes:,} fixes committed ({rate:,.0f}/s of {offered:,.0f}/s offered)")
    print(f"{'measure':<34}{'n':>7}{'p50':>10}{'p95':>10}{'p99':>10}{'max':>10}")
    for name, row in (("ingest lag, publish → commit (ms)", lag),
                      ("alert, publish → incident (ms)", alert)):
        print(f"{name:<34}{row['n']:>7}{row['p50']:>10.0f}{row['p95']:>10.0f}"
              f"{row['p99']:>10.0f}{row['max']:>10.0f}")
    print(f"{'process':<34}{'RSS first MB':>14}{'last MB':>10}{'growth MB':>11}")
    for name in last.rss:
        print(f"{name:<34}{first.rss[name]:>14.0f}{last.rss[name]:>10.0f}{growth[name]:>11.1f}")
    if run.probes.missing():  # type: ignore[union-attr]
        print(f"probe fixes not committed by the end (still queued, or lost; counted with "
              f"their age): {run.probes.missing()}")  # type: ignore[union-attr]
    print(run.checkpoints)
    print(f"database: {first.db_mb:.0f} → {last.db_mb:.0f} MB "
          f"({db_per_million:.0f} MB per million fixes); lag trend {trend:+.1f} ms/min")
    print(f"RESULT lag_p99_ms={lag['p99']:.0f} alert_p99_ms={alert['p99']:.0f} "
          f"rss_growth_mb={max(growth.values()):.1f} db_mb_per_million_fixes="
          f"{db_per_million:.0f} lag_trend_ms_per_min={trend:.1f} fixes_per_s={rate:.0f} "
          f"offered_fixes_per_s={offered:.0f}")


def _alert_ms(run: Run, committed: dict[str, float]) -> list[float]:
    if not committed:
        return []
    # the sos alarm's incident only: the alarm vehicles fall silent after their one fix,
    # and their signal_lost incidents minutes later are not that alarm's latency
    with psycopg.connect(run.db_url) as conn:
        rows = conn.execute("SELECT id::text, plate FROM incidents WHERE id = ANY(%s)"
                            " AND rule = 'terminal_alarm'",
                            ([int(k) for k in committed],)).fetchall()
    plates: dict[str, str] = {key: plate for key, plate in rows}
    return [(at - run.published_alerts[plates[key]]) * 1000 for key, at in committed.items()
            if plates.get(key, "") in run.published_alerts]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vehicles", type=int, default=50_000)
    parser.add_argument("--interval", type=float, default=10.0, help="s between a vehicle's fixes")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=1, help="ingest processes (slots if > 1)")
    parser.add_argument("--publishers", type=int, default=2, help="simulator processes")
    parser.add_argument("--violations", type=float, default=0.0,
                        help="simulated violations per vehicle per minute")
    parser.add_argument("--sample", type=float, default=15.0, help="s between samples")
    parser.add_argument("--warmup", type=float, default=60.0, help="s not counted")
    parser.add_argument("--alert-every", type=float, default=5.0)
    parser.add_argument("--drain", type=float, default=60.0,
                        help="s to wait for the last probes after the load stops")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="kw-soak-"))
    http_port, jt808_port = free_ports(2)
    with scratch_settings(http_port=http_port, jt808_port=jt808_port) as settings:
        engine = make_engine(settings.database_url)
        print(f"registering {args.vehicles:,} vehicles …", flush=True)
        run = Run(args, psycopg_url(settings.database_url), where=register(engine, args))
        engine.dispose()
        print(f"platform and simulator: logs in {home}", flush=True)
        try:
            soak(run, settings, home)
        finally:
            for proc in run.parts.values():
                proc.send_signal(signal.SIGTERM)  # type: ignore[attr-defined]
            for proc in run.parts.values():
                proc.wait(30)  # type: ignore[attr-defined]
        report(run)
    return 0


if __name__ == "__main__":
    sys.exit(main())
