"""Harbor's list of locations, kept for typed searches (issue 17: find a locker by name, street, city
or ZIP). Refreshed by one paged walk at a time (the `locations` scheduled job); free lockers are never
stored, they are asked live for the few locations shown. Deliveries keep the description Harbor gives
for their size, so the hold message can say what the size holds.

Frozen: this file never imports the models.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "locations",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("address1", sa.String(), nullable=True),
        sa.Column("address2", sa.String(), nullable=True),
        sa.Column("city", sa.String(), nullable=True),
        sa.Column("state", sa.String(), nullable=True),
        sa.Column("zip", sa.String(), nullable=True),
        sa.Column("country", sa.String(), nullable=True),
        sa.Column("timezone", sa.String(), nullable=True),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    # Optional geocoding of typed addresses: the answers cached, and the shared one-request-a-second gate.
    op.create_table(
        "geocoded_places",
        sa.Column("query", sa.Text(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("looked_up_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("query"),
    )
    op.create_table(
        "rate_gates",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("next_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    # What the locker type's size means (Harbor's description), carried by the hold message.
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("size_description", sa.String(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("size_description")
    op.drop_table("rate_gates")
    op.drop_table("geocoded_places")
    op.drop_table("locations")
