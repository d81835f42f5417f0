"""alerts: routing, outbox health, digests, company notices

Revision ID: 0100
Revises: 0001
Create Date: 2026-11-28 10:00:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0100'
down_revision = '0001'
branch_labels = ('alerts',)
depends_on = None


def upgrade() -> None:
    op.add_column('incidents', sa.Column('responsible_officer', sa.String(length=20), nullable=True))
    op.add_column('deliveries', sa.Column('digest_id', sa.BigInteger(), nullable=True))
    op.create_foreign_key(op.f('fk_deliveries_digest_id_deliveries'), 'deliveries', 'deliveries',
                          ['digest_id'], ['id'])
    op.create_index('ix_deliveries_due', 'deliveries', ['next_attempt_at'], unique=False,
                    postgresql_where=sa.text("status IN ('pending', 'sending', 'folded')"))
    op.create_index('ix_deliveries_recipient_sent', 'deliveries', ['recipient', 'sent_at'],
                    unique=False)
    op.create_table('delivery_targets',
    sa.Column('channel', sa.String(length=10), nullable=False),
    sa.Column('recipient', sa.String(length=40), nullable=False),
    sa.Column('consecutive_failures', sa.Integer(), nullable=False),
    sa.Column('failing', sa.Boolean(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('last_success_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_failure_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('channel', 'recipient', name=op.f('pk_delivery_targets'))
    )
    op.create_table('notices',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('incident_id', sa.BigInteger(), nullable=False),
    sa.Column('company', sa.String(length=40), nullable=False),
    sa.Column('plate', sa.String(length=12), nullable=False),
    sa.Column('rule', sa.String(length=30), nullable=False),
    sa.Column('severity', sa.String(length=10), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('district', sa.String(length=6), nullable=True),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('body', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], name=op.f('fk_notices_incident_id_incidents')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notices'))
    )
    op.create_index(op.f('ix_notices_company'), 'notices', ['company'], unique=False)
    op.create_index('uq_notices_incident', 'notices', ['incident_id'], unique=True)


def downgrade() -> None:
    op.drop_index('uq_notices_incident', table_name='notices')
    op.drop_index(op.f('ix_notices_company'), table_name='notices')
    op.drop_table('notices')
    op.drop_table('delivery_targets')
    op.drop_index('ix_deliveries_recipient_sent', table_name='deliveries')
    op.drop_index('ix_deliveries_due', table_name='deliveries',
                  postgresql_where=sa.text("status IN ('pending', 'sending', 'folded')"))
    op.drop_constraint(op.f('fk_deliveries_digest_id_deliveries'), 'deliveries', type_='foreignkey')
    op.drop_column('deliveries', 'digest_id')
    op.drop_column('incidents', 'responsible_officer')
