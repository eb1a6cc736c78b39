from __future__ import annotations

import subprocess
import sys

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from storage import migrate
from storage.engine import make_engine
from storage.migrate import alembic_config, current_revision, head_revision, upgrade
from storage.models import Delivery

TABLES = {
    "users",
    "deliveries",
    "issued_keys",
    "delivery_events",
    "pickup_links",
    "chat_states",
    "scheduled_jobs",
    "outbox",
    "harbor_events",
    "inbox",
    "lock_leases",
    "tower_looks",
    "locations",
    "geocoded_places",
    "rate_gates",
}
TABLES_0001 = {"users", "deliveries", "issued_keys", "delivery_events", "pickup_links", "ptb_persistence"}
TABLES_SINCE_0005 = {"inbox", "lock_leases", "tower_looks", "locations", "geocoded_places", "rate_gates"}
PARTIAL_UNIQUE = {"uq_deliveries_sender_pre_dropoff", "uq_deliveries_open_locker"}


def _tables(engine: Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names()) - {"alembic_version"}


def _differences(engine: Engine) -> list[object]:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
        return compare_metadata(context, SQLModel.metadata)


def test_empty_database_to_head(empty_database_url: str) -> None:
    assert current_revision(empty_database_url) is None
    upgrade(empty_database_url)  # a URL: upgrade makes and disposes its own engine
    assert current_revision(empty_database_url) == head_revision() == "0009"
    engine = make_engine(empty_database_url)
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


def test_refuses_tables_without_alembic_version(empty_database_url: str) -> None:
    engine = make_engine(empty_database_url)
    SQLModel.metadata.create_all(engine)
    with pytest.raises(RuntimeError, match="no alembic_version"):
        upgrade(engine)
    engine.dispose()


def _index_definitions(engine: Engine, names: set[str]) -> dict[str, str]:
    """The database's own text of these indexes (normalised by the database), without schema names."""
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            rows = conn.execute(
                sa.text("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()")
            )
        else:
            rows = conn.execute(sa.text("SELECT name, sql FROM sqlite_master WHERE type = 'index'"))
        found = {name: definition for name, definition in rows if name in names}
    return {name: " ".join(definition.replace("public.", "").split()) for name, definition in found.items()}


def test_the_partial_unique_indexes_are_exactly_the_models(engine: Engine) -> None:
    """compare_metadata does not look at an index's WHERE: compare what the database made of each."""
    migrated = _index_definitions(engine, PARTIAL_UNIQUE)
    assert set(migrated) == PARTIAL_UNIQUE
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), "base")
    SQLModel.metadata.create_all(engine)  # the same database, made from the models
    assert _index_definitions(engine, PARTIAL_UNIQUE) == migrated
    inspected = {ix["name"]: ix for ix in sa.inspect(engine).get_indexes("deliveries")}
    assert all(inspected[name]["unique"] for name in PARTIAL_UNIQUE)


PARTIAL_DUE = {"ix_pickup_links_live_expires", "ix_outbox_pending_due", "ix_outbox_pending_chat"}


def test_the_partial_indexes_of_what_is_due_are_exactly_the_models(engine: Engine) -> None:
    """0004: what the scheduler asks every second is indexed on in-flight rows only, as the models say."""
    migrated = _index_definitions(engine, PARTIAL_DUE)
    assert set(migrated) == PARTIAL_DUE
    assert all("WHERE" in definition for definition in migrated.values())
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), "base")
    SQLModel.metadata.create_all(engine)
    assert _index_definitions(engine, PARTIAL_DUE) == migrated


def test_0002_from_0001_keeps_the_data_and_drops_ptb_persistence(empty_database_url: str) -> None:
    engine = make_engine(empty_database_url)
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0001")
    assert _tables(engine) == TABLES_0001
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO deliveries (sender_id, state, location_id, location_name, address, size_id,"
                " size_name, low_locker, created_at, updated_at)"
                " VALUES (1, 'in_locker', 1, 'L', '', 1, 'S', false, :t, :t)"
            ),
            {"t": "2030-01-01T00:00:00+00:00"},
        )
    upgrade(engine, "0002")
    assert current_revision(engine) == "0002"
    assert _tables(engine) == TABLES - TABLES_SINCE_0005
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM deliveries")).scalar() == 1
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), "0001")
    assert _tables(engine) == TABLES_0001
    assert not PARTIAL_UNIQUE & {ix["name"] for ix in sa.inspect(engine).get_indexes("deliveries")}
    engine.dispose()


