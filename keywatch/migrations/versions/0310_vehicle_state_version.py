"""ingest: vehicle_state.version, for optimistic checkpoint writes

The ingest worker keeps the checkpoints it last committed in memory and reads
only (vehicle_id, version) per batch; a checkpoint is written back only if its
version is still the one read (else the batch is retried on fresh state).

Revision ID: 0310
Revises: 0300
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0310"
down_revision = "0300"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("vehicle_state", sa.Column("version", sa.BigInteger(), nullable=False,
                                             server_default="0"))


def downgrade() -> None:
    op.drop_column("vehicle_state", "version")
