"""PostgreSQL row-level security (migration 0500), the defence behind dashboard/scope.py.

Raw SQL with no WHERE clause of the app's, run the way a web request runs (the
non-owner ``keywatch_app`` role, ``keywatch.scope`` set by ``keywatch.db.set_scope``):
a company sees its own rows only, an unset scope none, police and system processes all;
a company cannot write rows of another company.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import ProgrammingError
from sqlalchemy.orm import Session

from keywatch.db import (
    APP_ROLE,
    NO_SCOPE,
    STAFF,
    SYSTEM,
    company_scope,
    make_sessionmaker,
    psycopg_url,
    set_scope,
    transaction,
)

MUCK, OTHER = "QD-MUCK-01", "QD-OTHER-01"
TO_COMPANY = "CASE WHEN recipient_kind = 'company' THEN recipient END"
OWNED_BY_A_VEHICLE = ("vehicle_grants", "device_bindings", "vehicle_state", "inspections",
                      "tacho_events", "fixes", "evidence_fixes")
# protected table → the company a row belongs to (NULL: police-only rows)
WHOSE = {
    "companies": "code", "drivers": "company_code", "vehicles": "company_code",
    "incidents": "company", "notices": "company",
    **dict.fromkeys(OWNED_BY_A_VEHICLE,
                    "(SELECT company_code FROM vehicles v WHERE v.id = t.vehicle_id)"),
    "incident_transitions": "(SELECT company FROM incidents i WHERE i.id = t.incident_id)",
    "deliveries": TO_COMPANY,
    "delivery_attempts": f"(SELECT {TO_COMPANY} FROM deliveries d WHERE d.id = t.delivery_id)",
    "delivery_targets": "NULL",
    "dead_letters": "NULL",
}
POLICE_ONLY = {"delivery_targets", "dead_letters"}

SEED = """
INSERT INTO drivers (licence_no, name, company_code) VALUES
    ('370202199001011237', '张司机', 'QD-MUCK-01'), ('370202199001011245', '李司机', 'QD-OTHER-01');
INSERT INTO geofences (ref, name, kind, classes, plates, geom) VALUES
    ('site-1', '工地', 'site', '{}', '{}', ST_GeomFromText('POINT(120.37 36.06)', 4326));
INSERT INTO vehicle_grants (vehicle_id, geofence_id) SELECT v.id, g.id FROM vehicles v, geofences g;
INSERT INTO device_bindings (device_id, vehicle_id) SELECT device_id, id FROM vehicles;
INSERT INTO vehicle_state (vehicle_id, rules, lat, lon, fixes_total, seq_gaps)
    SELECT id, '{}', 36.06, 120.37, 1, 0 FROM vehicles;
INSERT INTO inspections (vehicle_id, month, inspected_on, inspector, items)
    SELECT id, '2026-11', '2026-11-03', '刘', '{}' FROM vehicles;
INSERT INTO tacho_events (device_id, vehicle_id, ts, event)
    SELECT device_id, id, '2026-11-26T08:00:00Z', 'login' FROM vehicles;
INSERT INTO fixes (device_id, ts, seq, vehicle_id, geom, received_at)
    SELECT device_id, '2026-11-26T08:00:00Z', 1, id,
           ST_GeomFromText('POINT(120.37 36.06)', 4326), now() FROM vehicles;
INSERT INTO evidence_fixes SELECT * FROM fixes;
INSERT INTO incidents (rule, episode_key, severity, status, vehicle_id, plate, vehicle_class,
                       device_id, company, started_at, updated_at, details)
    SELECT 'speeding', '', 'serious', 'open', id, plate, vehicle_class, device_id, company_code,
           '2026-11-26T08:00:00Z', '2026-11-26T08:00:00Z', '{}' FROM vehicles;
INSERT INTO incident_transitions (incident_id, at, actor, to_status)
    SELECT id, started_at, 'system', 'open' FROM incidents;
INSERT INTO notices (incident_id, company, plate, rule, severity, occurred_at, title, text, body)
    SELECT id, company, plate, rule, severity, started_at, '抄告', plate || ' 超速', '{}'
    FROM incidents;
INSERT INTO deliveries (incident_id, purpose, recipient_kind, recipient, channel, status,
                        attempts, next_attempt_at)
    SELECT id, 'notice', 'company', company, 'webhook', 'sent', 1, now() FROM incidents
    UNION ALL
    SELECT id, 'incident', 'officer', 'P37020201', 'live', 'sent', 1, now() FROM incidents;
INSERT INTO delivery_attempts (delivery_id, at, ok) SELECT id, now(), true FROM deliveries;
INSERT INTO delivery_targets (channel, recipient, consecutive_failures, failing)
    VALUES ('webhook', 'QD-MUCK-01', 0, false);
INSERT INTO dead_letters (source, device_id, reason, detail, payload)
    VALUES ('mqtt', 't-0001', 'bad_json', 'not JSON', '\\x00');
