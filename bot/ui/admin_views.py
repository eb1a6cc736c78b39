"""Screens of the admin commands: the lockers held at Harbor, delivery lists and one delivery's card
with its history, releases, couriers and stats, cut into pages under Telegram's message limit.

Everything here renders what bot/admin.py (AdminService) returns; nothing reads the database.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from datetime import datetime

from telegram import InlineKeyboardMarkup

from bot.admin import CourierChange, DeliveryHistory, DeliveryList, DeliverySearch, LockersReport, SearchKind, Stats
from bot.ui import format as fmt
from bot.ui import locales
from bot.ui.texts import Safe, raw, t
from bot.ui.views import button, keyboard
from storage.models import Delivery, DeliveryState, User

PAGE_LIMIT = 3800  # Telegram allows 4096 characters a message; room is left for the truncation note
MAX_PAGES = 5  # a longer list is cut, with a note saying how much was left out
MAX_RELEASE_BUTTONS = 30

# callback data: ["arel", tower_id, locker_id] release a locker no open delivery holds;
# ["alockers"] list the lockers again; ["arelease", delivery_id] retry /release after a Harbor outage;
# ["arelok", delivery_id, state] release what the admin confirmed, only if still in that state;
# ["arelno", delivery_id] keep it.
RELEASE_LOCKER = "arel"
LIST_LOCKERS = "alockers"
RELEASE_DELIVERY = "arelease"
RELEASE_CONFIRMED = "arelok"
RELEASE_KEPT = "arelno"


# paging --------------------------------------------------------------------------------------


def pages(lines: Sequence[str], language: str | None) -> list[str]:
    """Join lines into messages under Telegram's limit; past MAX_PAGES the rest is left out, with a note."""
    result: list[str] = []
    current = ""
    for index, line in enumerate(lines):
        line = _fit(line)
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) <= PAGE_LIMIT:
            current = candidate
            continue
        result.append(current)
        if len(result) == MAX_PAGES:
            result[-1] += "\n\n" + t("admin.truncated", language, count=len(lines) - index)
            return result
        current = line
    if current:
        result.append(current)
    return result


