"""Fixtures for the unit tests of the bot's own logic: the delivery and handover services against the
Harbor simulator in process, on a real database (the async `repo` fixture of tests/conftest.py, so
SQLite and, with TEST_DATABASE_URL, PostgreSQL). The locker watch and the deadlines round are the
lab's `watch` and `deadlines`; what they announce is read back from the outbox (`lab.notices`).

One clock rules both sides: the simulator's frozen `Clock(start=START)` is also the services' `now`, so
`lab.advance(seconds)` ends reservations and keys at Harbor and in the bot together, without waiting.
Seed facts the tests rely on (sandbox/seed.json) are named here once.
"""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import MetaData, select
from sqlmodel import Session

from bot.config import load_settings
from bot.deliveries import Deadlines, DeliveryService, IssuedKeyView, LockerWatch, Person, Policy
from bot.deliveries.links import LinkKeys
from bot.handover import HandoverService
from bot.harbor.client import HarborClient
from bot.harbor.factory import connect_harbor
from sandbox.harbor import Clock, HarborSimulator, RequestRecord, create_app
from sandbox.harbor_base import load_default_seed
from storage.locks import Locks
from storage.models import Delivery, DeliveryState, OutboxMessage
from storage.repository import Repository

START = datetime(2026, 3, 2, 17, 0, tzinfo=UTC)  # 09:00 in San Francisco, 11:00 in Austin
ME = "harbor-bot-simulator"  # the bot's Harbor client id in the simulator
OTHER = "other-provider"  # another service provider sharing the towers

SF_CENTRE = (37.7793, -122.4193)
CIVIC, YERBA, HAYES = 101, 102, 103  # Hayes Valley is full (every locker occupied by OTHER)
CIVIC_TOWER_A, CIVIC_TOWER_B, YERBA_TOWER = "010000000000001a", "010000000000001b", "0100000000000175"
SMALL, MEDIUM, LARGE, XLARGE = 1, 2, 3, 4
# Civic Center tower A: 1001-1004 small low, 1005-1008 small, 1009-1010 medium low, 1011-1016 medium,
# 1017-1021 large, 1022-1024 x-large. Tower B: 1101-1104 small low, 1105 medium out of service,
# 1106-1108 medium, 1109-1110 large, 1111-1112 x-large. Yerba Buena: 1201-1203 small low,
# 1204-1206 small, 1207-1212 medium, 1213-1216 large.
CIVIC_FREE = {SMALL: 12, MEDIUM: 11, LARGE: 7, XLARGE: 5}

ALICE = Person(1001, "Alice", "Archer", "alice_a", "en")
BOB = Person(1002, "Bob", None, "BobTheBuilder", "en")
CAROL = Person(1003, "Carol", None, None, "en")
DAVE = Person(1004, "Dave", None, "dave", "en")
ADMIN = Person(9000, "Ada", None, "ada_admin", "en")
PEOPLE = (ALICE, BOB, CAROL, DAVE, ADMIN)


class Interceptor(httpx.AsyncBaseTransport):
    """The simulator's transport with actions run just before a matching request reaches it.

    Lets a test change Harbor between two calls of the bot, the way another service provider would:
    the bot listed a locker as free, and by the time its reservation arrives someone else holds it.
    """

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self._actions: list[tuple[str, str, Callable[[], Any], list[int]]] = []

    def before(self, method: str, path_part: str, action: Callable[[], Any], *, times: int = 1) -> None:
        self._actions.append((method.upper(), path_part, action, [times]))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        for method, part, action, left in self._actions:
            if left[0] > 0 and request.method == method and part in request.url.path:
                left[0] -= 1
                action()
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