"""


@pytest.fixture
def rows(city: Engine) -> Engine:
    """Rows of both companies in every protected table, written by the owner."""
    with city.begin() as conn:
        conn.execute(text(SEED))
    return city


@contextmanager
def scoped(engine: Engine, scope: str) -> Iterator[Session]:
    """A session as a web request has it: app role, ``scope``; rolled back at the end."""
    with make_sessionmaker(engine)() as session:
        set_scope(session, scope)
        yield session
        session.rollback()


def whose(session: Session, table: str) -> list[str | None]:
    return list(session.scalars(text(f"SELECT {WHOSE[table]} FROM {table} t")))


def test_a_company_scope_sees_only_its_own_rows(rows):
    with scoped(rows, STAFF) as staff:
        everything = {table: whose(staff, table) for table in WHOSE}
    with scoped(rows, company_scope(MUCK)) as session:
        assert session.scalar(text("SELECT current_user")) == APP_ROLE
        plates = session.scalars(text("SELECT plate FROM vehicles ORDER BY plate")).all()
        assert plates == ["鲁B00001", "鲁B00003"]
        for table in WHOSE:
            seen = whose(session, table)
            own = [c for c in everything[table] if c == MUCK]
            assert seen == own, table
            assert table in POLICE_ONLY or seen, f"{table}: the company's own rows are missing"
            assert len(everything[table]) > len(seen), f"{table}: nothing was hidden"


@pytest.mark.parametrize("scope", [NO_SCOPE, "company:", "police", "companyQD-MUCK-01"])
def test_an_unset_or_unknown_scope_sees_nothing(rows, scope):
    with scoped(rows, scope) as session:
        for table in WHOSE:
            assert session.scalar(text(f"SELECT count(*) FROM {table}")) == 0, table


def test_a_scope_never_set_sees_nothing(rows):
    """A connection without the system options (not made by keywatch.db) fails closed."""
    bare = create_engine(rows.url)
    try:
        with bare.begin() as conn:
            assert conn.scalar(text("SELECT current_setting('keywatch.scope', true)")) is None
            conn.execute(text(f"SET LOCAL ROLE {APP_ROLE}"))
            for table in WHOSE:
                assert conn.scalar(text(f"SELECT count(*) FROM {table}")) == 0, table
    finally:
        bare.dispose()


@pytest.mark.parametrize("scope", [STAFF, SYSTEM])
def test_police_and_system_scopes_see_every_row(rows, scope):
    with rows.connect() as owner:
        totals = {t: owner.scalar(text(f"SELECT count(*) FROM {t}")) for t in WHOSE}
    with scoped(rows, scope) as session:
        for table in WHOSE:
            assert session.scalar(text(f"SELECT count(*) FROM {table}")) == totals[table]


def test_the_scope_outlives_a_commit_but_not_the_session(rows):
    """Routes commit mid-request; the next transaction is scoped again. A pooled
    connection's next user starts as the system process it belongs to."""
    factory = make_sessionmaker(rows)
    with factory() as session:
        set_scope(session, company_scope(MUCK))
        session.execute(text("SELECT 1"))
        session.commit()
        assert session.scalar(text("SELECT count(*) FROM vehicles")) == 2
        assert session.scalar(text("SELECT current_setting('keywatch.scope')")) == f"company:{MUCK}"
    with factory() as session:
        assert session.scalar(text("SELECT current_user")) != APP_ROLE
        assert session.scalar(text("SELECT current_setting('keywatch.scope')")) == SYSTEM


@pytest.mark.parametrize("statement", [
    # a vehicle, incident, notice, driver for another company
    "INSERT INTO vehicles (plate, vehicle_class, company_code, status, created_at) "
    "VALUES ('鲁B09999', 'muck_truck', 'QD-OTHER-01', 'active', now())",
    "INSERT INTO drivers (licence_no, name, company_code) "
    "VALUES ('370202199001011253', '王司机', 'QD-OTHER-01')",
    "INSERT INTO incidents (rule, episode_key, severity, status, vehicle_id, plate, "
    "vehicle_class, company, started_at, updated_at, details) SELECT 'speeding', 'x', "
    "'serious', 'open', id, plate, vehicle_class, 'QD-OTHER-01', now(), now(), '{}' "
    "FROM vehicles WHERE plate = '鲁B00001'",
    "INSERT INTO notices (incident_id, company, plate, rule, severity, occurred_at, title, "
    "text, body) SELECT id, 'QD-OTHER-01', plate, rule, severity, now(), 't', 't', '{}' "
    "FROM incidents WHERE plate = '鲁B00001'",
    # an inspection of another company's truck, by its id
    "INSERT INTO inspections (vehicle_id, month, inspected_on, inspector, items) "
    "VALUES (:other, '2026-10', '2026-10-03', '刘', '{}')",
    # moving its own vehicle to another company
    "UPDATE vehicles SET company_code = 'QD-OTHER-01' WHERE plate = '鲁B00001'",
])
def test_a_company_cannot_write_another_companys_rows(rows, statement):
    with rows.connect() as owner:
        other_id = owner.scalar(text("SELECT id FROM vehicles WHERE plate = '鲁B00002'"))
    with scoped(rows, company_scope(MUCK)) as session, pytest.raises(ProgrammingError) as caught:
        session.execute(text(statement), {"other": other_id})
    assert isinstance(caught.value.orig, psycopg.errors.InsufficientPrivilege)
    assert "row-level security" in str(caught.value.orig)


