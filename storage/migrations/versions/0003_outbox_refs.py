"""outbox refs: where a sent message lives, rows that refer to others, typed payloads

Revision ID: 0003_outbox_refs
Revises: 0002
Create Date: 2026-12-04 06:10:00.000000

Adds `delivery.sent_ref` (the whole reference a platform needs to edit or
thread a sent message), `delivery.refers_to` (an edit's or a resend's first
row), an index on `delivery.platform_ref` (an inbound reply or button press
finds its delivery), and rewrites the stored text messages as serialised
`Outbound`s (`{"kind", "text", "choices": [{"choice_id", "label"}]}`, with
`icon`/`title`/`sections`/`context` kept when a message has parts).
"""
from typing import Any, Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0003_outbox_refs'
down_revision: Union[str, None] = '0002'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

# Frozen here: the rows' kinds as this revision knows them (a migration never imports the app).
_PACK_KINDS = ('lesson', 'quiz', 'review', 'reflection')
_SHOWN_AS = {'review': 'quiz', 'lesson': 'lesson', 'quiz': 'quiz', 'reflection': 'reflection',
             'feedback': 'feedback', 'nudge': 'nudge', 'escalation': 'escalation'}
_PARTS = ('text', 'icon', 'title', 'sections', 'context')  # a message's text and parts, as stored
_DELIVERY = sa.table(
    'delivery', sa.column('id', sa.Integer), sa.column('kind', sa.String),
    sa.column('payload', sa.JSON),
)


def _to_outbound(kind: str, payload: dict[str, Any]) -> dict[str, Any]:
    """A stored `{"text", parts…, "choices": [[id, label]]}` message as a serialised Outbound."""
    return {
        'kind': _SHOWN_AS.get(kind, 'notice'),
        **{name: value for name, value in payload.items() if name in _PARTS},
        'choices': [{'choice_id': str(c), 'label': str(label)} for c, label in payload.get('choices', ())],
    }


def _from_outbound(payload: dict[str, Any]) -> dict[str, Any]:
    """A serialised Outbound as the `{"text", parts…, "choices"}` shape it had before."""
    old: dict[str, Any] = {name: value for name, value in payload.items() if name in _PARTS}
    if payload.get('choices'):
        old['choices'] = [[c['choice_id'], c['label']] for c in payload['choices']]
    return old


def _rewrite_messages(convert: Any, *, stored_as: str) -> None:
    """Rewrite the payload of every row that stores its own message and has `stored_as`."""
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(_DELIVERY.c.id, _DELIVERY.c.kind, _DELIVERY.c.payload)
        .where(_DELIVERY.c.kind.not_in(_PACK_KINDS))
    ).all()
    for row_id, kind, payload in rows:
        if payload and stored_as in payload:
            connection.execute(
                _DELIVERY.update().where(_DELIVERY.c.id == row_id).values(payload=convert(kind, payload))
            )


def upgrade() -> None:
    with op.batch_alter_table('delivery', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sent_ref', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('refers_to', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            'fk_delivery_refers_to_delivery', 'delivery', ['refers_to'], ['id'], ondelete='SET NULL'
        )
        batch_op.create_index(batch_op.f('ix_delivery_refers_to'), ['refers_to'], unique=False)
        batch_op.create_index(batch_op.f('ix_delivery_platform_ref'), ['platform_ref'], unique=False)
    _rewrite_messages(_to_outbound, stored_as='text')


def downgrade() -> None:
    _rewrite_messages(lambda _kind, payload: _from_outbound(payload), stored_as='kind')
    op.execute(_DELIVERY.delete().where(_DELIVERY.c.kind == 'edit'))
    with op.batch_alter_table('delivery', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_delivery_platform_ref'))
        batch_op.drop_index(batch_op.f('ix_delivery_refers_to'))
        batch_op.drop_constraint('fk_delivery_refers_to_delivery', type_='foreignkey')
        batch_op.drop_column('refers_to')
        batch_op.drop_column('sent_ref')
