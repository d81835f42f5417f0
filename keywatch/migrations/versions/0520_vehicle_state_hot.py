"""ingest: checkpoints updated in place (HOT), not scattered over a bloated table

Every batch rewrites the checkpoint row of each vehicle it carries (5,000 rows a
second at a city's load). With an index on ``updated_at`` -- a column every
update changes -- PostgreSQL can never update a row on its own page (a HOT
update): each update put the new row on another page and added an entry to both
indexes. A 10-minute soak (bench/soak.py, 50,000 vehicles) left the table at
271 MB for 40 MB of rows, autovacuum running on it every minute, and after each
checkpoint every touched page written to the WAL in full (full-page images):
the lag bumps of several seconds.

The index goes (the live map's "changed since" query reads the table, once a
second at most: dashboard.live) and the table keeps half of each page free, so a
new row version fits beside the old one. The fill factor applies to pages
written from now on; ``VACUUM FULL vehicle_state`` rewrites an existing table
(it locks the table while it runs: with ingest stopped).

Revision ID: 0520
Revises: 0510
Create Date: 2026-11-28
"""

from alembic import op

revision = "0520"
down_revision = "0510"
branch_labels = None
depends_on = None

FILLFACTOR = 50  # % of a page filled by inserts; the rest is for row versions


def upgrade() -> None:
    op.drop_index("ix_vehicle_state_updated_at", table_name="vehicle_state")
    op.execute(f"ALTER TABLE vehicle_state SET (fillfactor = {FILLFACTOR})")


def downgrade() -> None:
    op.execute("ALTER TABLE vehicle_state RESET (fillfactor)")
    op.create_index("ix_vehicle_state_updated_at", "vehicle_state", ["updated_at"])
