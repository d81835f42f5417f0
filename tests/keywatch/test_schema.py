"""The migrations produce exactly the models' schema (no drift), idempotently."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from geoalchemy2 import alembic_helpers
from sqlalchemy import text

from keywatch.migrate import upgrade
from keywatch.models import metadata


def _not_partition(obj, name, type_, reflected, compare_to):  # type: ignore[no-untyped-def]
    table = obj if type_ == "table" else getattr(obj, "table", None)
    if table is not None and str(table.name).startswith("fixes_"):
        return False  # daily partitions are made at run time
    return alembic_helpers.include_object(obj, name, type_, reflected, compare_to)


def test_migrations_match_models(engine):
    upgrade(engine)  # a second upgrade is a no-op
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"include_object": _not_partition, "compare_type": True})
        assert compare_metadata(context, metadata) == []


def test_postgis_and_partitions(engine):
    with engine.begin() as conn:
        assert conn.execute(text("SELECT postgis_version()")).scalar()
        name = conn.execute(text("SELECT keywatch_ensure_fix_partition(DATE '2026-11-20')"))
        assert name.scalar() == "fixes_20261120"
        kind = conn.execute(text("SELECT relkind FROM pg_class WHERE relname = 'fixes'"))
        assert kind.scalar() == "p"


def test_checkpoints_are_updated_in_place(engine):
    """No index on a column every checkpoint write changes (HOT updates), and room on
    each page for the new row version (migration 0520)."""
    with engine.connect() as conn:
        indexed = conn.execute(text(
            "SELECT a.attname FROM pg_index i JOIN pg_attribute a "
            "ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
            "WHERE i.indrelid = 'vehicle_state'::regclass")).scalars().all()
        options = conn.execute(text(
            "SELECT reloptions FROM pg_class WHERE relname = 'vehicle_state'")).scalar_one()
    assert indexed == ["vehicle_id"]
    assert "fillfactor=50" in options


def test_private_cluster_has_the_write_load_settings(engine, private_services):
    """keywatch.services applies PG_TUNING on every start, to clusters made before too."""
    from keywatch.services import PG_TUNING

    if private_services is None:
        return  # services given from outside (KEYWATCH_DATABASE_URL): theirs to tune
    with engine.connect() as conn:
        for name, value in PG_TUNING.items():
            shown = conn.execute(text(f"SHOW {name}")).scalar_one()
            assert shown == value, name
