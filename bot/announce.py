"""What each announcement says and does, rendered when it is sent (bot/notify.py delivers the outbox).

A notice names its kind, its delivery and its recipient (bot/deliveries/notices.py); it is rendered in
the recipient's language, from the delivery as it stands now. One method per kind; each may also tidy
up (delete a key's QR that has had its day, edit a status message that lost its buttons).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.deliveries.notices import NoticeKind
from bot.sending import AnyBot, delete_quietly, edit_view, send_view
from bot.ui import format as fmt
from bot.ui import handover_views as hv
from bot.ui import locales, views
from bot.ui.texts import t
from bot.ui.views import View, button, keyboard
from storage.models import Delivery, IssuedKey, KeyKind, KeyState
from storage.repository import Repository


@dataclass(frozen=True, slots=True)
class Incoming:
    """One notice about to be said: to whom, about what, in which language, with what it carries."""

    chat_id: int
    delivery: Delivery
    language: str
    body: dict[str, Any]

    def until(self) -> str | None:
        """The end of a pickup key that is still live (Harbor cannot revoke one), in local time."""
        value = self.body.get("until")
        if not value:
            return None
        return fmt.local_time(datetime.fromisoformat(value), self.delivery.timezone, lang=self.language)

    @property
    def places(self) -> dict[str, object]:
        return {"locker": self.delivery.locker_name, "name": self.delivery.location_name}


class Announcer:
    def __init__(self, bot: Callable[[], AnyBot], repo: Repository, *, reminder_hours: float) -> None:
        self._bot = bot
        self.repo = repo
        self.reminder_hours = reminder_hours
        self._says: dict[NoticeKind, Callable[[Incoming], Awaitable[None]]] = {
            NoticeKind.IN_LOCKER: self._in_locker,
            NoticeKind.COMPLETED: self._completed,
            NoticeKind.REMINDER: self._reminder,
            NoticeKind.HOLD_EXPIRED: self._hold_expired,
            NoticeKind.KEY_EXPIRED: self._key_expired,
            NoticeKind.RELEASED: self._released,
            NoticeKind.LINK_EXPIRED: self._link_expired,
            NoticeKind.CLAIMED: self._claimed,
            NoticeKind.COURIER_GONE: self._courier_gone,
            NoticeKind.UNASSIGNED: self._unassigned,
            NoticeKind.COURIER_JOB: self._courier_job,
            NoticeKind.LOCKER_LINK_LIVE: self._locker_link_live,
            NoticeKind.OPENED_WITHOUT_KEY: self._opened_without_key,
        }

    @property
    def bot(self) -> AnyBot:
        return self._bot()

    async def say(self, chat_id: int, body: dict[str, Any]) -> None:
        delivery = await self.repo.get_delivery(int(body["delivery_id"]))
        if delivery is None:
            return
        user = await self.repo.get_user(chat_id)
        # The recipient's language, not the language of whoever caused the notice.
        await self._says[NoticeKind(body["kind"])](Incoming(chat_id, delivery, locales.of(user), body))

    async def _send(self, notice: Incoming, view: View) -> None:
        await send_view(self.bot, notice.chat_id, view, notify=True)

    # one method per kind ------------------------------------------------------------------------

    async def _in_locker(self, n: Incoming) -> None:
        await self._retire_keys(n, KeyKind.DROPOFF)
        # The "held for you" message's key and cancel buttons have had their day: keep it as a summary.
        summary = View(views.my_item(n.delivery, n.language))
        await edit_view(self.bot, n.delivery.status_chat_id, n.delivery.status_message_id, summary, notify=True)
        await self._send(n, hv.in_locker_view(n.delivery, n.language))

    async def _completed(self, n: Incoming) -> None:
        await self._retire_keys(n, KeyKind.PICKUP)
        if n.chat_id == n.delivery.sender_id:
            text = t("watch.completed_sender", n.language, id=n.delivery.id, **n.places)
        else:
            text = t("pickup.completed_collector", n.language, **n.places)
        await self._send(n, View(text))

    async def _reminder(self, n: Incoming) -> None:
        values = {**n.places, "address": n.delivery.address}
        if n.body.get("role") == "collector":
            key_button = keyboard([button(t("pickup.key_button", n.language), "pkey", n.delivery.id or 0)])
            await self._send(n, View(t("pickup.reminder_collector", n.language, **values), key_button))
        else:
            await self._send(n, View(t("pickup.reminder_sender", n.language, **values)))

    async def _hold_expired(self, n: Incoming) -> None:
        view = views.hold_expired(n.delivery, n.language)
        status = (n.delivery.status_chat_id, n.delivery.status_message_id)
        if not await edit_view(self.bot, *status, view, notify=True):
            await self._send(n, view)

    async def _key_expired(self, n: Incoming) -> None:
        key = await self.repo.get_key(int(n.body["key_id"]))
        if key is None:
            return
        # The expired QR is removed so nobody tries it at the tower; a short note takes its place.
        await self.delete_key_message(key)
        fresh = await self.repo.get_delivery(key.delivery_id) or n.delivery
        renewable = bool(n.body.get("renewable")) and fresh.state.is_open
        await self._send(n, views.key_expired(key, fresh, renewable, n.language))

    async def _released(self, n: Incoming) -> None:
        for key in await self.repo.keys_of(n.delivery.id or 0, states=[KeyState.VOID]):
            if key.chat_id == n.chat_id:
                await self.delete_key_message(key)
        await self._send(n, View(t("pickup.released", n.language, id=n.delivery.id, **n.places)))

    async def _link_expired(self, n: Incoming) -> None:
        if n.delivery.state.is_open:
            await self._send(n, hv.link_expired_view(n.delivery, n.language))

    async def _claimed(self, n: Incoming) -> None:
        who = await self._name(n.body["claimer"])
        text = t("handover.claimed_sender", n.language, who=who, locker=n.delivery.locker_name)
        until = n.until()
        if n.body.get("link_live"):
            previous = await self._name(n.body["previous"])
            text += "\n" + t("handover.previous_link_live", n.language, who=previous)
        elif until:
            previous = await self._name(n.body["previous"])
            text += "\n" + t("handover.previous_key_live", n.language, who=previous, until=until)
        await self._send(n, View(text))

    async def _courier_gone(self, n: Incoming) -> None:
        if not n.delivery.state.is_open:
            return
        who = await self._name(n.body["courier"])
        text = t("handover.courier_gone", n.language, who=who, id=n.delivery.id, locker=n.delivery.locker_name)
        until = n.until()
        if n.body.get("link_live"):
            text += "\n" + t("handover.previous_link_live", n.language, who=who)
        elif until:
            text += "\n" + t("handover.previous_key_live", n.language, who=who, until=until)
        await self._send(n, View(text, hv.handover_buttons(n.delivery, n.language)))

    async def _unassigned(self, n: Incoming) -> None:
        for key_id in n.body.get("key_ids", []):
            key = await self.repo.get_key(int(key_id))
            if key is not None:
                await self.delete_key_message(key)
        text = t("pickup.unassigned", n.language, id=n.delivery.id, **n.places)
        until = n.until()
        if n.body.get("link_live"):
            # A Locker Open link opens until it is used: the holder is asked not to, and told so.
            text += "\n" + t("pickup.unassigned_link_live", n.language)
        elif until:
            # Harbor cannot revoke a token: the holder is asked not to use it, and told the truth.
            text += "\n" + t("pickup.unassigned_key_live", n.language, until=until)
        await self._send(n, View(text))

    async def _locker_link_live(self, n: Incoming) -> None:
        text = t("admin.locker_link_live", n.language, id=n.delivery.id, requests=n.body["requests"], **n.places)
        await self._send(n, View(text))

    async def _opened_without_key(self, n: Incoming) -> None:
        role = "admin" if n.body.get("role") == "admin" else "sender"
        await self._send(n, View(t(f"watch.opened_without_key_{role}", n.language, id=n.delivery.id, **n.places)))

    async def _courier_job(self, n: Incoming) -> None:
        if n.delivery.collector_id != n.chat_id or not n.delivery.state.is_open:
            return  # reassigned or closed before the courier heard of it
        sender = await self.repo.get_user(n.delivery.sender_id)
        intro = t("pickup.courier_job", n.language, id=n.delivery.id, sender=sender.display_name if sender else "")
        await self._send(n, hv.waiting_view(n.delivery, n.language, self.reminder_hours, intro=intro))

    # helpers ------------------------------------------------------------------------------------

    async def _name(self, user_id: object) -> str:
        user = await self.repo.get_user(int(str(user_id)))
        return user.display_name if user else str(user_id)

    async def _retire_keys(self, n: Incoming, kind: KeyKind) -> None:
        """The used keys in this notice's chat (another notice of the same event retires the others')."""
        for key in await self.repo.keys_of(n.delivery.id or 0, kind=kind, states=[KeyState.USED]):
            if key.chat_id == n.chat_id:
                await self.delete_key_message(key)

    async def delete_key_message(self, key: IssuedKey) -> None:
        """Remove a key's photo from its chat, once: a second delete is a call Telegram rejects."""
        message_id = await self.repo.take_key_message(key)
        await delete_quietly(self.bot, key.chat_id, message_id)
