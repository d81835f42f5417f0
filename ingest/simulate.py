"""``keywatch simulate``: a load generator of realistic moving vehicles.

Vehicles of every class (the sample city's mix) drive between the sample
city's sites and along its routes, stop, change drivers and now and then break
a rule (``violation_rate``: violations per vehicle per minute). Each reports
one fix every ``interval_s`` seconds for ``duration_s`` seconds, through MQTT
JSON (contract §3) or as JT/T 808 terminals connected to the platform's
gateway, from ``processes`` processes. See ``simulate_worker`` for the pacing,
``simulate_vehicle``/``simulate_trips`` for the driving, ``simulate_fleet`` for
identities and registry rows.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import queue
import sys
import time
from collections import Counter
from dataclasses import dataclass, field

from ingest.simulate_fleet import register_simulated_fleet
from ingest.simulate_worker import COUNTERS, Plan, run
from keywatch.settings import Settings, parse_duration

PROTOCOLS = ("json", "jt808")
DEFAULT_PREFIX = {"json": "sim-", "jt808": "1990"}  # a JT/T 808 id is a phone number


@dataclass(frozen=True, slots=True)
class Summary:
    vehicles: int
    fixes: int
    events: int
    seconds: float
    errors: int
    protocol: str
    processes: int
    per_class: dict[str, int] = field(default_factory=dict)
    violations: dict[str, int] = field(default_factory=dict)

    @property
    def fixes_per_s(self) -> float:
        return self.fixes / self.seconds if self.seconds > 0 else 0.0

    def table(self) -> str:
        rows = [("protocol", f"{self.protocol} × {self.processes} processes"),
                ("vehicles", f"{self.vehicles:,}"), ("fixes", f"{self.fixes:,}"),
                ("tacho events", f"{self.events:,}"), ("seconds", f"{self.seconds:.1f}"),
                ("fixes/s", f"{self.fixes_per_s:,.0f}"), ("publish errors", f"{self.errors:,}")]
        rows += [(f"  fixes {cls}", f"{n:,}") for cls, n in sorted(self.per_class.items())]
        rows.append(("violations injected", f"{sum(self.violations.values()):,}"))
        rows += [(f"  {kind}", f"{n:,}") for kind, n in sorted(self.violations.items())]
        width = max(len(k) for k, _ in rows)
        return "\n".join(f"{k:<{width}}  {v:>14}" for k, v in rows)

    def result_line(self) -> str:
        return (f"RESULT vehicles={self.vehicles} fixes={self.fixes} seconds={self.seconds:.2f} "
                f"fixes_per_s={self.fixes_per_s:.0f} errors={self.errors} "
                f"violations={sum(self.violations.values())}")


def _plan(settings: Settings, *, vehicles: int, interval_s: float, duration_s: float,
          protocol: str, processes: int, seed: int, prefix: str | None, violation_rate: float,
          jt808_host: str | None, jt808_port: int | None) -> Plan:
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be json or jt808, not {protocol!r}")
    if vehicles < 1 or interval_s <= 0 or duration_s <= 0 or violation_rate < 0:
        raise ValueError("vehicles, interval and duration must be positive, violations ≥ 0")
    prefix = DEFAULT_PREFIX[protocol] if prefix is None else prefix
    if protocol == "jt808" and (not prefix.isdigit() or prefix.startswith("0")
                                or len(prefix) + max(5, len(str(vehicles))) > 12):
        raise ValueError(f"--prefix {prefix!r}: a JT/T 808 terminal id is a phone number, so "
                         "the prefix must be digits not starting with 0 (e.g. 1990)")
    if not settings.mqtt_url and protocol == "json":
        raise ValueError("KEYWATCH_MQTT_URL is not set: run `keywatch services up` or set it")
    return Plan(vehicles, interval_s, duration_s, protocol, max(1, min(processes, vehicles)),
                seed, prefix, violation_rate, settings.mqtt_url,
                jt808_host or settings.http_host,
                settings.jt808_port if jt808_port is None else jt808_port, settings.tz)


def simulate(settings: Settings, *, vehicles: int, interval_s: float, duration_s: float,
             protocol: str = "json", processes: int = 1, seed: int = 1,
             prefix: str | None = None, violation_rate: float = 0.0, progress: bool = True,
             jt808_host: str | None = None, jt808_port: int | None = None) -> Summary:
    """Run the simulation to the end and return its tally (see module docstring).

    ``prefix`` defaults to ``sim-`` (JSON) or ``1990`` (JT/T 808); the fleet must be
    registered (``register_simulated_fleet``) with the same prefix and seed.
    """
    plan = _plan(settings, vehicles=vehicles, interval_s=interval_s, duration_s=duration_s,
                 protocol=protocol, processes=processes, seed=seed, prefix=prefix,
                 violation_rate=violation_rate, jt808_host=jt808_host, jt808_port=jt808_port)
    ctx = mp.get_context("spawn")  # never fork a process that runs paho or worker threads
    counters = ctx.RawArray("q", plan.processes * len(COUNTERS))
    barrier = ctx.Barrier(plan.processes + 1)
    start_at = ctx.RawValue("d", 0.0)
    results = ctx.Queue()
    workers = [ctx.Process(target=run, args=(plan, i, counters, barrier, start_at, results),
                           name=f"kw-simulate-{i}", daemon=True)
               for i in range(plan.processes)]
    for worker in workers:
        worker.start()
    try:
        return _supervise(plan, workers, counters, barrier, start_at, results, progress)
    finally:
        for worker in workers:
            if worker.is_alive():
                worker.terminate()
            worker.join(5)


def _supervise(plan: Plan, workers: list, counters, barrier, start_at, results,  # type: ignore[no-untyped-def]
               progress: bool) -> Summary:
    barrier.wait(timeout=300)
    start_at.value = time.time() + 0.5
    barrier.wait(timeout=60)
    began = start_at.value
    tallies: dict[int, dict] = {}
    last = (began, 0)
    while len(tallies) < len(workers):
        try:
            index, tally = results.get(timeout=1.0)
            tallies[index] = tally
        except queue.Empty:
            if not any(w.is_alive() for w in workers):
                break  # a process died without reporting
        if progress:
            last = _progress_line(plan, counters, began, last)
    seconds = time.time() - began
    if progress:
        sys.stderr.write("\n")
    missing = len(workers) - len(tallies)
    if missing:
        print(f"keywatch simulate: {missing} simulator process(es) failed", file=sys.stderr)
    total: Counter[str] = Counter()
    per_class: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    for tally in tallies.values():
        total.update({k: tally[k] for k in COUNTERS})
        per_class.update(tally["per_class"])
        kinds.update(tally["violation_kinds"])
    return Summary(plan.vehicles, total["fixes"], total["events"], seconds,
                   total["errors"] + missing, plan.protocol, plan.processes,
                   dict(per_class), dict(kinds))


def _progress_line(plan: Plan, counters, began: float, last: tuple[float, int]  # type: ignore[no-untyped-def]
                   ) -> tuple[float, int]:
    now = time.time()
    width = len(COUNTERS)
    fixes = sum(counters[i * width] for i in range(plan.processes))
    errors = sum(counters[i * width + 2] for i in range(plan.processes))
    rate = (fixes - last[1]) / max(now - last[0], 1e-6)
    sys.stderr.write(f"\r{max(0.0, now - began):6.0f}/{plan.duration_s:.0f} s  "
                     f"{fixes:>12,} fixes  {rate:>9,.0f} fixes/s  {errors:,} errors   ")
    sys.stderr.flush()
    return now, fixes


# -- command line (wired by keywatch/cli.py) ---------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--vehicles", type=int, required=True, help="number of vehicles")
    parser.add_argument("--interval", type=parse_duration, default=1.0,
                        help="seconds between two fixes of a vehicle (default 1)")
    parser.add_argument("--duration", type=parse_duration, required=True,
                        help="how long to run: seconds or e.g. 90s, 5m, 1h")
    parser.add_argument("--protocol", choices=PROTOCOLS, default="json",
                        help="MQTT JSON (default) or JT/T 808 terminals via the gateway")
    parser.add_argument("--processes", type=int, default=1, help="publishing processes")
    parser.add_argument("--seed", type=int, default=1, help="random seed (identities, trips)")
    parser.add_argument("--prefix", default=None,
                        help="device id prefix (default sim-; 1990 for jt808: digits only)")
    parser.add_argument("--violations", type=float, default=0.0, metavar="RATE",
                        help="violations per vehicle per minute (default 0)")
    parser.add_argument("--register", action="store_true",
                        help="create the simulated vehicles in the registry first")


def run_command(settings: Settings, args: argparse.Namespace) -> int:
    """``keywatch simulate …``: optionally register, simulate, print the summary."""
    prefix = args.prefix or DEFAULT_PREFIX[args.protocol]
    if args.register:
        from keywatch.db import make_engine, make_sessionmaker, transaction

        engine = make_engine(settings.database_url)
        with transaction(make_sessionmaker(engine)) as session:
            done = register_simulated_fleet(session, vehicles=args.vehicles, prefix=prefix,
                                            seed=args.seed)
        engine.dispose()
        print(f"registered {done['vehicles']:,} vehicles ({done['created']:,} new)",
              file=sys.stderr)
    summary = simulate(settings, vehicles=args.vehicles, interval_s=args.interval,
                       duration_s=args.duration, protocol=args.protocol,
                       processes=args.processes, seed=args.seed, prefix=prefix,
                       violation_rate=args.violations)
    print(summary.table())
    print(summary.result_line())
    return 0 if summary.errors == 0 else 1
