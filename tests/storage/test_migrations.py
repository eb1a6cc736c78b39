from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from storage.engine import make_engine
from storage.migrate import alembic_config, current_revision, head_revision, upgrade
from storage.models import Delivery

TABLES = {"users", "deliveries", "issued_keys", "delivery_events", "pickup_links", "ptb_persistence"}


def _tables(engine: Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names()) - {"alembic_version"}


def _differences(engine: Engine) -> list[object]:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
        return compare_metadata(context, SQLModel.metadata)


def test_empty_database_to_head(database_url: str) -> None:
    assert current_revision(database_url) is None
    upgrade(database_url)  # a URL: upgrade makes and disposes its own engine
    assert current_revision(database_url) == head_revision() == "0001"
    engine = make_engine(database_url)
    assert _tables(engine) == TABLES == set(SQLModel.metadata.tables)
    engine.dispose()


def test_upgrade_twice_is_a_no_op(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.insert(Delivery.__table__).values(  # type: ignore[attr-defined]
                sender_id=1,
                state="draft",
                location_id=1,
                location_name="L",
                address="",
                size_id=1,
                size_name="S",
                low_locker=False,
                created_at=sa.func.now(),
                updated_at=sa.func.now(),
            )
        )
    upgrade(engine)
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM deliveries")).scalar() == 1


def test_migrated_schema_is_exactly_the_models(engine: Engine) -> None:
    assert _differences(engine) == []


def test_the_comparison_sees_a_drift(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("DROP INDEX ix_users_username"))
    assert [d[0] for d in _differences(engine)] == ["add_index"]  # type: ignore[index]


def test_column_types(engine: Engine) -> None:
    """Plain VARCHAR enums (no native ENUM, no CHECK), BIGINT telegram ids, zone-aware timestamps."""
    inspector = sa.inspect(engine)
    columns = {c["name"]: c["type"] for c in inspector.get_columns("deliveries")}
    assert type(columns["state"]) is sa.VARCHAR
    assert columns["state"].length == 32
    assert isinstance(columns["sender_id"], sa.BigInteger)
    user_id = next(c for c in inspector.get_columns("users") if c["name"] == "id")
    assert isinstance(user_id["type"], sa.BigInteger)
    assert user_id["default"] is None  # not BIGSERIAL: ids come from Telegram
    assert inspector.get_check_constraints("deliveries") == []
    if engine.dialect.name == "postgresql":
        assert columns["created_at"].timezone is True
        assert inspector.get_enums() == []
    # any state string fits: adding a state to the model needs no migration
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO deliveries (sender_id, state, location_id, location_name, address, size_id,"
                " size_name, low_locker, created_at, updated_at)"
                " VALUES (1, 'some_future_state', 1, 'L', '', 1, 'S', false, :t, :t)"
            ),
            {"t": "2030-01-01T00:00:00+00:00"},
        )


def test_downgrade_to_base_and_back(engine: Engine) -> None:
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), "base")
    assert _tables(engine) == set()
    assert current_revision(engine) is None
    upgrade(engine)
    assert _tables(engine) == TABLES
    assert _differences(engine) == []


def test_refuses_tables_without_alembic_version(database_url: str) -> None:
    engine = make_engine(database_url)
    SQLModel.metadata.create_all(engine)
    with pytest.raises(RuntimeError, match="no alembic_version"):
        upgrade(engine)
    engine.dispose()