def _fit(line: str) -> str:
    """A single line longer than a message (never in practice) becomes cut plain text."""
    if len(line) <= PAGE_LIMIT:
        return line
    plain = html.unescape(re.sub(r"<[^>]+>", "", line))
    return html.escape(plain[: PAGE_LIMIT // 2] + "…", quote=False)


# small helpers -------------------------------------------------------------------------------


def state_name(state: DeliveryState, language: str | None) -> str:
    """A state as admins read it: words in their language ("in the locker"), not the code name."""
    return raw(f"admin.state.{state.value}", language)


def state_named(text: str) -> DeliveryState | None:
    """The state an admin typed: its code name (``in_locker``, ``in-locker``) or its words in any language."""
    wanted = " ".join(text.casefold().split())
    for state in DeliveryState:
        if wanted == state.value or wanted.replace("-", "_").replace(" ", "_") == state.value:
            return state
        if any(wanted == raw(f"admin.state.{state.value}", code).casefold() for code in locales.SUPPORTED):
            return state
    return None


def who(user_id: int | None, people: Mapping[int, User], language: str | None) -> str:
    """A person as the admin screens name them: "Name [id]", the bare id if unknown, or the system."""
    if user_id is None:
        return raw("admin.actor_system", language)
    user = people.get(user_id)
    return f"{user.display_name} [{user_id}]" if user else str(user_id)


def _stamp(when: datetime | None, tz_name: str | None) -> str:
    if when is None:
        return "—"
    return when.astimezone(fmt.zone(tz_name)).strftime("%Y-%m-%d %H:%M:%S %Z")


# /lockers ------------------------------------------------------------------------------------


def lockers_lines(report: LockersReport, language: str | None) -> tuple[list[str], InlineKeyboardMarkup | None]:
    """The list of held lockers (orphans flagged) and a release button per orphan, up to a limit."""
    lines: list[str] = []
    for held in report.held:
        locker, owner = held.locker, held.owner
        values = {
            "locker": locker.name,
            "size": locker.type.name,
            "tower": locker.tower_id,
            "status": locker.status.name,
        }
        if owner is None:
            lines.append(t("admin.locker_orphan", language, **values))
        else:
            owned = {"id": owner.id, "state": state_name(owner.state, language), "name": owner.location_name}
            lines.append(t("admin.locker_line", language, **values, **owned))
    orphans = report.orphans
    header = t("admin.lockers_header", language, count=len(report.held), orphans=len(orphans))
    rows = [
        [
            button(
                raw("admin.release_locker_button", language, locker=lk.name, tower=lk.tower_id[:8]),
                RELEASE_LOCKER,
                lk.tower_id,
                lk.id,
            )
        ]
        for lk in orphans[:MAX_RELEASE_BUTTONS]
    ]
    if len(orphans) > MAX_RELEASE_BUTTONS:
        lines.append(t("admin.more_orphans", language, shown=MAX_RELEASE_BUTTONS))
    return [header, "", *lines], keyboard(*rows)


def locker_in_use(owner: Delivery, locker_id: int | str, tower_id: str, language: str | None) -> str:
    return t("admin.locker_in_use", language, locker=owner.locker_name or locker_id, tower=tower_id, id=owner.id)


# /deliveries, /delivery ----------------------------------------------------------------------


def deliveries_usage(language: str | None) -> str:
    states = ", ".join(state_name(s, language) for s in DeliveryState)
    return t("admin.deliveries_usage", language, states=states)


def search_lines(search: DeliverySearch, language: str | None) -> list[str]:
    """What `/deliveries <who or where>` found, or one line saying there is nothing (with the usage when
    the words matched nobody)."""
    found, kind = search.found, search.kind
    names = ", ".join(who(p.id, {p.id: p}, language) for p in search.people) or search.given
    if not found.deliveries:
        if kind is SearchKind.LOCKER:
            return [t("admin.search_none_locker", language, given=search.given)]
        if kind is SearchKind.PERSON:
            return [t("admin.search_none_person", language, who=names)]
        usage = Safe(deliveries_usage(language))
        return [t("admin.search_none_name", language, given=search.given, usage=usage)]
    count = len(found.deliveries)
    if kind is SearchKind.LOCKER:
        header = t("admin.search_header_locker", language, given=search.given, count=count)
    elif kind is SearchKind.PERSON:
        header = t("admin.search_header_person", language, who=names, count=count)
    else:
        header = t("admin.search_header_name", language, given=search.given, who=names, count=count)
    return [header, "", *_delivery_entries(found, language), "", t("admin.deliveries_footer", language)]


def deliveries_lines(found: DeliveryList, state: DeliveryState | None, language: str | None) -> list[str]:
    """The list of recent deliveries, or one line saying there are none (of that state)."""
    recent = found.deliveries
    if not recent:
        key = "admin.deliveries_none_state" if state else "admin.deliveries_none"
        return [t(key, language, state=state_name(state, language) if state else "")]
    if state is None:
        header = t("admin.deliveries_header", language, count=len(recent))
    else:
        header = t("admin.deliveries_header_state", language, count=len(recent), state=state_name(state, language))
    return [header, "", *_delivery_entries(found, language), "", t("admin.deliveries_footer", language)]


def _delivery_entries(found: DeliveryList, language: str | None) -> list[str]:
    return [
        t(
            "admin.delivery_line",
            language,
            id=delivery.id,
            state=state_name(delivery.state, language),
            name=delivery.location_name,
            locker=delivery.locker_name or "—",
            size=delivery.size_name,
            created=fmt.local_datetime(delivery.created_at, delivery.timezone),
            sender=who(delivery.sender_id, found.people, language),
        )
        for delivery in found.deliveries
    ]


def delivery_lines(history: DeliveryHistory, language: str | None) -> list[str]:
    """One delivery's card, then its events, each stamped in the delivery's time zone."""
    delivery, people = history.delivery, history.people
    tz = delivery.timezone
    collector = raw("admin.nobody", language)
    if delivery.collector_id is not None:
        kind = delivery.collector_kind.value if delivery.collector_kind else "?"
        collector = raw("admin.collector", language, who=who(delivery.collector_id, people, language), kind=kind)
    card = t(
        "admin.delivery_card",
        language,
        id=delivery.id,
        state=state_name(delivery.state, language),
        name=delivery.location_name,
        address=delivery.address or "—",
        locker=delivery.locker_name or "—",
        size=delivery.size_name,
        tower=delivery.tower_id or "—",
        sender=who(delivery.sender_id, people, language),
        collector=collector,
        created=_stamp(delivery.created_at, tz),
        updated=_stamp(delivery.updated_at, tz),
        tz=fmt.zone(tz).key,
    )
    events = history.events
    lines = [card, "", t("admin.events_header", language, count=len(events))]
    if not events:
        lines.append(t("admin.events_none", language))
    for event in events:
        values = {"at": _stamp(event.at, tz), "actor": who(event.actor_id, people, language), "kind": event.kind}
        if event.detail:
            lines.append(t("admin.event_line_detail", language, **values, detail=event.detail))
        else:
            lines.append(t("admin.event_line", language, **values))
    return lines


# /release ------------------------------------------------------------------------------------


def release_question(delivery: Delivery, language: str | None) -> tuple[str, InlineKeyboardMarkup | None]:
    """Ask before releasing a locker with an item inside; the yes button names the state it was asked in,
    so a stale one (the delivery moved on) asks again instead of acting."""
    assert delivery.id is not None
    text = t(
        "admin.release_confirm",
        language,
        id=delivery.id,
        locker=delivery.locker_name or "—",
        name=delivery.location_name,
        state=state_name(delivery.state, language),
    )
    yes = button(raw("admin.release_confirm_yes", language, id=delivery.id), RELEASE_CONFIRMED, delivery.id,
                 delivery.state.value)  # fmt: skip
    no = button(raw("admin.release_confirm_no", language), RELEASE_KEPT, delivery.id)
    return text, keyboard([yes, no])


def released(delivery: Delivery, unreachable: Sequence[str], language: str | None) -> str:
    text = t(
        "admin.released",
        language,
        id=delivery.id,
        state=state_name(delivery.state, language),
        locker=delivery.locker_name or "—",
        name=delivery.location_name,
    )
    if unreachable:
        text += "\n" + t("admin.notify_failed", language, who=", ".join(unreachable))
    return text


# couriers ------------------------------------------------------------------------------------


def courier_changed(change: CourierChange, on: bool, language: str | None) -> str:
    """What the admin reads after /courier add|remove (before whether the person was told)."""
    name = change.user.display_name
    if not change.changed:
        return t("admin.courier_already" if on else "admin.courier_not", language, who=name)
    if on:
        return t("admin.courier_added", language, who=name)
    text = t("admin.courier_removed", language, who=name)
    if change.returned_jobs:  # set_courier gave them back to their senders
        ids = ", ".join(f"#{i}" for i in change.returned_jobs)
        text += "\n" + t("admin.courier_open_jobs", language, count=len(change.returned_jobs), ids=ids)
    return text


def courier_note(on: bool, language: str | None) -> str:
    """What the person hears: welcome as a courier, or goodbye."""
    return t("admin.courier_welcome" if on else "admin.courier_goodbye", language)


def courier_lines(couriers: Sequence[User], language: str | None) -> list[str]:
    lines = [t("admin.couriers_header", language, count=len(couriers)), ""]
    lines += [t("admin.courier_line", language, who=c.display_name, id=c.id) for c in couriers]
    return lines


# /stats --------------------------------------------------------------------------------------


def stats_text(stats: Stats, language: str | None) -> str:
    today, week = stats.today, stats.week
    rows = [
        t("admin.stats_state_line", language, state=state_name(s, language), today=today.get(s, 0), week=week.get(s, 0))
        for s in DeliveryState
        if week.get(s, 0) or today.get(s, 0)
    ]
    if rows:
        rows.append(t("admin.stats_total", language, today=sum(today.values()), week=sum(week.values())))
    else:
        rows.append(t("admin.stats_no_deliveries", language))
    if stats.median_seconds is not None:
        typical = fmt.duration(stats.median_seconds, language)
        median = t("admin.stats_median", language, median=typical, count=stats.pickups)
    else:
        median = t("admin.stats_no_pickups", language)
    lockers = str(stats.held) if stats.held is not None else t("admin.stats_unknown", language)
    return t("admin.stats", language, states=Safe("\n".join(rows)), median=Safe(median), held=Safe(lockers))
