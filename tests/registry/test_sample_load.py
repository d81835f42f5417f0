"""`keywatch sample load` into a real database: the whole sample city, idempotently."""

from __future__ import annotations

from sqlalchemy import text

from keywatch.db import make_sessionmaker, transaction
from registry.sample import SAMPLE_DIR, load_sample_city


def test_sample_city_loads_twice_without_duplicates(clean_db, engine):
    factory = make_sessionmaker(engine)
    with transaction(factory) as session:
        first = load_sample_city(session, SAMPLE_DIR)
    with transaction(factory) as session:
        second = load_sample_city(session, SAMPLE_DIR)
    assert first["vehicles"] == second["vehicles"] == 200
    assert first["districts"] == 10 and first["geofences"] == second["geofences"]
    inspected = first["inspections (last month)"]
    assert inspected > 0 and second["inspections (last month)"] == 0
    with engine.connect() as conn:
        counts = dict(conn.execute(text(
            "SELECT 'vehicles', count(*) FROM vehicles UNION ALL "
            "SELECT 'grants', count(*) FROM vehicle_grants UNION ALL "
            "SELECT 'bindings', count(*) FROM device_bindings UNION ALL "
            "SELECT 'muck', count(*) FROM vehicles WHERE vehicle_class = 'muck_truck' UNION ALL "
            "SELECT 'inspections', count(*) FROM inspections")).all())
    assert counts["vehicles"] == 200 and counts["bindings"] == 200 and counts["grants"] > 0
    assert counts["inspections"] == inspected < counts["muck"]  # a few trucks "forgot"
