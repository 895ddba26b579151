"""inbox events: the inbox keeps each event's platform and id, and marks it handled

An inbound event used to be recorded twice as it arrived (its id in processedevent,
the event in inbox) and deleted from the inbox once handled. Now one inbox row does
both: its unique (platform, event_id) turns a second delivery away, and handling
marks it handled and empties it. processedevent keeps only the strangers told today.

Revision ID: 0011_inbox_events
Revises: 0010_answers
Create Date: 2026-12-04 22:00:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel
import storage.types


revision: str = '0011_inbox_events'
down_revision: Union[str, None] = '0010_answers'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

STRANGERS = "processedevent.event_id LIKE 'stranger:%'"  # joining's keys stay where they are
WAITING = sa.text('handled_at IS NULL')

inbox = sa.table(
    'inbox',
    sa.column('id', sa.Integer),
    sa.column('event', sa.JSON),
    sa.column('platform', sa.String),
    sa.column('event_id', sa.String),
)


def _key_waiting_events() -> None:
    """Give the events still waiting their platform and id, from the event itself."""
    connection = op.get_bind()
    for entry_id, event in connection.execute(sa.select(inbox.c.id, inbox.c.event)).all():
        platform = str(event.get('address', '')).partition(':')[0]
        connection.execute(
            inbox.update()
            .where(inbox.c.id == entry_id)
            .values(platform=platform, event_id=str(event.get('event_id', entry_id)))
        )


def upgrade() -> None:
    with op.batch_alter_table('inbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('platform', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.add_column(sa.Column('event_id', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.add_column(sa.Column('handled_at', storage.types.UTCDateTime(timezone=True), nullable=True))
    _key_waiting_events()
    empty = "CAST('{}' AS JSON)" if op.get_bind().dialect.name == 'postgresql' else "'{}'"
    op.execute(
        "INSERT INTO inbox (platform, event_id, kind, event, received_at, attempts, handled_at) "
        f"SELECT platform, event_id, '', {empty}, processed_at, 0, processed_at "
        f"FROM processedevent WHERE NOT ({STRANGERS}) AND NOT EXISTS (SELECT 1 FROM inbox "
        "WHERE inbox.platform = processedevent.platform "
        "AND inbox.event_id = processedevent.event_id)"
    )
    op.execute(f"DELETE FROM processedevent WHERE NOT ({STRANGERS})")
    with op.batch_alter_table('inbox', schema=None) as batch_op:
        batch_op.alter_column('platform', existing_type=sqlmodel.sql.sqltypes.AutoString(), nullable=False)
        batch_op.alter_column('event_id', existing_type=sqlmodel.sql.sqltypes.AutoString(), nullable=False)
        batch_op.create_unique_constraint('uq_inbox_event', ['platform', 'event_id'])
        batch_op.create_index('ix_inbox_waiting', ['id'], unique=False, sqlite_where=WAITING, postgresql_where=WAITING)


def downgrade() -> None:
    op.execute(
        "INSERT INTO processedevent (platform, event_id, processed_at) "
        "SELECT platform, event_id, received_at FROM inbox"
    )
    op.execute("DELETE FROM inbox WHERE handled_at IS NOT NULL")
    with op.batch_alter_table('inbox', schema=None) as batch_op:
        batch_op.drop_index('ix_inbox_waiting', sqlite_where=WAITING, postgresql_where=WAITING)
        batch_op.drop_constraint('uq_inbox_event', type_='unique')
        batch_op.drop_column('handled_at')
        batch_op.drop_column('event_id')
        batch_op.drop_column('platform')