@dataclass
class Lab:
    sim: HarborSimulator
    harbor: HarborClient
    repo: Repository
    deliveries: DeliveryService
    handover: HandoverService
    watch: LockerWatch
    deadlines: Deadlines
    transport: Interceptor
    session_factory: Callable[[], Session]
    policy: Policy
    _closers: list[Any] = field(default_factory=list)

    # time ------------------------------------------------------------------------------------

    def now(self) -> datetime:
        return self.sim.clock.now()

    def advance(self, seconds: float) -> None:
        """Time passes for Harbor and for the bot alike."""
        self.sim.clock.advance(seconds)

    # what Harbor saw and holds ---------------------------------------------------------------

    def requests(self, method: str, path_part: str = "") -> list[RequestRecord]:
        return [r for r in self.sim.requests if r.method == method and path_part in r.path]

    def status(self, locker_id: int) -> str:
        return self.sim.locker(locker_id)["status"]["name"]

    def holder(self, locker_id: int) -> str | None:
        return self.sim.holder(locker_id)

    def tokens(self, **match: Any) -> list[dict[str, Any]]:
        return [tok for tok in self.sim.issued_tokens() if all(tok[k] == v for k, v in match.items())]

    def take(self, *locker_ids: int, status: str = "occupied") -> None:
        """Another provider takes these lockers."""
        for locker_id in locker_ids:
            self.sim.set_locker_status(locker_id, status, OTHER)

    # what the bot stored ---------------------------------------------------------------------

    async def get(self, delivery_id: int) -> Delivery:
        delivery = await self.repo.get_delivery(delivery_id)
        assert delivery is not None
        return delivery

    async def events(self, delivery_id: int) -> list[str]:
        return [e.kind for e in await self.repo.events(delivery_id)]

    async def notices(self, chat_id: int | None = None) -> list[OutboxMessage]:
        """The announcements recorded in the outbox (for one chat), oldest first."""
        return await self.repo.outbox(chat_id=chat_id)

    async def notice_kinds(self, chat_id: int | None = None) -> list[str]:
        return [json.loads(m.body)["kind"] for m in await self.notices(chat_id)]

    async def all_stored_text(self) -> str:
        """Every value of every row of every table, as one string (to look for secrets in it)."""
        meta = MetaData()
        with self.session_factory() as session:
            meta.reflect(bind=session.get_bind())
            parts = [repr(tuple(row)) for table in meta.sorted_tables for row in session.execute(select(table)).all()]
        return "\n".join(parts)

    # getting a delivery into a state ---------------------------------------------------------

    async def reserved(self, person: Person = ALICE, location: int = CIVIC, size: int = SMALL) -> Delivery:
        delivery = await self.deliveries.reserve(person.id, location, size)
        assert delivery.state is DeliveryState.RESERVED
        return delivery

    async def awaiting_dropoff(self, person: Person = ALICE, location: int = CIVIC, size: int = SMALL) -> IssuedKeyView:
        delivery = await self.reserved(person, location, size)
        assert delivery.id is not None
        view = await self.deliveries.issue_dropoff_key(delivery.id, person.id, person.id)
        assert view.delivery.state is DeliveryState.AWAITING_DROPOFF
        return view

    def use(self, view: IssuedKeyView) -> None:
        """The customer's phone relays the key at the tower."""
        self.sim.use_token(view.key.payload, view.key.payload_auth)

    async def in_locker(self, person: Person = ALICE, location: int = CIVIC, size: int = SMALL) -> Delivery:
        view = await self.awaiting_dropoff(person, location, size)
        self.use(view)
        await self.watch.poll()
        assert view.delivery.id is not None
        delivery = await self.get(view.delivery.id)
        assert delivery.state is DeliveryState.IN_LOCKER
        return delivery

    async def awaiting_pickup(self, person: Person = ALICE, collector: Person | None = None) -> IssuedKeyView:
        delivery = await self.in_locker(person)
        assert delivery.id is not None
        who = collector or person
        view = await self.handover.issue_pickup_key(delivery.id, who.id, who.id)
        assert view.delivery.state is DeliveryState.AWAITING_PICKUP
        return view


def seed_with_locations(locations: Iterable[dict[str, Any]], *, keep_default: bool = True) -> dict[str, Any]:
    """The bundled seed plus (or only) these locations; each gets one tower of small lockers."""
    seed = load_default_seed() if keep_default else {**load_default_seed(), "locations": []}
    seed = copy.deepcopy(seed)
    for i, loc in enumerate(locations):
        seed["locations"].append(
            {
                "name": f"Test location {loc['id']}",
                "address1": f"{loc['id']} Test Street",
                "city": "Testville",
                "timezone": "America/Denver",
                "towers": [
                    {
                        "id": f"09{i:014x}",
                        "firstLockerId": 90001 + 100 * i,
                        "lockers": [{"doors": "1-2", "type": "small"}],
                    }
                ],
                **loc,
            }
        )
    return seed


LabFactory = Callable[..., Any]


@pytest.fixture
async def make_lab(repo: Repository, session_factory: Callable[[], Session]) -> AsyncIterator[LabFactory]:
    """`await make_lab(seed=None, policy=Policy(), locks=None, **client_options)`: a Lab on a fresh simulator
    (`locks`: the services' storage.locks.Locks; by default in-process only)."""
    labs: list[Lab] = []

    async def make(
        seed: dict[str, Any] | None = None,
        policy: Policy | None = None,
        locks: Locks | None = None,
        **client_options: Any,
    ) -> Lab:
        sim = HarborSimulator(seed, clock=Clock(start=START, tick=False), rng_seed=7)
        transport = Interceptor(httpx.ASGITransport(app=create_app(sim)))
        settings = load_settings(_env_file=None, harbor_env="simulator")
        connection = connect_harbor(settings, transport=transport, simulator=sim, **client_options)
        policy = policy or Policy()
        deliveries = DeliveryService(connection.client, repo, policy, locks=locks, now=sim.clock.now)
        deliveries.links = LinkKeys(deliveries)
        lab = Lab(
            sim=sim,
            harbor=connection.client,
            repo=repo,
            deliveries=deliveries,
            handover=HandoverService(deliveries),
            watch=LockerWatch(deliveries),
            deadlines=Deadlines(deliveries),
            transport=transport,
            session_factory=session_factory,
            policy=policy,
        )
        for person in PEOPLE:
            await deliveries.remember(person)
        labs.append(lab)
        return lab

    yield make
    for lab in labs:
        await lab.harbor.aclose()


@pytest.fixture
async def lab(make_lab: LabFactory) -> Lab:
    return await make_lab()
