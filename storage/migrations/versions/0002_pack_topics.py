"""pack topic names

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04 05:10:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0002'
down_revision: Union[str, None] = '0001'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('pack', schema=None) as batch_op:
        batch_op.add_column(sa.Column('topics', sa.JSON(), nullable=False, server_default='{}'))


def downgrade() -> None:
    with op.batch_alter_table('pack', schema=None) as batch_op:
        batch_op.drop_column('topics')
