"""Prometheus metrics of the dispatcher (exported by whichever process runs it)."""

from prometheus_client import Counter

DELIVERIES = Counter("keywatch_deliveries", "Delivery outcomes by channel",
                     ["channel", "outcome"])  # exported as keywatch_deliveries_total
