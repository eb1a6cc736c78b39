"""The locker state machine (docs/harbor-api.md §5, §15): every status x action, tokens at the tower, expiry,
validation, unknown ids and concurrent reservations."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta

import httpx
import pytest

from bot.harbor.models import Locker, LockerToken, Reservation
from sandbox.harbor import HarborSimulator, SimError
from tests.sandbox.conftest import ME, OOS_LOCKER, OOS_TOWER, OTHER, START, TOWER, Caller, locker_url

STATUS_IDS = {"available": 1, "reserved": 2, "rented": 3, "occupied": 4, "declined": 5, "out_of_service": 6}
ACTIONS = ["reserve", "cancel", "dropoff", "pickup", "release"]
NOT_AVAILABLE = (400, "Locker is not available")
NOT_RESERVED = (400, "Locker is not reserved")
NOT_OCCUPIED = (400, "Locker is not occupied")
HELD_BY_OTHER = (403, "Locker is held by another client")

# (status, holder) -> action -> (HTTP status, detail or None on 200, status afterwards)
MATRIX: dict[tuple[str, str | None], dict[str, tuple[int, str | None, str]]] = {
    ("available", None): {
        "reserve": (200, None, "reserved"),
        "cancel": (*NOT_RESERVED, "available"),
        "dropoff": (200, None, "rented"),
        "pickup": (*NOT_OCCUPIED, "available"),
        "release": (200, None, "available"),
    },
    ("reserved", ME): {
        "reserve": (*NOT_AVAILABLE, "reserved"),
        "cancel": (200, None, "available"),
        "dropoff": (200, None, "rented"),
        "pickup": (*NOT_OCCUPIED, "reserved"),
        "release": (200, None, "available"),
    },
    ("rented", ME): {
        "reserve": (*NOT_AVAILABLE, "rented"),
        "cancel": (*NOT_RESERVED, "rented"),
        "dropoff": (200, None, "rented"),
        "pickup": (*NOT_OCCUPIED, "rented"),
        "release": (200, None, "available"),
    },
    ("occupied", ME): {
        "reserve": (*NOT_AVAILABLE, "occupied"),
        "cancel": (*NOT_RESERVED, "occupied"),
        "dropoff": (200, None, "occupied"),
        "pickup": (200, None, "occupied"),
        "release": (200, None, "available"),
    },
    ("declined", ME): {
        "reserve": (*NOT_AVAILABLE, "declined"),
        "cancel": (*NOT_RESERVED, "declined"),
        "dropoff": (200, None, "rented"),
        "pickup": (*NOT_OCCUPIED, "declined"),
        "release": (200, None, "available"),
    },
    ("out_of_service", None): {
        "reserve": (*NOT_AVAILABLE, "out_of_service"),
        "cancel": (*NOT_RESERVED, "out_of_service"),
        "dropoff": (*NOT_AVAILABLE, "out_of_service"),
        "pickup": (*NOT_OCCUPIED, "out_of_service"),
        "release": (200, None, "out_of_service"),
    },
}
for _status in ("reserved", "rented", "occupied", "declined"):
    MATRIX[(_status, OTHER)] = {
        "reserve": (*NOT_AVAILABLE, _status),
        **{action: (*HELD_BY_OTHER, _status) for action in ("cancel", "dropoff", "pickup", "release")},
    }

CASES = [(state, action, *MATRIX[state][action]) for state in MATRIX for action in ACTIONS]


async def act(caller: Caller, action: str, locker: int = 1001, tower: str = TOWER) -> httpx.Response:
    if action == "reserve":
        return await caller.reserve(locker, tower)
    if action == "cancel":
        return await caller.delete(locker_url("reservations", locker, tower))
    if action == "release":
        return await caller.release(locker, tower)
    return await caller.issue(action, locker, tower)


@pytest.mark.parametrize(
    ("state", "action", "code", "detail", "after"), CASES, ids=[f"{s[0]}-{s[1] or 'nobody'}-{a}" for s, a, *_ in CASES]
)
async def test_transition(
    harbor_me: Caller,
    harbor_sim: HarborSimulator,
    state: tuple[str, str | None],
    action: str,
    code: int,
    detail: str | None,
    after: str,
) -> None:
    harbor_sim.set_locker_status(1001, *state)

    response = await act(harbor_me, action)

    assert response.status_code == code, response.text
    if detail is not None:
        assert response.json() == {"detail": detail}
    assert harbor_sim.locker(1001)["status"] == {"name": after, "id": STATUS_IDS[after]}
    expected_holder = state[1] if code != 200 else (ME if after in ("reserved", "rented", "occupied") else None)
    assert harbor_sim.holder(1001) == expected_holder
    if code == 200:
        body = response.json()
        if action == "reserve":
            assert Reservation.model_validate(body).locker_id == 1001
        elif action in ("dropoff", "pickup"):
            assert LockerToken.model_validate(body).locker.status.name == after
        else:
            assert Locker.model_validate(body).status.name == after


async def test_reservation_response(harbor_me: Caller) -> None:
    response = await harbor_me.reserve(1001, TOWER.upper(), duration=120)
    body = response.json()
    assert set(body) == {"id", "lockerId", "towerId", "duration", "expiresAt"}
    reservation = Reservation.model_validate(body)
    assert (reservation.locker_id, reservation.tower_id, reservation.duration) == (1001, TOWER, 120)
    assert reservation.expires_at == START + timedelta(seconds=120)
    second = Reservation.model_validate((await harbor_me.reserve(1002)).json())
    assert second.id != reservation.id


@pytest.mark.parametrize("kind", ["dropoff", "pickup"])
async def test_token_response(harbor_me: Caller, harbor_sim: HarborSimulator, kind: str) -> None:
    if kind == "pickup":
        harbor_sim.set_locker_status(1001, "occupied", ME)
    response = await harbor_me.post(
        locker_url(f"{kind}-locker-tokens", tower=TOWER.upper()), {"duration": 600, "client_info": "order-9"}
    )
    body = response.json()
    assert set(body) == {"id", "tower_id", "locker", "payload", "payload_auth", "expires"}
    token = LockerToken.model_validate(body)
    assert token.tower_id == body["tower_id"] == TOWER
    assert token.expires == START + timedelta(seconds=600)
    for field in ("payload", "payload_auth"):
        assert re.fullmatch(r"(?:[0-9a-f]{2})+", body[field])
    issued = harbor_sim.issued_tokens()[-1]
    assert issued["kind"] == kind
    assert issued["client_info"] == "order-9"
    assert issued["client_id"] == ME
    assert issued["payload"] == body["payload"]


async def test_client_info_may_be_left_out(harbor_me: Caller) -> None:
    response = await harbor_me.post(locker_url("dropoff-locker-tokens"), {"duration": 60})
    assert response.status_code == 200


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize(
    ("tower", "locker", "detail"),
    [
        ("0100000000009999", 1001, "Tower not found"),
        (TOWER, 9999, "Locker not found"),
        (TOWER, OOS_LOCKER, "Locker not found"),
        ("zz", 1001, "Tower not found"),
    ],
    ids=["unknown-tower", "unknown-locker", "locker-of-another-tower", "malformed-tower"],
)
async def test_unknown_ids_are_404(harbor_me: Caller, action: str, tower: str, locker: int, detail: str) -> None:
    response = await act(harbor_me, action, locker, tower)
    assert response.status_code == 404
    assert response.json() == {"detail": detail}


BAD_BODIES = [
    ({}, ["body", "duration"], "missing"),
    ({"duration": 0}, ["body", "duration"], "greater_than_equal"),
    ({"duration": -5}, ["body", "duration"], "greater_than_equal"),
    ({"duration": 86401}, ["body", "duration"], "less_than_equal"),
    ({"duration": "300"}, ["body", "duration"], "int_type"),
    ({"duration": 1.5}, ["body", "duration"], "int_type"),
    ({"duration": True}, ["body", "duration"], "int_type"),
    ({"duration": None}, ["body", "duration"], "int_type"),
    ([300], ["body"], "model_attributes_type"),
]


@pytest.mark.parametrize("route", ["reservations", "dropoff-locker-tokens", "pickup-locker-tokens"])
@pytest.mark.parametrize(("body", "loc", "kind"), BAD_BODIES, ids=[repr(b[0]) for b in BAD_BODIES])
async def test_bad_bodies_are_422_list_form_and_change_nothing(
    harbor_me: Caller, harbor_sim: HarborSimulator, route: str, body: object, loc: list, kind: str
) -> None:
    harbor_sim.set_locker_status(1001, "occupied", ME)  # so that pick-up would otherwise succeed
    response = await harbor_me.post(locker_url(route), body)
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert (error["loc"], error["type"]) == (loc, kind)
    assert error["msg"]
    assert harbor_sim.locker(1001)["status"]["name"] == "occupied"
    assert harbor_sim.issued_tokens() == []


@pytest.mark.parametrize("route", ["reservations", "dropoff-locker-tokens", "release-locker"])
async def test_not_json_is_422(harbor_me: Caller, route: str) -> None:
    response = await harbor_me.post(
        locker_url(route), content=b"{duration: 300", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "json_invalid"


@pytest.mark.parametrize("route", ["reservations", "dropoff-locker-tokens"])
async def test_missing_body_is_422(harbor_me: Caller, route: str) -> None:
    response = await harbor_me.post(locker_url(route))
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body"]


async def test_client_info_must_be_a_string(harbor_me: Caller) -> None:
    response = await harbor_me.post(locker_url("dropoff-locker-tokens"), {"duration": 60, "client_info": 5})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "client_info"]


@pytest.mark.parametrize("duration", [1, 86400])
async def test_duration_bounds_are_inclusive(harbor_me: Caller, duration: int) -> None:
    assert (await harbor_me.reserve(duration=duration)).status_code == 200
    assert (await harbor_me.issue("dropoff", 1002, duration=duration)).status_code == 200


@pytest.mark.parametrize("action", ACTIONS)
async def test_non_integer_locker_id_is_422(harbor_me: Caller, action: str) -> None:
    response = await act(harbor_me, action, "abc")  # type: ignore[arg-type]
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["path", "locker_id"]


async def _use(http: httpx.AsyncClient, token: dict, **extra: str) -> httpx.Response:
    return await http.post(
        "/_sim/use-token", json={"payload": token["payload"], "payload_auth": token["payload_auth"], **extra}
    )


async def test_full_delivery(harbor_me: Caller, harbor_sim: HarborSimulator) -> None:
    http = harbor_me.http
    assert (await harbor_me.reserve()).status_code == 200
    dropoff = (await harbor_me.issue("dropoff")).json()
    assert dropoff["locker"]["status"]["name"] == "rented"

    used = await _use(http, dropoff, sdk_token=harbor_me.token)
    assert used.status_code == 200
    assert used.json()["locker"]["status"]["name"] == "occupied"
    assert used.json()["token"]["used_at"] == START.isoformat()
    assert [lk["status"]["name"] for lk in (await harbor_me.get("/api/v1/users/me/assigned-lockers")).json()] == [
        "occupied"
    ]
    again = await _use(http, dropoff)
    assert again.status_code == 409
    assert again.json() == {"detail": "Token already used"}

    pickup = (await harbor_me.issue("pickup")).json()
    assert pickup["locker"]["status"]["name"] == "occupied"
    assert (await _use(http, pickup)).json()["locker"]["status"]["name"] == "available"
    assert harbor_sim.holder(1001) is None
    assert (await harbor_me.get("/api/v1/users/me/assigned-lockers")).json() == []
    assert (await _use(http, pickup)).status_code == 409
    assert [t["state"] for t in harbor_sim.issued_tokens()] == ["used", "used"]


async def test_use_token_refusals(harbor_me: Caller, harbor_other: Caller, harbor_sim: HarborSimulator) -> None:
    token = (await harbor_me.issue("dropoff")).json()
    sp_only = harbor_sim.mint_access_token(ME, "service_provider")
    others = harbor_sim.mint_access_token(OTHER, "tower_access")
    cases = [
        ({"payload": "00" * 80}, 404),
        ({"payload": token["payload"], "payload_auth": "ab" * 64}, 403),
        ({"payload": token["payload"], "sdk_token": "nonsense"}, 401),
        ({"payload": token["payload"], "sdk_token": sp_only}, 401),
        ({"payload": token["payload"], "sdk_token": others}, 401),
    ]
    for body, status in cases:
        response = await harbor_me.http.post("/_sim/use-token", json=body)
        assert (response.status_code, bool(response.json()["detail"])) == (status, True), body
    assert harbor_sim.locker(1001)["status"]["name"] == "rented"
    # Upper-case hex is the same token; a live tower_access token of the same client is accepted.
    ok = harbor_sim.use_token(token["payload"].upper(), token["payload_auth"], harbor_sim.mint_access_token(ME))
    assert ok["locker"]["status"]["name"] == "occupied"


def test_an_expired_sdk_token_is_refused(harbor_sim: HarborSimulator) -> None:
    sdk = harbor_sim.mint_access_token(ME, "tower_access")
    harbor_sim.clock.advance(300)
    token = harbor_sim.issue_locker_token(ME, "dropoff", TOWER, 1001, 300)
    with pytest.raises(SimError) as caught:
        harbor_sim.use_token(token["payload"], sdk_token=sdk)
    assert caught.value.status == 401
    fresh = harbor_sim.mint_access_token(ME, "tower_access")
    assert harbor_sim.use_token(token["payload"], sdk_token=fresh)["locker"]["status"]["name"] == "occupied"


async def test_reservation_expires_back_to_available(harbor_me: Caller, harbor_other: Caller) -> None:
    await harbor_me.reserve(duration=200)
    await harbor_me.http.post("/_sim/clock", json={"advance": 199})
    assert (await harbor_other.reserve()).json() == {"detail": "Locker is not available"}

    await harbor_me.http.post("/_sim/clock", json={"advance": 1})
    lockers = (await harbor_me.get(f"/api/v1/towers/{TOWER}/lockers")).json()
    assert lockers[0]["status"]["name"] == "available"
    assert (await harbor_me.delete(locker_url("reservations"))).json() == {"detail": "Locker is not reserved"}
    assert (await harbor_other.reserve()).status_code == 200


async def test_unused_dropoff_token_expiry_returns_the_locker(harbor_me: Caller, harbor_sim: HarborSimulator) -> None:
    await harbor_me.reserve(duration=600)
    token = (await harbor_me.issue("dropoff", duration=120)).json()
    harbor_sim.clock.advance(119)
    assert harbor_sim.locker(1001)["status"]["name"] == "rented"
    harbor_sim.clock.advance(1)
    assert harbor_sim.locker(1001)["status"]["name"] == "available"
    assert harbor_sim.holder(1001) is None
    with pytest.raises(SimError) as caught:
        harbor_sim.use_token(token["payload"])
    assert (caught.value.status, caught.value.detail) == (410, "Token expired")


async def test_rented_locker_waits_for_its_last_live_dropoff_token(
    harbor_me: Caller, harbor_sim: HarborSimulator
) -> None:
    await harbor_me.issue("dropoff", duration=300)
    harbor_sim.clock.advance(100)
    second = (await harbor_me.issue("dropoff", duration=300)).json()  # lives until t=400
    harbor_sim.clock.advance(250)  # t=350: the first one is gone, the second lives
    assert harbor_sim.locker(1001)["status"]["name"] == "rented"
    assert [t["state"] for t in harbor_sim.issued_tokens()] == ["expired", "live"]
    harbor_sim.use_token(second["payload"])
    harbor_sim.clock.advance(1000)
    assert harbor_sim.locker(1001)["status"]["name"] == "occupied"


async def test_pickup_token_expiry_leaves_the_item_in(harbor_me: Caller, harbor_sim: HarborSimulator) -> None:
    harbor_sim.set_locker_status(1001, "occupied", ME)
    token = (await harbor_me.issue("pickup", duration=60)).json()
    harbor_sim.clock.advance(60)
    assert harbor_sim.locker(1001)["status"]["name"] == "occupied"
    with pytest.raises(SimError):
        harbor_sim.use_token(token["payload"])
    assert (await harbor_me.issue("pickup")).status_code == 200


async def test_release_voids_live_tokens(harbor_me: Caller, harbor_sim: HarborSimulator) -> None:
    token = (await harbor_me.issue("dropoff")).json()
    released = await harbor_me.release()
    assert released.json()["status"] == {"name": "available", "id": 1}
    response = await _use(harbor_me.http, token)
    assert response.status_code == 410
    assert harbor_sim.locker(1001)["status"]["name"] == "available"
    assert harbor_sim.issued_tokens()[0]["state"] == "voided"


async def test_used_pickup_voids_the_lockers_other_tokens(harbor_me: Caller, harbor_sim: HarborSimulator) -> None:
    harbor_sim.set_locker_status(1001, "occupied", ME)
    extra_dropoff = (await harbor_me.issue("dropoff")).json()
    pickup = (await harbor_me.issue("pickup")).json()
    assert (await _use(harbor_me.http, pickup)).status_code == 200
    assert (await _use(harbor_me.http, extra_dropoff)).status_code == 410
    assert harbor_sim.locker(1001)["status"]["name"] == "available"


async def test_admin_hook_takes_a_locker_out_of_service_and_back(
    harbor_me: Caller, harbor_sim: HarborSimulator
) -> None:
    token = (await harbor_me.issue("dropoff")).json()
    hook = await harbor_me.http.post("/_sim/lockers/1001/status", json={"status": "out_of_service"})
    assert hook.json()["status"] == {"name": "out_of_service", "id": 6}
    assert (await _use(harbor_me.http, token)).status_code == 410
    assert (await harbor_me.reserve()).status_code == 400
    await harbor_me.http.post("/_sim/lockers/1001/status", json={"status": "available"})
    assert (await harbor_me.reserve()).status_code == 200


async def test_the_seeded_out_of_service_locker_refuses_reservations(harbor_me: Caller) -> None:
    response = await harbor_me.reserve(OOS_LOCKER, OOS_TOWER)
    assert response.json() == {"detail": "Locker is not available"}


async def test_ten_concurrent_reservations_have_one_winner(harbor_me: Caller, harbor_sim: HarborSimulator) -> None:
    responses = await asyncio.gather(*(harbor_me.reserve() for _ in range(10)))
    codes = sorted(r.status_code for r in responses)
    assert codes == [200] + [400] * 9
    assert harbor_sim.locker(1001)["status"]["name"] == "reserved"


async def test_concurrent_reservations_by_two_clients(
    harbor_me: Caller, harbor_other: Caller, harbor_sim: HarborSimulator
) -> None:
    callers = [harbor_me, harbor_other] * 5
    responses = await asyncio.gather(*(c.reserve() for c in callers))
    winners = [c.client_id for c, r in zip(callers, responses, strict=True) if r.status_code == 200]
    assert len(winners) == 1
    assert harbor_sim.holder(1001) == winners[0]
    assert sum(r.status_code == 400 for r in responses) == 9


async def test_concurrent_dropoff_tokens_for_another_clients_reservation(
    harbor_me: Caller, harbor_other: Caller
) -> None:
    await harbor_other.reserve()
    responses = await asyncio.gather(*(harbor_me.issue("dropoff") for _ in range(5)))
    assert {r.status_code for r in responses} == {403}
