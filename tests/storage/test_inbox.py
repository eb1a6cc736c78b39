"""The inbox's statements (storage/repo_inbox.py): recorded and claimed in one statement, in chat order."""

from __future__ import annotations

from datetime import timedelta

from storage.languages import LanguageStore
from storage.repository import Repository

LEASE = timedelta(seconds=30)


async def test_a_batch_claims_only_the_first_update_of_each_chat(repo: Repository) -> None:
    new, claimed = await repo.receive_updates(
        [(1, 101, "{}"), (2, 101, "{}"), (3, 102, "{}"), (4, None, "{}")], owner="me", lease=LEASE
    )
    assert new == {1, 2, 3, 4}
    assert [u.update_id for u in claimed.updates] == [1, 3, 4]
    assert [(await repo.inbox_update(i)).lease_owner for i in (1, 2, 3, 4)] == ["me", None, "me", "me"]  # type: ignore[union-attr]

    # A repeat records nothing; the chat's second waits until its first is done, then comes with the mark.
    again, none = await repo.receive_updates([(2, 101, "{}")], owner="me", lease=LEASE)
    assert again == set() and none.updates == []
    _, nothing = await repo.receive_updates([], owner="me", lease=LEASE, done=[3], done_chats=[102])
    assert nothing.updates == []
    _, second = await repo.receive_updates([], owner="me", lease=LEASE, done=[1], done_chats=[101])
    assert [u.update_id for u in second.updates] == [2]


async def test_the_claim_brings_the_language_of_the_private_chats_person(repo: Repository) -> None:
    for user_id in (201, 202):
        await repo.upsert_user(user_id, first_name=f"P{user_id}")
    await LanguageStore(repo.session_factory).choose(202, "es")
    _, claimed = await repo.receive_updates(
        [(11, 201, "{}"), (12, 202, "{}"), (13, 203, "{}"), (14, -100, "{}")], owner="me", lease=LEASE
    )
    # 203 has no row (no choice); a group's id is nobody's, so its sender's choice is read apart.
    assert claimed.languages == {11: None, 12: "es", 13: None}
    _, later = await repo.receive_updates([(15, 202, "{}")], owner="me", lease=LEASE, done=[12], done_chats=[202])
    assert later.languages == {15: "es"}
