"""security: row-level security on company-scoped tables, the non-owner keywatch_app role

Defence in depth behind dashboard/scope.py (issue 8). Every policy reads the
transaction's ``keywatch.scope`` (keywatch/db.py): ``system`` and ``staff`` see all
rows, ``company:CODE`` only that company's, anything else (unset, empty) none.
FORCE makes the owner obey the policies too (superusers never do), so a process that
connects as the owner must say ``system`` (keywatch.db.make_engine does).

Revision ID: 0500
Revises: 0400
Create Date: 2026-11-29
"""

from alembic import op

revision = "0500"
down_revision = "0400"
branch_labels = None
depends_on = ("0100", "0300")  # notices, delivery_targets, evidence_fixes

APP_ROLE = "keywatch_app"

SCOPE_FUNCTIONS = """
CREATE OR REPLACE FUNCTION keywatch_staff() RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT coalesce(current_setting('keywatch.scope', true) IN ('staff', 'system'), false)
$$;
CREATE OR REPLACE FUNCTION keywatch_company() RETURNS text LANGUAGE sql STABLE AS $$
    SELECT substring(current_setting('keywatch.scope', true) FROM '^company:(.+)$')
$$;
"""

OWN_VEHICLE = "vehicle_id IN (SELECT id FROM vehicles WHERE company_code = keywatch_company())"
TO_COMPANY = "recipient_kind = 'company' AND recipient = keywatch_company()"

# table → what a company scope may see of it (staff and system see every row)
POLICIES = {
    "companies": "code = keywatch_company()",
    "drivers": "company_code = keywatch_company()",
    "vehicles": "company_code = keywatch_company()",
    "vehicle_grants": OWN_VEHICLE,
    "device_bindings": OWN_VEHICLE,
    "vehicle_state": OWN_VEHICLE,
    "inspections": OWN_VEHICLE,
    "tacho_events": OWN_VEHICLE,
    "fixes": OWN_VEHICLE,
    "evidence_fixes": OWN_VEHICLE,
    "incidents": "company = keywatch_company()",
    "incident_transitions":
        "incident_id IN (SELECT id FROM incidents WHERE company = keywatch_company())",
    "notices": "company = keywatch_company()",
    "deliveries": TO_COMPANY,
    "delivery_attempts": f"delivery_id IN (SELECT id FROM deliveries WHERE {TO_COMPANY})",
    # police-only tables: no company row at all
    "delivery_targets": "false",
    "dead_letters": "false",
}

CREATE_ROLE = f"""
DO $$ BEGIN
    CREATE ROLE {APP_ROLE} NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;  -- roles are per cluster: another database (or a concurrent migration) made it
END $$;
DO $$ BEGIN
    IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        EXECUTE format('GRANT {APP_ROLE} TO %I', current_user);  -- so it may SET ROLE
    END IF;
END $$;
"""

# The app role reads and writes the project's own tables (not day partitions of fixes,
# nor PostGIS's); tables that later migrations create get the same by default.
GRANTS = f"""
GRANT USAGE ON SCHEMA public TO {APP_ROLE};
DO $$
DECLARE name text;
BEGIN
    FOR name IN SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
                  AND pg_get_userbyid(c.relowner) = current_user
                  AND c.relname NOT IN ('alembic_version', 'spatial_ref_sys')
    LOOP
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO {APP_ROLE}', name);
    END LOOP;
END $$;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {APP_ROLE};
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {APP_ROLE};
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {APP_ROLE};
REVOKE UPDATE, DELETE ON audit_log FROM {APP_ROLE};
"""


def upgrade() -> None:
    op.execute(CREATE_ROLE)
    op.execute(GRANTS)
    op.execute(SCOPE_FUNCTIONS)
    for table, company_sees in POLICIES.items():
        rule = f"keywatch_staff() OR ({company_sees})"
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY keywatch_scope ON {table} USING ({rule}) WITH CHECK ({rule})")


def downgrade() -> None:
    for table in POLICIES:
        op.execute(f"DROP POLICY keywatch_scope ON {table}")
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    op.execute("DROP FUNCTION keywatch_company()")
    op.execute("DROP FUNCTION keywatch_staff()")
    op.execute(f"""
ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON TABLES FROM {APP_ROLE};
ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON SEQUENCES FROM {APP_ROLE};
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {APP_ROLE};
REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {APP_ROLE};
REVOKE USAGE ON SCHEMA public FROM {APP_ROLE};
""")  # the role itself stays: it is the cluster's, other databases may use it