def test_0002_closes_what_the_new_unique_rules_forbid_and_keeps_the_newest(empty_database_url: str) -> None:
    """A race the old in-process locks missed left two pre-drop-off deliveries of one sender and two
    open deliveries on one locker: the upgrade closes the older of each (with an event), not fails."""
    engine = make_engine(empty_database_url)
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0001")
    rows = [
        (1, "reserved", "t1", 5),  # older pre-drop-off of sender 1
        (1, "awaiting_dropoff", "t1", 6),  # newer: stays
        (2, "in_locker", "t2", 7),  # older open delivery on (t2, 7)
        (3, "awaiting_pickup", "t2", 7),  # newer: stays
    ]
    with engine.begin() as conn:
        for sender, state, tower, locker in rows:
            conn.execute(
                sa.text(
                    "INSERT INTO deliveries (sender_id, state, location_id, location_name, address, size_id,"
                    " size_name, low_locker, tower_id, locker_id, created_at, updated_at)"
                    " VALUES (:s, :state, 1, 'L', '', 1, 'S', false, :tower, :locker, :t, :t)"
                ),
                {"s": sender, "state": state, "tower": tower, "locker": locker, "t": "2030-01-01T00:00:00+00:00"},
            )
    upgrade(engine)
    with engine.connect() as conn:
        states = dict(conn.execute(sa.text("SELECT id, state FROM deliveries ORDER BY id")).all())
        events = conn.execute(sa.text("SELECT delivery_id, kind FROM delivery_events ORDER BY delivery_id")).all()
    assert states == {1: "expired", 2: "awaiting_dropoff", 3: "expired", 4: "awaiting_pickup"}
    assert [tuple(e) for e in events] == [(1, "migrated"), (3, "migrated")]
    engine.dispose()


def test_0003_adds_the_chosen_language_and_keeps_users(empty_database_url: str) -> None:
    """Existing users keep their rows and Telegram language, with no choice made; down again drops only
    the new column."""
    engine = make_engine(empty_database_url)
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0002")
        conn.execute(
            sa.text(
                "INSERT INTO users (id, first_name, language, role, created_at, last_seen_at)"
                " VALUES (7, 'Ana', 'es-MX', 'customer', :t, :t)"
            ),
            {"t": "2030-01-01T00:00:00+00:00"},
        )
    upgrade(engine, "0003")
    assert current_revision(engine) == "0003"
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT language, chosen_language FROM users WHERE id = 7")).one()
    assert tuple(row) == ("es-MX", None)
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), "0002")
    columns = {c["name"] for c in sa.inspect(engine).get_columns("users")}
    assert "chosen_language" not in columns and "language" in columns
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT first_name FROM users WHERE id = 7")).scalar() == "Ana"
    engine.dispose()


def test_the_revision_ids_read_from_the_files_are_alembics() -> None:
    script = ScriptDirectory.from_config(alembic_config())
    assert head_revision() == script.get_current_head()
    assert {s.revision for s in script.walk_revisions()} == set(migrate._known_revisions())


def _in_a_fresh_process(call: str, url: str) -> list[str]:
    """`call(url)` from storage.migrate in a new interpreter: its revision after, and whether Alembic loaded."""
    probe = (
        f"import sys; from storage.migrate import {call}, current_revision; {call}({url!r}); "
        f"print(current_revision({url!r}), 'alembic' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60)
    return done.stdout.split()


def test_a_start_on_a_database_at_head_leaves_alembic_unloaded(database_url: str) -> None:
    """The usual start costs no Alembic in memory (issue 18); a database behind still migrates (above)."""
    assert _in_a_fresh_process("upgrade", database_url) == [head_revision(), "False"]


def test_the_bot_migrates_an_empty_database_in_a_child_process(empty_database_url: str) -> None:
    """What the bot does on start: the migration runs apart, Alembic never enters its memory."""
    assert _in_a_fresh_process("upgrade_apart", empty_database_url) == [head_revision(), "False"]
