"""SQLModel tables. No Telegram types here: ids are plain integers.

Key material (payload, payload_auth, access tokens) is never stored; a lost key is replaced by a new one.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import TypedDict

from sqlalchemy import BigInteger, Column, Enum, Index, Integer, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from storage.types import UTCDateTime, utcnow


class Role(StrEnum):
    CUSTOMER = "customer"
    COURIER = "courier"


class DeliveryState(StrEnum):
    """docs/design.md §3. The groups and the moves allowed between states are declared below, once."""

    DRAFT = "draft"
    RESERVED = "reserved"
    AWAITING_DROPOFF = "awaiting_dropoff"
    IN_LOCKER = "in_locker"
    AWAITING_PICKUP = "awaiting_pickup"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    RELEASED = "released"

    @property
    def is_open(self) -> bool:
        return self in OPEN_STATES

    @property
    def before_dropoff(self) -> bool:
        return self in PRE_DROPOFF_STATES

    @property
    def after_dropoff(self) -> bool:
        return self in AFTER_DROPOFF_STATES

    def may_become(self, other: DeliveryState) -> bool:
        return other in TRANSITIONS.get(self, frozenset())


_S = DeliveryState

PRE_DROPOFF_STATES = frozenset({_S.DRAFT, _S.RESERVED, _S.AWAITING_DROPOFF})
AFTER_DROPOFF_STATES = frozenset({_S.IN_LOCKER, _S.AWAITING_PICKUP})
OPEN_STATES = PRE_DROPOFF_STATES | AFTER_DROPOFF_STATES

# Every move a delivery may make (docs/design.md §3 draws each one; the less obvious carry their reason
# here). A move to the same state records an event without changing the state (a new key, a new
# collector). Closed states lead nowhere.
TRANSITIONS: dict[DeliveryState, frozenset[DeliveryState]] = {
    _S.DRAFT: frozenset(
        {
            _S.RESERVED,
            _S.AWAITING_DROPOFF,  # KEY_MODE=link: the drop-off request holds the locker and is the key
            _S.CANCELLED,  # no locker could be held (or an admin released it)
        }
    ),
    _S.RESERVED: frozenset(
        {
            _S.RESERVED,
            _S.AWAITING_DROPOFF,
            _S.IN_LOCKER,  # a drop-off key whose answer was lost, used at the tower
            _S.CANCELLED,
            _S.EXPIRED,
        }
    ),
    _S.AWAITING_DROPOFF: frozenset(
        {
            _S.AWAITING_DROPOFF,  # a new key
            _S.RESERVED,  # "it didn't fit": the next size up is held, the key comes on request
            _S.IN_LOCKER,
            _S.CANCELLED,
            _S.EXPIRED,
        }
    ),
    _S.IN_LOCKER: frozenset(
        {
            _S.IN_LOCKER,  # a collector chosen
            _S.AWAITING_PICKUP,
            _S.RESERVED,  # "it didn't fit" after the door closed on an empty locker
            _S.AWAITING_DROPOFF,  # the same, in link mode
            _S.RELEASED,
        }
    ),
    _S.AWAITING_PICKUP: frozenset({_S.AWAITING_PICKUP, _S.COMPLETED, _S.RELEASED}),
}


class KeyKind(StrEnum):
    DROPOFF = "dropoff"
    PICKUP = "pickup"


class KeyState(StrEnum):
    ACTIVE = "active"
    EXPIRED = "expired"
    SUPERSEDED = "superseded"
    USED = "used"
    VOID = "void"  # the delivery closed (cancelled, released) before the key was used


class CollectorKind(StrEnum):
    SELF = "self"
    RECIPIENT = "recipient"
    COURIER = "courier"


def _enum(enum_cls: type[StrEnum]) -> Enum:
    """The member's value in a plain VARCHAR(32): no native PG ENUM, no CHECK, so a new member needs no
    migration. (sqlmodel's default is a native ENUM storing member *names*.)"""
    return Enum(
        enum_cls,
        native_enum=False,
        create_constraint=False,
        length=32,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


def _tg_id(*, primary_key: bool = False, nullable: bool = True, index: bool = False) -> Column[int]:
    return Column(BigInteger, primary_key=primary_key, nullable=nullable, index=index, autoincrement=False)


def _when(*, nullable: bool = True, index: bool = False) -> Column[datetime]:
    return Column(UTCDateTime(), nullable=nullable, index=index)


class User(SQLModel, table=True):
    __tablename__ = "users"

    id: int = Field(sa_column=_tg_id(primary_key=True, nullable=False))
    first_name: str = ""
    last_name: str | None = None
    username: str | None = Field(default=None, index=True)
    # Telegram's language_code, rewritten from every update; chosen_language is what /language stored
    # and wins over it (bot/ui/locales.resolve).
    language: str | None = None
    chosen_language: str | None = None
    role: Role = Field(default=Role.CUSTOMER, sa_type=_enum(Role))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_when(nullable=False))
    last_seen_at: datetime = Field(default_factory=utcnow, sa_column=_when(nullable=False))

    @property
    def display_name(self) -> str:
        name = " ".join(p for p in (self.first_name, self.last_name) if p) or str(self.id)
        return f"{name} (@{self.username})" if self.username else name


def _in_states(states: frozenset[DeliveryState]) -> str:
    return "state IN (" + ", ".join(f"'{s.value}'" for s in sorted(states)) + ")"


# Correctness across processes rests on these (docs/design.md §8): a second pre-drop-off delivery of one sender,
# or a second open delivery on one locker, cannot be written whichever process tries.
_ONE_PRE_DROPOFF = _in_states(PRE_DROPOFF_STATES)
_ONE_PER_LOCKER = _in_states(OPEN_STATES) + " AND locker_id IS NOT NULL"
_LIVE_LINK = "claimed_at IS NULL AND revoked_at IS NULL"
_PENDING = "state = 'pending'"
# Issue 18: what the wake query (storage/wake.py) asks for the earliest of, by partial indexes.
_HOLDING = _in_states(frozenset({DeliveryState.RESERVED, DeliveryState.AWAITING_DROPOFF}))
_TO_REMIND = _in_states(AFTER_DROPOFF_STATES) + " AND reminded_at IS NULL"
_ACTIVE_KEY = "state = 'active'"


class Delivery(SQLModel, table=True):
    __tablename__ = "deliveries"
    __table_args__ = (
        Index("ix_deliveries_state_updated", "state", "updated_at"),
        Index(
            "uq_deliveries_sender_pre_dropoff",
            "sender_id",
            unique=True,
            postgresql_where=text(_ONE_PRE_DROPOFF),
            sqlite_where=text(_ONE_PRE_DROPOFF),
        ),
        Index(
            "uq_deliveries_open_locker",
            "tower_id",
            "locker_id",
            unique=True,
            postgresql_where=text(_ONE_PER_LOCKER),
            sqlite_where=text(_ONE_PER_LOCKER),
        ),
        Index("ix_deliveries_hold_due", "reserved_until", postgresql_where=text(_HOLDING), sqlite_where=text(_HOLDING)),
        Index(
            "ix_deliveries_reminder_due",
            "reminder_due_at",
            postgresql_where=text(_TO_REMIND),
            sqlite_where=text(_TO_REMIND),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    sender_id: int = Field(sa_column=_tg_id(nullable=False, index=True))
    state: DeliveryState = Field(default=DeliveryState.DRAFT, index=True, sa_type=_enum(DeliveryState))

    location_id: int
    location_name: str
    address: str = ""
    timezone: str | None = None
    lat: float | None = None
    lon: float | None = None
    tower_id: str | None = None
    locker_id: int | None = None
    locker_name: str | None = None
    size_id: int
    size_name: str
    # Harbor's description of the size ("Up to 30 x 40 x 30 cm: ..."), for the hold message (issue 17).
    size_description: str | None = None
    low_locker: bool = False

    reserved_until: datetime | None = Field(default=None, sa_column=_when())
    dropped_at: datetime | None = Field(default=None, sa_column=_when())
    completed_at: datetime | None = Field(default=None, sa_column=_when())
    closed_at: datetime | None = Field(default=None, sa_column=_when())

    collector_kind: CollectorKind | None = Field(default=None, sa_type=_enum(CollectorKind))
    collector_id: int | None = Field(default=None, sa_column=_tg_id(index=True))
    reminder_due_at: datetime | None = Field(default=None, sa_column=_when())
    reminded_at: datetime | None = Field(default=None, sa_column=_when())

    # The sender's status message, edited as the delivery moves on.
    status_chat_id: int | None = Field(default=None, sa_column=_tg_id())
    status_message_id: int | None = None

    created_at: datetime = Field(default_factory=utcnow, sa_column=_when(nullable=False, index=True))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_when(nullable=False))


class DeliveryChanges(TypedDict, total=False):
    """The columns a transition (or an update) of a delivery may set besides its state, typed."""

    tower_id: str | None
    locker_id: int | None
    locker_name: str | None
    low_locker: bool
    size_id: int
    size_name: str
    size_description: str | None
    reserved_until: datetime | None
    dropped_at: datetime | None
    completed_at: datetime | None
    closed_at: datetime | None
    collector_kind: CollectorKind | None
    collector_id: int | None
    reminder_due_at: datetime | None
    reminded_at: datetime | None
    status_chat_id: int | None
    status_message_id: int | None
    sender_id: int


class IssuedKey(SQLModel, table=True):
    """A key handed out in chat: who got it, where the message is, when it ends. Never the material."""

    __tablename__ = "issued_keys"
    __table_args__ = (
        Index(
            "ix_issued_keys_active_expires",
            "expires_at",
            postgresql_where=text(_ACTIVE_KEY),
            sqlite_where=text(_ACTIVE_KEY),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    delivery_id: int = Field(foreign_key="deliveries.id", index=True)
    kind: KeyKind = Field(sa_type=_enum(KeyKind))
    user_id: int = Field(sa_column=_tg_id(nullable=False))
    chat_id: int = Field(sa_column=_tg_id(nullable=False))
    message_id: int | None = None
    harbor_token_id: str | None = None
    state: KeyState = Field(default=KeyState.ACTIVE, index=True, sa_type=_enum(KeyState))
    expires_at: datetime = Field(sa_column=_when(nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_when(nullable=False))
    # KEY_MODE=link only (bot/deliveries/link_requests.py): a Locker Open request opens its locker until
    # Harbor says it is spent, whatever `state` says. The locker it opens, the link sealed (encrypted
    # under a key derived from the bot's secrets) so the same request can be sent again instead of a
    # second live one, and when Harbor was seen to call it used or expired.
    tower_id: str | None = None
    locker_id: int | None = None
    sealed_link: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    link_spent_at: datetime | None = Field(default=None, sa_column=_when())
    # Set by the one caller that deletes the key's photo (a second delete is a call Telegram rejects);
    # message_id stays, so a key that reached its chat is still known as sent.
    message_deleted_at: datetime | None = Field(default=None, sa_column=_when())


class DeliveryEvent(SQLModel, table=True):
    __tablename__ = "delivery_events"

    id: int | None = Field(default=None, primary_key=True)
    delivery_id: int = Field(foreign_key="deliveries.id", index=True)
    at: datetime = Field(default_factory=utcnow, sa_column=_when(nullable=False))
    actor_id: int | None = Field(default=None, sa_column=_tg_id())
    kind: str
    detail: str = ""


class PickupLink(SQLModel, table=True):
    """A one-time deep link. Only the SHA-256 of the code is kept."""

    __tablename__ = "pickup_links"
    # The deadlines round asks for live links by expiry every second: only live ones are indexed.
    __table_args__ = (
        Index(
            "ix_pickup_links_live_expires",
            "expires_at",
            postgresql_where=text(_LIVE_LINK),
            sqlite_where=text(_LIVE_LINK),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    delivery_id: int = Field(foreign_key="deliveries.id", index=True)
    code_hash: str = Field(sa_column=Column(Text, nullable=False, unique=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_when(nullable=False))
    expires_at: datetime = Field(sa_column=_when(nullable=False))
    claimed_by: int | None = Field(default=None, sa_column=_tg_id())
    claimed_at: datetime | None = Field(default=None, sa_column=_when())
    revoked_at: datetime | None = Field(default=None, sa_column=_when())


class DropoffStep(StrEnum):
    """Where a customer is in the drop-off conversation (docs/design.md §8: a row, not process memory)."""

    ASK_LOCATION = "ask_location"
    CHOOSE_LOCATION = "choose_location"
    CHOOSE_SIZE = "choose_size"


class ChatState(SQLModel, table=True):
    """The drop-off step of one private chat, read and written inside each update.

    The shared point is kept only until a locker is reserved (or the chat leaves the flow).
    """

    __tablename__ = "chat_states"

    chat_id: int = Field(sa_column=_tg_id(primary_key=True, nullable=False))
    step: DropoffStep = Field(sa_type=_enum(DropoffStep))
    lat: float | None = None
    lon: float | None = None
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_when(nullable=False, index=True))


class JobKind(StrEnum):
    DEADLINES = "deadlines"  # a round over what fell due (holds, keys, reminders, links): one row
    WATCH = "watch"  # the locker watch: one row, rescheduled after each round
    CHECK_TOWER = "check_tower"  # a Harbor event asked for an immediate look at one tower (ref)
    LOCATIONS = "locations"  # issue 17: one paged walk of Harbor's location list: one row


class ScheduledJob(SQLModel, table=True):
    """A timer shared by every process: due rows are claimed under a lease (FOR UPDATE SKIP LOCKED on
    PostgreSQL), so each runs in exactly one process, and a dead process's claim lapses."""

    __tablename__ = "scheduled_jobs"
    __table_args__ = (UniqueConstraint("kind", "ref", name="uq_scheduled_jobs_kind_ref"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: JobKind = Field(sa_type=_enum(JobKind))
    ref: str = ""  # the tower id of a CHECK_TOWER; "" for the singletons
    due_at: datetime = Field(sa_column=_when(nullable=False, index=True))
    lease_until: datetime | None = Field(default=None, sa_column=_when())
    lease_owner: str | None = None
    attempts: int = 0
    last_run_at: datetime | None = Field(default=None, sa_column=_when())


class OutboxState(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"  # the chat refuses (blocked the bot, deleted account): not retried


class OutboxMessage(SQLModel, table=True):
    """An announcement recorded before it is sent: sent once (the dedupe key is unique), retried on a
    429 or an outage without holding up other chats' news."""

    __tablename__ = "outbox"
    # Every tick asks for the pending messages that are due, the oldest of each chat: only pending
    # ones are indexed, so a tick costs what is in flight, not the history.
    __table_args__ = (
        Index("ix_outbox_pending_due", "next_attempt_at", postgresql_where=text(_PENDING), sqlite_where=text(_PENDING)),
        Index("ix_outbox_pending_chat", "chat_id", "id", postgresql_where=text(_PENDING), sqlite_where=text(_PENDING)),
    )

    id: int | None = Field(default=None, primary_key=True)
    dedupe_key: str = Field(sa_column=Column(Text, nullable=False, unique=True))
    chat_id: int = Field(sa_column=_tg_id(nullable=False))
    body: str = Field(sa_column=Column(Text, nullable=False))  # the rendered message as JSON
    state: OutboxState = Field(default=OutboxState.PENDING, sa_type=_enum(OutboxState))
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_column=_when(nullable=False, index=True))
    lease_until: datetime | None = Field(default=None, sa_column=_when())
    created_at: datetime = Field(default_factory=utcnow, sa_column=_when(nullable=False))
    sent_at: datetime | None = Field(default=None, sa_column=_when())
    error: str | None = None


class HarborEvent(SQLModel, table=True):
    """Harbor webhook events already seen, so a redelivered one is ignored (docs/harbor-api.md §7)."""

    __tablename__ = "harbor_events"

    event_id: str = Field(sa_column=Column(Text, primary_key=True))
    received_at: datetime = Field(default_factory=utcnow, sa_column=_when(nullable=False, index=True))


class KnownLocation(SQLModel, table=True):
    """Harbor's list of locations (issue 17), copied by one paged walk at a time, so a typed search reads
    the database and not Harbor. Free lockers are never stored here: they are asked live."""

    __tablename__ = "locations"

    id: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False, nullable=False))
    name: str
    lat: float
    lon: float
    address1: str | None = None
    address2: str | None = None
    city: str | None = None
    state: str | None = None
    zip: str | None = None
    country: str | None = None
    timezone: str | None = None
    refreshed_at: datetime = Field(sa_column=_when(nullable=False))


class GeocodedPlace(SQLModel, table=True):
    """An address looked up at the geocoder (issue 17, optional): its point, or none found. Cached so
    the same text never asks twice within GEOCODE_CACHE_DAYS (Nominatim's usage policy)."""

    __tablename__ = "geocoded_places"

    query: str = Field(sa_column=Column(Text, primary_key=True, nullable=False))
    lat: float | None = None
    lon: float | None = None
    looked_up_at: datetime = Field(sa_column=_when(nullable=False))


class RateGate(SQLModel, table=True):
    """The next moment a rate-limited outside service may be called, shared by every process."""

    __tablename__ = "rate_gates"

    name: str = Field(sa_column=Column(Text, primary_key=True, nullable=False))
    next_at: datetime = Field(sa_column=_when(nullable=False))


class TowerLook(SQLModel, table=True):
    """When a tower was last asked to be looked at out of turn (a Harbor event, a return page): many
    asks within a few seconds become one Harbor read (bot/web_look.py)."""

    __tablename__ = "tower_looks"

    tower_id: str = Field(sa_column=Column(Text, primary_key=True))
    look_at: datetime = Field(sa_column=_when(nullable=False))


_INBOX_OPEN = "done_at IS NULL"


class InboxUpdate(SQLModel, table=True):
    """A Telegram update, recorded by `update_id` before it is acted on (bot/inbox.py): a repeat finds
    its row and does nothing; a row whose process died (its lease ran out) is taken over by another.

    Once done, the body is emptied and the row kept for the retention period, so a late redelivery is
    still recognised."""

    __tablename__ = "inbox"
    # "The oldest open update of this chat" is asked for every update: only open rows are indexed.
    __table_args__ = (
        Index(
            "ix_inbox_open_chat",
            "chat_id",
            "update_id",
            postgresql_where=text(_INBOX_OPEN),
            sqlite_where=text(_INBOX_OPEN),
        ),
    )

    update_id: int = Field(sa_column=_tg_id(primary_key=True, nullable=False))
    chat_id: int | None = Field(default=None, sa_column=_tg_id())  # the chat (or user) whose order it keeps
    body: str = Field(sa_column=Column(Text, nullable=False))  # the update's JSON; "" once done
    lease_owner: str | None = None
    lease_until: datetime | None = Field(default=None, sa_column=_when())
    attempts: int = 0
    received_at: datetime = Field(default_factory=utcnow, sa_column=_when(nullable=False))
    done_at: datetime | None = Field(default=None, sa_column=_when(index=True))


class LockLease(SQLModel, table=True):
    """A lock held by one task of one process (storage/locks.py), until `lease_until` unless renewed: it
    holds no database connection while its block runs (a Harbor call, say)."""

    __tablename__ = "lock_leases"

    key: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    owner: str = Field(sa_column=Column(Text, nullable=False))
    lease_until: datetime = Field(sa_column=_when(nullable=False))
