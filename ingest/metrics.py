"""Prometheus metrics of ingest (served by the web part's /metrics)."""

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
