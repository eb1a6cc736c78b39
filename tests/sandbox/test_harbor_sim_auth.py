"""Token endpoint (Keycloak client_credentials) and bearer checks on /api/v1 (docs/harbor-api.md §2, §15)."""

from __future__ import annotations

import base64
import json

import httpx
import pytest

from sandbox.harbor import TOKEN_PATH
from tests.sandbox.conftest import CLIENTS, ME, START, TOWER, Caller, fetch_token, locker_url

API_ROUTES = [
    ("GET", "/api/v1/locations/"),
    ("GET", "/api/v1/locations/101/"),
    ("GET", "/api/v1/locations/in-area?start=37.7,-122.5&end=37.8,-122.3"),
    ("GET", "/api/v1/locations/101/availability"),
    ("GET", "/api/v1/locations/101/lockers"),
    ("GET", f"/api/v1/towers/{TOWER}/lockers"),
    ("POST", locker_url("reservations")),
    ("DELETE", locker_url("reservations")),
    ("POST", locker_url("dropoff-locker-tokens")),
    ("POST", locker_url("pickup-locker-tokens")),
    ("POST", locker_url("release-locker")),
    ("GET", "/api/v1/users/me/assigned-lockers"),
    ("POST", "/api/v1/login/test-token"),
]


def _claims(jwt: str) -> tuple[dict, dict]:
    header, payload, _ = jwt.split(".")
    decode = lambda part: json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))  # noqa: E731
    return decode(header), decode(payload)


@pytest.mark.parametrize("scope", ["service_provider", "tower_access", "service_provider tower_access"])
async def test_token_endpoint_issues_keycloak_like_jwt(harbor_http: httpx.AsyncClient, scope: str) -> None:
    response = await fetch_token(harbor_http, ME, scope)

    assert response.status_code == 200
    body = response.json()
    assert {k: body[k] for k in ("refresh_token", "refresh_expires_in", "expires_in", "token_type", "scope")} == {
        "refresh_token": None,
        "refresh_expires_in": 0,
        "expires_in": 300,
        "token_type": "Bearer",
        "scope": scope,
    }
    token = body["access_token"]
    assert 1200 <= len(token) <= 1500, len(token)
    header, claims = _claims(token)
    assert header["alg"] == "RS256"
    assert header["typ"] == "JWT"
    assert claims["exp"] - claims["iat"] == 300
    assert claims["iat"] == int(START.timestamp())
    assert claims["azp"] == ME
    assert claims["scope"] == scope
    assert claims["iss"] == "http://harbor.test/realms/harbor"
    assert claims["jti"]
    assert claims["sub"]
    second = (await fetch_token(harbor_http, ME, scope)).json()["access_token"]
    assert second != token


async def test_token_endpoint_accepts_basic_client_authentication(harbor_http: httpx.AsyncClient) -> None:
    response = await harbor_http.post(
        TOKEN_PATH, data={"grant_type": "client_credentials", "scope": "service_provider"}, auth=(ME, CLIENTS[ME])
    )
    assert response.status_code == 200
    assert response.json()["scope"] == "service_provider"


@pytest.mark.parametrize(
    "form",
    [
        {"client_id": ME, "client_secret": "wrong"},
        {"client_id": "nobody", "client_secret": CLIENTS[ME]},
        {"client_secret": CLIENTS[ME]},
        {"client_id": ME},
    ],
    ids=["wrong-secret", "unknown-client", "no-client-id", "no-secret"],
)
async def test_bad_client_credentials_are_401_invalid_client(harbor_http: httpx.AsyncClient, form: dict) -> None:
    response = await harbor_http.post(
        TOKEN_PATH, data={"grant_type": "client_credentials", "scope": "service_provider", **form}
    )
    assert response.status_code == 401
    assert response.json() == {
        "error": "invalid_client",
        "error_description": "Invalid client or Invalid client credentials",
    }


