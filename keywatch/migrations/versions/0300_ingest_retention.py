"""ingest: evidence_fixes, kept when retention drops a day's fix partition

Revision ID: 0300
Revises: 0001
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

revision = "0300"
down_revision = "0001"
branch_labels = ("ingest",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "evidence_fixes",
        sa.Column("device_id", sa.String(length=32), nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("vehicle_id", sa.Integer(), nullable=False),
        sa.Column("geom", Geometry(geometry_type="POINT", srid=4326, spatial_index=False,
                                   from_text="ST_GeomFromEWKT", name="geometry",
                                   nullable=False), nullable=False),
        sa.Column("speed", sa.Float(), nullable=True),
        sa.Column("heading", sa.Float(), nullable=True),
        sa.Column("alt", sa.Float(), nullable=True),
        sa.Column("acc", sa.Float(), nullable=True),
        sa.Column("ign", sa.Boolean(), nullable=True),
        sa.Column("alarms", postgresql.ARRAY(sa.Text()), nullable=True),
        sa.Column("flags", postgresql.ARRAY(sa.Text()), nullable=True),
        sa.Column("district", sa.String(length=6), nullable=True),
        sa.Column("extras", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("device_id", "ts", "seq", name="pk_evidence_fixes"),
    )
    op.create_index("ix_evidence_fixes_vehicle_ts", "evidence_fixes", ["vehicle_id", "ts"])


def downgrade() -> None:
    op.drop_index("ix_evidence_fixes_vehicle_ts", table_name="evidence_fixes")
    op.drop_table("evidence_fixes")
