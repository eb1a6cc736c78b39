"""Link-mode keys that outlive the bot's records, and coalesced tower looks (issue 15).

- issued_keys: the locker a Locker Open request opens, the link sealed for re-sending the same request,
  and when Harbor was seen to call the request spent (all nullable: SDK keys leave them empty); when the
  key's message was deleted from its chat (issue 19: deleted once, and a key that was sent stays known as
  sent);
- tower_looks: when each tower was last asked to be looked at out of turn.

Only adds: the old code ignores the new columns and the new table.

Frozen: this file never imports the models.

Revision ID: 0007
Revises: 0005
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("issued_keys") as batch:
        batch.add_column(sa.Column("tower_id", sa.String(), nullable=True))
        batch.add_column(sa.Column("locker_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("sealed_link", sa.Text(), nullable=True))
        batch.add_column(sa.Column("link_spent_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("message_deleted_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "tower_looks",
        sa.Column("tower_id", sa.Text(), primary_key=True),
        sa.Column("look_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("tower_looks")
    with op.batch_alter_table("issued_keys") as batch:
        batch.drop_column("message_deleted_at")
        batch.drop_column("link_spent_at")
        batch.drop_column("sealed_link")
        batch.drop_column("locker_id")
        batch.drop_column("tower_id")