def test_another_companys_rows_cannot_be_changed_or_deleted(rows):
    with scoped(rows, company_scope(MUCK)) as session:
        for statement in ("UPDATE vehicles SET status = 'suspended' WHERE company_code = :c",
                          "DELETE FROM inspections WHERE vehicle_id IN "
                          "(SELECT id FROM vehicles WHERE company_code = :c)",
                          "UPDATE incidents SET status = 'resolved' WHERE company = :c",
                          "DELETE FROM notices WHERE company = :c"):
            assert session.execute(text(statement), {"c": OTHER}).rowcount == 0  # type: ignore[attr-defined]
    with rows.connect() as owner:
        assert owner.scalar(text("SELECT count(*) FROM vehicles WHERE status = 'suspended'")) == 0


def test_every_company_keyed_table_is_forced_and_the_app_role_owns_nothing(rows):
    """Guards later migrations: a table with a company, vehicle, incident or delivery
    column must be under row-level security, and FORCEd (so its owner obeys it too)."""
    with rows.connect() as conn:
        keyed = set(conn.scalars(text(
            "SELECT DISTINCT c.relname FROM pg_class c JOIN pg_namespace n "
            "ON n.oid = c.relnamespace JOIN pg_attribute a ON a.attrelid = c.oid "
            "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition "
            "AND a.attname IN ('company', 'company_code', 'vehicle_id', 'incident_id', "
            "'delivery_id') AND c.relname <> 'users'")))
        forced = set(conn.scalars(text(
            "SELECT relname FROM pg_class WHERE relrowsecurity AND relforcerowsecurity")))
        role = conn.execute(text(
            "SELECT rolsuper, rolbypassrls, rolcanlogin FROM pg_roles WHERE rolname = :r"),
            {"r": APP_ROLE}).one()
        owns = conn.scalar(text(
            "SELECT count(*) FROM pg_class WHERE relowner = CAST(:r AS regrole)"), {"r": APP_ROLE})
    assert keyed <= forced, f"company-keyed tables without RLS: {keyed - forced}"
    assert forced == set(WHOSE)
    assert tuple(role) == (False, False, False)
    assert owns == 0


def test_the_app_role_cannot_rewrite_the_audit_log(rows):
    with scoped(rows, STAFF) as session, pytest.raises(ProgrammingError) as caught:
        session.execute(text("DELETE FROM audit_log"))
    assert isinstance(caught.value.orig, psycopg.errors.InsufficientPrivilege)


def test_system_processes_connect_in_the_system_scope(rows, settings):
    with rows.connect() as conn:
        assert conn.scalar(text("SHOW keywatch.scope")) == SYSTEM
    with psycopg.connect(psycopg_url(settings.database_url)) as conn:
        assert conn.execute("SHOW keywatch.scope").fetchone() == (SYSTEM,)
    with transaction(make_sessionmaker(rows)) as session:
        assert session.scalar(text("SELECT count(*) FROM vehicles")) == 4


def test_the_database_holds_when_the_code_forgets_to_scope(rows, client, auth, monkeypatch):
    """Switch the code's scoping off: a company's requests still see only its rows."""
    import dashboard.routes.incidents
    import dashboard.routes.vehicles

    monkeypatch.setattr(dashboard.routes.vehicles, "vehicles_visible", lambda user: None)
    monkeypatch.setattr(dashboard.routes.incidents, "incidents_visible", lambda user: None)
    headers = auth("muck")
    vehicles = client.get("/api/v1/vehicles", headers=headers)
    assert vehicles.status_code == 200, vehicles.text
    assert sorted(v["plate"] for v in vehicles.json()) == ["鲁B00001", "鲁B00003"]
    assert client.get("/api/v1/vehicles/鲁B00002", headers=headers).status_code == 404
    incidents = client.get("/api/v1/incidents", headers=headers)
    assert incidents.status_code == 200, incidents.text
    assert {i["company"] for i in incidents.json()} == {MUCK}
    everyone = client.get("/api/v1/vehicles", headers=auth("admin"))
    assert len(everyone.json()) == 4


def test_day_partitions_of_fixes_are_reached_only_through_fixes(rows):
    """A partition named directly would skip the policies of ``fixes``: the app
    role may not read it at all (new partitions included), only through ``fixes``."""
    with rows.begin() as conn:
        day = conn.scalar(text("SELECT keywatch_ensure_fix_partition(current_date + 3)"))
    for table in ("fixes_default", day):
        with scoped(rows, f"company:{MUCK}") as session, pytest.raises(ProgrammingError) as caught:
            session.execute(text(f"SELECT count(*) FROM {table}"))
        assert isinstance(caught.value.orig, psycopg.errors.InsufficientPrivilege), table
    with scoped(rows, f"company:{MUCK}") as session:
        assert set(whose(session, "fixes")) == {MUCK}
