"""``keywatch run``: run the parts of the platform, all in one process or each alone."""

from __future__ import annotations

import ctypes
import functools
import gc
import logging
import signal
import threading
import time
from pathlib import Path
from typing import Any

from prometheus_client import Histogram

from keywatch.settings import Settings

log = logging.getLogger(__name__)
PARTS = ("ingest", "dispatch", "gateway", "web")


GC_GEN0_THRESHOLD = 200_000  # allocations between young collections (CPython's default: 700)
GC_GEN1_THRESHOLD = 100  # young collections between middle ones (CPython's default: 10)
SLOW_GC_S = 0.2  # a collection this long is logged: every thread of the process stood still
GC_PAUSE_SECONDS = Histogram(
    "keywatch_gc_pause_seconds", "Garbage-collector pauses (the whole process stops)",
    ["generation"], buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5))
_gc_started: list[float] = [0.0]


def tune_gc() -> None:
    """Garbage collection for a long-running process that holds many objects
    (the ingest worker's checkpoints and fence index): what exists after start-up
    is frozen out of collection, and young collections run every 200,000
    allocations instead of 700. Measured on the ingest pipeline (5,000 vehicles,
    one fix each per batch): ~2,400 → ~3,200 fixes/s with 50,000; 50,000 → 200,000:
    a batch's objects (2,500 fixes: ~50,000 containers, none in a reference cycle) are
    freed before a collection comes, instead of being traversed once or twice a batch
    (25,000 vehicles: 33 young collections of ~30 ms in 75,000 fixes → one of 120 ms,
    ~12 → ~1.6 µs per fix). A batch's checkpoints
    survive a young collection and die with the next batch: middle collections
    every 100 young ones instead of 10 find most of them already freed (40,000
    vehicles, one fix each per batch: collector time 3.2-3.7 → 1.5 s in 20 s,
    7,400-7,900 → 8,300 fixes/s). Memory is still freed by reference counting;
    only cycles wait a little longer; full collections keep CPython's rule."""
    gc.collect()
    gc.freeze()
    gen2 = gc.get_threshold()[2]
    gc.set_threshold(GC_GEN0_THRESHOLD, GC_GEN1_THRESHOLD, gen2)
    if _time_gc not in gc.callbacks:
        gc.callbacks.append(_time_gc)


def rss_mb(pid: int) -> float:
    """Resident memory of a process (VmRSS), MB; 0 once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0.0


def release_free_memory() -> bool:
    """Give the C heap's free pages back to the system (glibc's ``malloc_trim``); False
    where there is no glibc. A burst (a lag bump's bigger inbox and batch) leaves the
    heap fragmented: what was freed stays resident behind a few live blocks, and the
    process's RSS only ever climbs to the next burst's high-water mark."""
    trim = _malloc_trim()
    return bool(trim(0)) if trim is not None else False


@functools.cache
def _malloc_trim() -> Any:
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


def _time_gc(phase: str, info: dict[str, Any]) -> None:
    """Each collection's pause in ``keywatch_gc_pause_seconds``; a long one logged
    (it shows up as ingest lag and late alerts)."""
    if phase == "start":
        _gc_started[0] = time.perf_counter()
        return
    pause = time.perf_counter() - _gc_started[0]
    GC_PAUSE_SECONDS.labels(str(info["generation"])).observe(pause)
    if pause >= SLOW_GC_S:
        log.warning("garbage collection (generation %d) paused the process %.0f ms; "
                    "%d objects collected", info["generation"], pause * 1000, info["collected"])


def run_parts(settings: Settings, parts: list[str]) -> int:
    parts = parts or list(PARTS)
    unknown = set(parts) - set(PARTS)
    if unknown:
        print(f"keywatch run: unknown part(s) {', '.join(sorted(unknown))}; "
              f"choose from {', '.join(PARTS)}")
        return 2
    stoppers = []
    threads = []
    if "ingest" in parts:
        from keywatch.wiring import build_ingest_worker

        worker = build_ingest_worker(settings)
        threads.append(threading.Thread(target=worker.run, name="ingest", daemon=True))
        stoppers.append(worker.stop)
    if "dispatch" in parts:
        from alerts.dispatcher import Dispatcher
        from keywatch.db import make_engine

        dispatcher = Dispatcher(make_engine(settings.database_url), settings)
        threads.append(threading.Thread(target=dispatcher.run, name="dispatch", daemon=True))
        stoppers.append(dispatcher.stop)
    if "gateway" in parts:
        from ingest.gateway_service import GatewayService

        gateway = GatewayService(settings)
        threads.append(threading.Thread(target=gateway.run, name="gateway", daemon=True))
        stoppers.append(gateway.stop)
    from keywatch.broker_sync import BrokerAccounts

    accounts = BrokerAccounts(settings)
    if "ingest" in parts:
        accounts.on_change.append(worker.consumer.registry_changed)
    if accounts.applies:  # the private broker: terminals' accounts follow the registry
        threads.append(threading.Thread(target=accounts.run, name="broker-accounts",
                                        daemon=True))
        stoppers.append(accounts.stop)
    if "web" not in parts and settings.metrics_port:
        from prometheus_client import start_http_server

        # a part running alone serves its own /metrics (the web part serves the rest)
        start_http_server(settings.metrics_port, addr=settings.http_host)
    tune_gc()
    for thread in threads:
        thread.start()
    log.info("running: %s", ", ".join(parts))
    if "web" in parts:
        import uvicorn

        from dashboard.app import create_app
        from keywatch.logs import uvicorn_log_config

        uvicorn.run(create_app(settings), host=settings.http_host, port=settings.http_port,
                    log_level="info", log_config=uvicorn_log_config())
    else:
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *a: stop.set())
        try:
            while not stop.wait(1):
                if not all(t.is_alive() for t in threads):
                    log.error("a part stopped unexpectedly")
                    break
        except KeyboardInterrupt:
            pass
    for stopper in stoppers:
        stopper()
    for thread in threads:
        thread.join(timeout=10)
    return 0
