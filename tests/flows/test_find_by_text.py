"""Issue 17: find a locker from any device, by name, street, city or ZIP, from Harbor's list kept in the
database; the places a person used before; what each size holds.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col

from bot.jobs import Scheduler
from sandbox.telegram_driver import ChatMessage, UserDriver
from storage.models import JobKind, ScheduledJob
from tests.flows.harness import SF, World
from tests.flows.steps import sync_engine

GRAND_AVE = 301


def la_location(location_id: int, name: str, address: str, zip_code: str, *, tower: int, first: int) -> dict[str, Any]:
    """A Los Angeles location in the simulator's seed shape, with a few free lockers of two sizes."""
    return {
        "id": location_id,
        "name": name,
        "lat": 34.0537 + (location_id % 97) * 0.0004,
        "lon": -118.2500 - (location_id % 89) * 0.0004,
        "address1": address,
        "city": "Los Angeles",
        "state": "California",
        "zip": zip_code,
        "country": "United States",
        "timezone": "America/Los_Angeles",
        "towers": [
            {
                "id": f"0100000000{tower:06x}",
                "firstLockerId": first,
                "lockers": [{"doors": "1-3", "type": "small"}, {"doors": "4-5", "type": "medium"}],
            }
        ],
    }


def add_los_angeles(w: World, extra: int = 0) -> None:
    """Grand Ave Plaza, a neighbour on Grand Ave, and `extra` more locations (for a list of 250+)."""
    places = [
        la_location(GRAND_AVE, "Grand Ave Plaza", "333 S Grand Ave", "90071", tower=0x301, first=30001),
        la_location(302, "Bunker Hill Station", "400 S Grand Ave", "90013", tower=0x302, first=30101),
        la_location(303, "Figueroa Tower", "900 Wilshire Blvd", "90017", tower=0x303, first=30201),
    ]
    for n in range(extra):
        location_id = 1000 + n
        places.append(
            la_location(
                location_id, f"Spot {n:03d}", f"{n + 1} Spring St", "90012", tower=0x1000 + n, first=40000 + 10 * n
            )
        )
    w.simulator.add_locations(places)


async def search(user: UserDriver, text: str) -> ChatMessage:
    """/dropoff, then type `text`; returns the answer that follows the search."""
    await user.command("dropoff")
    await user.wait_for("where are you")
    await user.send_text(text)
    return await user.wait_for(lambda m: "matching" in (m.content or "").lower())


def list_walks(w: World) -> list[Any]:
    """The paged walks of Harbor's list: each starts with skip=0."""
    return [r for r in w.harbor_requests("GET", "/api/v1/locations/") if r.path == "/api/v1/locations/"]


async def test_grand_ave_by_street_zip_and_full_name_comes_first(w: World) -> None:
    add_los_angeles(w)
    alice = w.user(101, "Alice")
    for typed in ("grand ave", "90071", "GRAND avenue plaza"):
        found = await search(alice, typed)
        assert found.buttons[0] == "📍 Grand Ave Plaza", (typed, found.describe())
        assert "333 S Grand Ave" in (found.content or "")
        # The same list a shared location shows: free sizes per location, one tap to the sizes.
        assert "small 3" in (found.content or "") and "medium 2" in (found.content or "")
    await alice.press("Grand Ave Plaza")
    sizes = await alice.wait_for("which locker size")
    assert "Grand Ave Plaza" in (sizes.content or "")


async def test_a_city_lists_its_locations_by_name_and_a_typo_still_finds(w: World) -> None:
    add_los_angeles(w)
    alice = w.user(101, "Alice")
    austin = await search(alice, "austin")
    assert austin.buttons == ["📍 Downtown Austin - Congress Ave", "📍 South Congress - Elizabeth St"]
    # Hayes Valley (San Francisco) is full: it is named, not offered.
    san_francisco = await search(alice, "San Francisco")
    assert san_francisco.buttons == ["📍 Civic Center - McAllister St", "📍 Yerba Buena - Mission St"]
    assert "Hayes Valley" in (san_francisco.content or "")
    for typo in ("Grnad Ave Plaza", "grand ave plaaz", "Los Angelse"):
        found = await search(alice, typo)
        assert "📍 Grand Ave Plaza" in found.buttons, (typo, found.describe())
    accents = await search(alice, "CÍVIC céntér")
    assert accents.buttons[0] == "📍 Civic Center - McAllister St"


