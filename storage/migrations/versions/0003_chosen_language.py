"""users.chosen_language: the language a person picked with /language.

Kept apart from users.language, which is their Telegram client's language and is rewritten from every
update they send: the choice must survive that, and a person who never chose keeps following their
client. NULL means "no choice made".

Frozen: this file never imports the models.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-09
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("users", sa.Column("chosen_language", sa.String(), nullable=True))


def downgrade() -> None:
    # Batch mode: SQLite before 3.35 has no DROP COLUMN; alembic rebuilds the table there.
    with op.batch_alter_table("users") as batch:
        batch.drop_column("chosen_language")
