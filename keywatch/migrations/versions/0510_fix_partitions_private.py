"""security: day partitions of fixes are not readable by the app role directly

Row-level security is checked on the table a query names: through ``fixes``
the policies apply, but a day partition named directly has none. The app role
therefore gets no privileges on the partitions (a query through ``fixes``
still reaches them: privileges are checked on the parent only).

Revision ID: 0510
Revises: 0500
Create Date: 2026-11-27
"""

from alembic import op

revision = "0510"
down_revision = "0500"
branch_labels = None
depends_on = None

APP_ROLE = "keywatch_app"

# keywatch_ensure_fix_partition (0001) plus the REVOKE on the partition it makes.
ENSURE = """
CREATE OR REPLACE FUNCTION keywatch_ensure_fix_partition(day date) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    name text := 'fixes_' || to_char(day, 'YYYYMMDD');
    lo timestamptz := day::timestamptz;
    hi timestamptz := (day + 1)::timestamptz;
BEGIN
    IF to_regclass(name) IS NOT NULL THEN
        RETURN name;
    END IF;
    PERFORM pg_advisory_xact_lock(7808002);
    IF to_regclass(name) IS NOT NULL THEN
        RETURN name;
    END IF;
    EXECUTE format('CREATE TABLE %I (LIKE fixes INCLUDING DEFAULTS)', name);
    {revoke}
    EXECUTE format(
        'WITH moved AS (DELETE FROM fixes_default WHERE ts >= %L AND ts < %L RETURNING *) '
        'INSERT INTO %I SELECT * FROM moved', lo, hi, name);
    EXECUTE format(
        'ALTER TABLE fixes ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)', name, lo, hi);
    RETURN name;
END $$;
"""
REVOKE_NEW = f"EXECUTE format('REVOKE ALL ON %I FROM {APP_ROLE}', name);"

REVOKE_EXISTING = f"""
DO $$
DECLARE name text;
BEGIN
    FOR name IN SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                WHERE i.inhparent = 'fixes'::regclass
    LOOP
        EXECUTE format('REVOKE ALL ON %I FROM {APP_ROLE}', name);
    END LOOP;
END $$;
"""


def upgrade() -> None:
    op.execute(ENSURE.format(revoke=REVOKE_NEW))
    op.execute(REVOKE_EXISTING)


def downgrade() -> None:
    op.execute(ENSURE.format(revoke=""))