async def test_nothing_found_says_what_to_try_and_typing_again_searches_again(w: World) -> None:
    alice = w.user(101, "Alice")
    await alice.command("dropoff")
    prompt = await alice.wait_for("where are you")
    assert "ZIP" in (prompt.content or "") and "city" in (prompt.content or "")
    await alice.send_text("zzyzx road")
    nothing = await alice.wait_for("no locker location matching")
    assert "Civic Center" in (nothing.content or "") and "94103" in (nothing.content or "")
    assert alice.reply_keyboard is not None  # "Share my location" is back for a phone
    await alice.send_text("mission")
    first = await alice.wait_for("matching")
    assert first.buttons == ["📍 Yerba Buena - Mission St"]
    # Typing again while the list is shown: a new search.
    await alice.send_text("congress")
    again = await alice.wait_for(lambda m: "matching “congress”" in (m.content or "").lower())
    assert again.buttons[0].startswith("📍 Downtown Austin")


async def test_the_search_message_goes_once_the_answer_is_there(w: World) -> None:
    alice = w.user(101, "Alice")
    await alice.command("dropoff")
    await alice.wait_for("where are you")
    await alice.share_location(*SF)
    await alice.wait_for("free lockers within")
    await alice.send_text("mission")
    await alice.wait_for("matching")
    await gone(w, alice, "Looking for")
    # Both searches' answers stay; only their "Looking for…" went.
    shown = [m.content or "" for m in alice.bot_messages]
    assert any("free lockers within" in text.lower() for text in shown)


async def gone(w: World, user: UserDriver, text: str) -> None:
    """Wait until no message the user sees contains `text` (the emulator notifies every change)."""
    changed = w.emulator._changed

    def none_left() -> bool:
        return not any(text in (m.content or "") for m in user.bot_messages)

    async with changed:
        await asyncio.wait_for(changed.wait_for(none_left), 5)


async def test_a_typed_search_costs_no_more_harbor_calls_than_a_shared_location(w: World) -> None:
    add_los_angeles(w)
    alice = w.user(101, "Alice")
    await search(alice, "grand ave")  # the first search walks the list (it was empty)
    assert len(list_walks(w)) == 1

    w.simulator.requests.clear()
    await search(alice, "90071")
    typed = [r for r in w.simulator.requests if r.path.startswith("/api/")]
    assert not list_walks(w)  # from the database

    w.simulator.requests.clear()
    await alice.share_location(34.0537, -118.2500)
    await alice.wait_for("free lockers within")
    shared = [r for r in w.simulator.requests if r.path.startswith("/api/")]
    assert 1 <= len(typed) <= len(shared), (typed, shared)


async def test_a_list_of_250_locations_is_walked_page_by_page(w: World) -> None:
    add_los_angeles(w, extra=255)
    alice = w.user(101, "Alice")
    found = await search(alice, "Spot 254")
    assert found.buttons[0] == "📍 Spot 254"  # on the third page
    pages = [dict(p.split("=") for p in r.query.split("&")) for r in list_walks(w)]
    assert pages == [{"skip": "0", "limit": "100"}, {"skip": "100", "limit": "100"}, {"skip": "200", "limit": "100"}]
    known = await w.services.repo.known_locations()
    assert len(known) == 5 + 3 + 255


async def test_two_schedulers_walk_once_per_interval(w: World) -> None:
    add_los_angeles(w)
    other = Scheduler(w.services, owner="another-process")
    mine = w.app.bot_data["scheduler"] if w.app else None
    assert mine is not None
    await w.services.repo.schedule(JobKind.LOCATIONS, "", w.services.deliveries.now())
    for _ in range(4):
        await asyncio.gather(mine.tick(), other.tick())
    assert len([r for r in list_walks(w) if "skip=0" in r.query]) == 1

    # A search right after finds the list fresh: no walk of its own.
    alice = w.user(101, "Alice")
    await search(alice, "grand ave")
    assert len([r for r in list_walks(w) if "skip=0" in r.query]) == 1

    # One interval later (moved back in the database), again exactly one walk between the two.
    await asyncio.to_thread(_one_interval_ago, w)
    for _ in range(4):
        await asyncio.gather(mine.tick(), other.tick())
    assert len([r for r in list_walks(w) if "skip=0" in r.query]) == 2


def _one_interval_ago(w: World) -> None:
    back = w.settings.locations_refresh + timedelta(seconds=1)
    now = w.services.deliveries.now()
    with Session(sync_engine(w)) as session:
        session.execute(
            update(ScheduledJob)
            .where(col(ScheduledJob.kind) == JobKind.LOCATIONS)
            .values(due_at=now - timedelta(seconds=1), last_run_at=now - back)
        )
        session.commit()
