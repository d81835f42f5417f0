"""Prometheus metrics of ingest (served by the web part's /metrics)."""

import contextlib

from prometheus_client import Counter, Gauge, Histogram

FIXES_STORED = Counter("keywatch_fixes_stored_total", "Fixes stored (new)")
FIXES_DUPLICATE = Counter("keywatch_fixes_duplicate_total", "Redelivered or duplicated fixes")
DEAD_LETTERS = Counter("keywatch_dead_letters_total", "Rejected messages/items", ["reason"])
BATCH_SECONDS = Histogram("keywatch_ingest_batch_seconds", "Time to process and commit a batch",
                          buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
QUEUE_DEPTH = Gauge("keywatch_ingest_queue_depth", "Messages received, not yet committed")
INCIDENTS_OPENED = Counter("keywatch_incidents_opened_total", "Incidents opened", ["rule"])
LAG_SECONDS = Histogram("keywatch_ingest_lag_seconds",
                        "From receipt of a batch's oldest message to its commit",
                        buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300))
# sequence gaps (ingest.gaps): fixes terminals numbered that were never stored
SEQ_MISSING = Counter("keywatch_seq_missing_fixes_total",
                      "Fixes missing from per-device seq numbering, summed over scanned windows")
SEQ_GAP_DEVICES = Gauge("keywatch_seq_gap_devices",
                        "Devices with missing fixes in the last scanned window")
SEQ_GAP_SCANS = Counter("keywatch_seq_gap_scans_total", "Sequence-gap windows scanned")
# health of the ingest workers in this process (dashboard /readyz, or this part's /metrics)
INGEST_READY = Gauge("keywatch_ingest_ready",
                     "1 while the worker can store and acknowledge, 0 while its database "
                     "is unavailable, read-only or full (nothing is acknowledged)", ["worker"])
INGEST_HEARTBEAT = Gauge("keywatch_ingest_heartbeat_timestamp_seconds",
                         "When the worker last went round its loop (stale: stuck)", ["worker"])


def worker_health(stale_after_s: float, now: float) -> str | None:
    """"ok", what is wrong with the ingest workers of this process, or None when this
    process runs none (a worker that stopped cleanly removes its samples)."""
    ready = {s.labels["worker"]: s.value for m in INGEST_READY.collect() for s in m.samples}
    beats = {s.labels["worker"]: s.value for m in INGEST_HEARTBEAT.collect() for s in m.samples}
    if not beats:
        return None
    problems = [f"{name}: database unavailable, read-only or full, not acknowledging"
                for name, value in sorted(ready.items()) if not value]
    problems += [f"{name}: no heartbeat for {now - beat:.0f} s"
                 for name, beat in sorted(beats.items()) if now - beat > stale_after_s]
    return "; ".join(problems) or "ok"


def forget_worker(name: str) -> None:
    for gauge in (INGEST_READY, INGEST_HEARTBEAT):
        with contextlib.suppress(KeyError):
            gauge.remove(name)