@pytest.mark.parametrize(
    ("grant_type", "status", "error"),
    [
        ("password", 400, "unsupported_grant_type"),
        ("refresh_token", 400, "unsupported_grant_type"),
        (None, 400, "invalid_request"),
    ],
)
async def test_only_client_credentials_grant(
    harbor_http: httpx.AsyncClient, grant_type: str | None, status: int, error: str
) -> None:
    form = {"client_id": ME, "client_secret": CLIENTS[ME], "scope": "service_provider"}
    if grant_type:
        form["grant_type"] = grant_type
    response = await harbor_http.post(TOKEN_PATH, data=form)
    assert response.status_code == status
    assert response.json()["error"] == error
    assert response.json()["error_description"]


@pytest.mark.parametrize("scope", ["", "openid", "service_provider admin", "service-provider"])
async def test_unknown_scope_is_400_invalid_scope(harbor_http: httpx.AsyncClient, scope: str) -> None:
    response = await harbor_http.post(
        TOKEN_PATH,
        data={"grant_type": "client_credentials", "client_id": ME, "client_secret": CLIENTS[ME], "scope": scope},
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"


async def test_token_endpoint_wants_a_form_body(harbor_http: httpx.AsyncClient) -> None:
    response = await harbor_http.post(
        TOKEN_PATH, json={"grant_type": "client_credentials", "client_id": ME, "client_secret": CLIENTS[ME]}
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


@pytest.mark.parametrize(("method", "path"), API_ROUTES)
@pytest.mark.parametrize("authorization", [None, "Bearer not-a-token", "Basic aGFyYm9yOnNlY3JldA==", "bearer"], ids=str)
async def test_api_without_a_valid_bearer_is_401(
    harbor_http: httpx.AsyncClient, method: str, path: str, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = await harbor_http.request(method, path, headers=headers, json={"duration": 300})
    assert response.status_code == 401
    assert response.json() == {"detail": "Could not validate credentials"}
    assert response.headers["www-authenticate"] == "Bearer"


async def test_a_tampered_bearer_is_401(harbor_me: Caller) -> None:
    tampered = harbor_me.token[:-3] + ("AAA" if not harbor_me.token.endswith("AAA") else "BBB")
    response = await harbor_me.http.get("/api/v1/locations/", headers={"Authorization": f"Bearer {tampered}"})
    assert response.status_code == 401


@pytest.mark.parametrize(("method", "path"), API_ROUTES)
async def test_a_tower_access_only_token_is_403_on_the_api(
    harbor_http: httpx.AsyncClient, method: str, path: str
) -> None:
    token = (await fetch_token(harbor_http, ME, "tower_access")).json()["access_token"]
    response = await harbor_http.request(
        method, path, headers={"Authorization": f"Bearer {token}"}, json={"duration": 300}
    )
    assert response.status_code == 403
    assert isinstance(response.json()["detail"], str)


async def test_the_bearer_expires_after_300_seconds_of_simulator_time(harbor_me: Caller) -> None:
    await harbor_me.http.post("/_sim/clock", json={"advance": 299})
    assert (await harbor_me.get("/api/v1/locations/")).status_code == 200

    await harbor_me.http.post("/_sim/clock", json={"advance": 1})
    response = await harbor_me.get("/api/v1/locations/")
    assert response.status_code == 401
    assert response.json() == {"detail": "Could not validate credentials"}


async def test_test_token_returns_the_caller(harbor_me: Caller) -> None:
    response = await harbor_me.post("/api/v1/login/test-token")
    assert response.status_code == 200
    body = response.json()
    assert body["client_id"] == ME
    assert body["email"] is None
    assert body["is_active"] is True
    assert body["scopes"] == ["service_provider", "tower_access"]
    assert body["id"] == _claims(harbor_me.token)[1]["sub"]


async def test_unknown_route_and_wrong_method_answer_fastapi_style(harbor_me: Caller) -> None:
    missing = await harbor_me.get("/api/v1/lockers")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "Not Found"}
    wrong = await harbor_me.get(locker_url("release-locker"))
    assert wrong.status_code == 405
    assert wrong.json() == {"detail": "Method Not Allowed"}
