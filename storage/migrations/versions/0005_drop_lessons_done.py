"""drop enrolment.lessons_done (lessons done are counted from sent lessons)

Revision ID: 0005
Revises: 0004_inbound
Create Date: 2026-12-04 06:10:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0005'
down_revision: Union[str, None] = '0004_inbound'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('enrolment', schema=None) as batch_op:
        batch_op.drop_column('lessons_done')


def downgrade() -> None:
    with op.batch_alter_table('enrolment', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('lessons_done', sa.Integer(), nullable=False, server_default='0')
        )
