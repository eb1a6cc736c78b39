"""The [U] decisions about Locker Open links in one place (bot/harbor/links.py): field spellings, the link."""

from __future__ import annotations

import pytest

from bot.harbor.errors import HarborNotAvailable, HarborNotFound
from bot.harbor.links import LockerOpenRequest, is_no_locker, link_url

BASE = "https://lockeropen.com"


@pytest.mark.parametrize(
    "answer",
    [
        {"id": 56, "lockerId": 9, "towerId": "0100000000000175", "linkToken": "https://lockeropen.com/x"},
        {"id": 56, "locker_id": 9, "tower_id": "0100000000000175", "linkToken": "https://lockeropen.com/x"},
    ],
)
def test_both_spellings_of_the_locker_are_read(answer: dict) -> None:
    request = LockerOpenRequest.model_validate(answer)
    assert (request.locker_id, request.tower_id) == (9, "0100000000000175")


def test_an_answer_without_the_locker_leaves_it_to_be_asked_for() -> None:
    request = LockerOpenRequest.model_validate({"id": 56, "linkToken": "abc"})
    assert request.locker_id is None and request.tower_id is None


def test_the_link_never_shows_in_a_repr() -> None:
    request = LockerOpenRequest.model_validate({"id": 1, "linkToken": "https://lockeropen.com/dropoff?token=SECRET"})
    assert "SECRET" not in repr(request) and "SECRET" not in str(request)


def test_an_https_link_is_used_as_it_is() -> None:
    url = "https://lockeropen.com/dropoff?token=a.b&env=sandbox"
    assert link_url(url, "dropoff", base=BASE, env="sandbox") == url


def test_a_deep_link_becomes_an_https_link_telegram_accepts() -> None:
    url = link_url("locker-open://pickup?token=a.b&env=development", "pickup", base=BASE, env="sandbox")
    assert url == "https://lockeropen.com/pickup?token=a.b&env=development"


def test_a_bare_token_is_put_under_the_configured_host() -> None:
    url = link_url("a.b", "dropoff", base="https://open.example", env="production")
    assert url == "https://open.example/dropoff?token=a.b&env=production"


def test_no_locker_available_is_recognised_by_its_text_whatever_the_status() -> None:
    assert is_no_locker(HarborNotAvailable("No locker available for the requested locker type", status_code=400))
    assert is_no_locker(HarborNotFound("no locker available", status_code=404))
    assert not is_no_locker(HarborNotAvailable("Locker is not occupied", status_code=400))
