"""calibration counts for the struggle z-score; team policies lose the last-8-answers settings

Revision ID: 0009_struggle
Revises: 0008_scale
Create Date: 2026-12-04 11:00:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision: str = '0009_struggle'
down_revision: Union[str, None] = '0008_scale'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

# The window-and-bottom-share rule's settings are gone; the threshold is now a z-score,
# so an override of the old Σ(correct − expected) threshold no longer means what it said.
RETIRED = ('struggle_window', 'struggle_bottom_share', 'struggle_min_team', 'signal_bottom',
           'struggle_threshold', 'struggle_min_answers')

team = sa.table('team', sa.column('id', sa.Integer), sa.column('policy', sa.JSON))


def _drop_retired_settings() -> None:
    connection = op.get_bind()
    for team_id, policy in connection.execute(sa.select(team.c.id, team.c.policy)).all():
        kept = {key: value for key, value in (policy or {}).items() if key not in RETIRED}
        if kept != (policy or {}):
            connection.execute(team.update().where(team.c.id == team_id).values(policy=kept))


def upgrade() -> None:
    op.create_table(
        'calibration',
        sa.Column('pack_id', sa.String(), nullable=False),
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('scope', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('answers', sa.Integer(), nullable=False),
        sa.Column('correct', sa.Integer(), nullable=False),
        sa.Column('predicted', sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(['pack_id'], ['pack.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('pack_id', 'scope', name='uq_calibration_scope'),
    )
    # New items are calibrated from the first answers already given (review outcomes
    # were stored without their predicted recall, so review buckets start empty).
    op.execute(
        "INSERT INTO calibration (pack_id, scope, answers, correct, predicted) "
        "SELECT item.pack_id, 'item:' || CAST(item.id AS VARCHAR(20)), COUNT(response.id), "
        "SUM(CASE WHEN response.correct THEN 1 ELSE 0 END), 0 "
        "FROM response JOIN item ON item.id = response.item_id "
        "WHERE NOT response.review GROUP BY item.pack_id, item.id"
    )
    _drop_retired_settings()


def downgrade() -> None:
    op.drop_table('calibration')
