"""answers: a learner's responses indexed in time order for the struggle window

Revision ID: 0010_answers
Revises: 0009_struggle
Create Date: 2026-12-04 13:00:00.000000

"""
from typing import Sequence, Union

from alembic import op


revision: str = '0010_answers'
down_revision: Union[str, None] = '0009_struggle'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('response', schema=None) as batch_op:
        batch_op.create_index('ix_response_person_answered', ['person_id', 'answered_at'], unique=False)
        batch_op.drop_index(batch_op.f('ix_response_person_id'))


def downgrade() -> None:
    with op.batch_alter_table('response', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_response_person_id'), ['person_id'], unique=False)
        batch_op.drop_index('ix_response_person_answered')
