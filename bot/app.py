"""Composition root: builds the services once and wires them into a python-telegram-bot Application.

Nothing here keeps state another process needs (docs/design.md §8): conversations are rows (chat_states),
buttons are self-describing, timers are rows claimed under a lease, announcements an outbox.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta

from telegram.ext import ApplicationBuilder, BaseRateLimiter, BaseUpdateProcessor
from telegram.request import BaseRequest, HTTPXRequest

from bot import inbox as updates_inbox
from bot import jobs, wake
from bot.admin import AdminService
from bot.config import Settings
from bot.deliveries import Deadlines, DeliveryService, LocationSearch, LockerWatch, Policy
from bot.deliveries.directory import LocationDirectory
from bot.deliveries.fit import FitService
from bot.deliveries.geocode import Geocoder
from bot.deliveries.links import LinkKeys
from bot.handlers import admin, dropoff, errors, fit, language, pickup, start, throttle
from bot.handlers.outage import try_again_soon
from bot.handover import HandoverService
from bot.harbor.factory import HarborConnection, connect_harbor
from bot.menus import set_commands
from bot.metrics import Metrics
from bot.notify import Notifier
from bot.ptb_types import BotApplication
from bot.ratelimit import FairRateLimiter, Priority
from bot.services import Services
from bot.throttle import UserBudget
from bot.ui.qr import shutdown_renderer
from bot.web_metrics import MeteredApplication, MeteredRequest
from storage.engine import make_database
from storage.languages import LanguageStore
from storage.locks import Locks
from storage.migrate import upgrade_apart
from storage.privacy import PrivacyStore
from storage.repository import Repository

log = logging.getLogger(__name__)


@dataclass
class Overrides:
    """What tests and the console swap in: the Telegram transport and a prepared Harbor connection."""

    request: BaseRequest | None = None
    get_updates_request: BaseRequest | None = None
    harbor: HarborConnection | None = None
    rate_limiter: bool = True
    # The console counts updates in flight to know when the bot has finished answering.
    update_processor: BaseUpdateProcessor | None = None
    # Off for `web`: Telegram pushes updates there, nothing polls.
    polling: bool = True


def migrate(settings: Settings) -> None:
    """Bring the database up to date (serialised across processes by an advisory lock on PostgreSQL), in
    a child process and only when it is behind (storage/migrate.py)."""
    upgrade_apart(settings.database_url)


def geocoder(settings: Settings, repo: Repository) -> Geocoder | None:
    """Issue 17's optional address lookup, when GEOCODER_URL is set."""
    if not settings.geocoder_url or not settings.geocoder_user_agent:
        return None
    interval = timedelta(seconds=settings.geocoder_interval_seconds)
    return Geocoder(repo, settings.geocoder_url, settings.geocoder_user_agent, interval=interval)


def rate_limiter(settings: Settings) -> BaseRateLimiter[Priority]:
    # Telegram's limits are per bot: each of the N processes takes its share of the total. A private
    # chat takes short bursts (a step's answer is often two or three messages) within ~1 message/s.
    return FairRateLimiter.from_settings(settings)


def build_application(settings: Settings, overrides: Overrides | None = None) -> BotApplication:
    overrides = overrides or Overrides()
    token = settings.require_telegram_token().get_secret_value()
    migrate(settings)  # an empty or older database is brought up to date on every start
    database = make_database(settings.database_url)
    repo = Repository(database.session)

    harbor = overrides.harbor or connect_harbor(settings)
    metrics = Metrics()
    harbor.client.add_event_hooks(metrics.harbor_hooks(harbor.client.token_url))
    policy = Policy.from_settings(settings)
    search = LocationSearch(harbor.client, policy)
    locks = Locks(database)
    deliveries = DeliveryService(harbor.client, repo, policy, search=search, locks=locks)
    links = LinkKeys(deliveries)
    deliveries.links = links  # KEY_MODE=link; the link code builds on the service, so it is wired here
    scheduler_owner = jobs.process_name()
    # Every update, polled or pushed, is recorded and claimed before it is processed (bot/inbox.py).
    budget = UserBudget.from_settings(settings)
    inbox = updates_inbox.Inbox(
        repo,
        scheduler_owner,
        settings,
        try_again_soon,
        admit=lambda update: throttle.admit(update, budget, metrics),
        alone=not locks.shared,  # SQLite: one process
    )

    builder = (
        ApplicationBuilder()
        .token(token)
        .base_url(f"{settings.telegram_api_url}/bot")
        .base_file_url(f"{settings.telegram_api_url}/file/bot")
        .update_queue(inbox.queue)
        .concurrent_updates(updates_inbox.InboxProcessor(inbox, overrides.update_processor))
        .post_init(_on_start)
        .post_stop(_stop_waking)  # run_polling: before the bot's transport closes (the others call _on_stop first)
        .post_shutdown(_on_stop)
        .application_class(MeteredApplication, kwargs={"metrics": metrics})
        # PTB's own default transport (a pool of 256), counted call by call.
        .request(MeteredRequest(overrides.request or HTTPXRequest(connection_pool_size=256), metrics))
    )
    if not overrides.polling:
        builder = builder.updater(None)
    if overrides.rate_limiter:
        # PTB types the builder's bot by the limiter's argument type (ExtBot[Priority]) while its default
        # context stays ExtBot[None]; the bot passes Priority only through telegram.Bot's untyped parameter.
        builder = builder.rate_limiter(rate_limiter(settings))  # type: ignore[arg-type]
    if overrides.polling:
        # getUpdates confirms the batch before: it waits until the batch is recorded (bot/inbox.py).
        builder = builder.get_updates_request(updates_inbox.GatedRequest(inbox, overrides.get_updates_request))
    application = builder.build()
    inbox.bot = application.bot

    handover = HandoverService(deliveries)
    services = Services(
        settings=settings,
        harbor=harbor.client,
        repo=repo,
        search=search,
        deliveries=deliveries,
        watch=LockerWatch(deliveries),
        deadlines=Deadlines(deliveries),
        handover=handover,
        admin=AdminService(handover),
        fit=FitService(deliveries, links),
        notifier=Notifier(application, repo, reminder_hours=settings.reminder_hours, metrics=metrics),
        budget=budget,
        privacy=PrivacyStore(repo.session_factory),
        languages=LanguageStore(repo.session_factory),
        directory=LocationDirectory(
            harbor.client,
            repo,
            search,
            refresh_every=settings.locations_refresh,
            shown=policy.max_results,
            spread_km=policy.max_radius_km,
            geocoder=geocoder(settings, repo),
        ),
        simulator=harbor.simulator,
        metrics=metrics,
    )
    application.bot_data["services"] = services
    scheduler = jobs.Scheduler(services, owner=scheduler_owner)
    application.bot_data["scheduler"] = scheduler
    # One loop runs what is due and sleeps until the next due time; a write that may bring one closer
    # wakes it: this process's own commits, and on PostgreSQL every other process's (bot/wake.py).
    longest = min(settings.wake_max_seconds, settings.inbox_lease_seconds)
    waker = wake.WakeLoop(scheduler, inbox, longest=longest)
    wake.watch_writes(database.engine, waker.wake)
    application.bot_data["wake"] = waker
    if wake.Listener.wanted(settings.database_url):
        application.bot_data["wake_listener"] = wake.Listener(settings.database_url, waker.wake, check_every=longest)
    application.bot_data["inbox"] = inbox
    application.bot_data["database"] = database
    application.bot_data["metrics"] = metrics
    application.bot_data["harbor_connection"] = harbor

    # pickup before start: its /start <code> (a pickup link) must win over the plain /start.
    for module in (pickup, start, language, dropoff, fit, admin):
        application.add_handlers(module.handlers())
    # Text and other messages in a private chat mean something only within the drop-off steps.
    application.add_handler(dropoff.step_handler())
    application.add_handlers(errors.handlers())
    # An update over its sender's budget went no further than the inbox (bot/handlers/throttle.py).
    # Then the person's stored language, which every answer to the update is written in.
    application.add_handler(language.loader(), group=language.GROUP)
    # In a group of its own, so it runs alongside whatever handles the admin's message.
    application.add_handler(admin.menu_handler(), group=-1)
    application.add_error_handler(errors.on_error)
    return application


async def _on_start(application: BotApplication) -> None:
    services: Services = application.bot_data["services"]
    scheduler: jobs.Scheduler = application.bot_data["scheduler"]
    await set_commands(application.bot, services.settings, services.repo)
    await scheduler.ensure()
    application.bot_data["wake"].start()
    if "wake_listener" in application.bot_data:
        application.bot_data["wake_listener"].start()
    log.info("started as @%s (%s)", application.bot.username, scheduler.owner)


async def _stop_waking(application: BotApplication) -> None:
    """Nothing due is run once the application stops (the bot may no longer send); twice is harmless."""
    if "wake_listener" in application.bot_data:
        await application.bot_data["wake_listener"].stop()
    await application.bot_data["wake"].stop()


async def _on_stop(application: BotApplication) -> None:
    await _stop_waking(application)
    geocoding = application.bot_data["services"].directory.geocoder
    if geocoding is not None:
        await geocoding.aclose()
    await application.bot_data["harbor_connection"].aclose()
    await asyncio.to_thread(application.bot_data["database"].dispose)
    shutdown_renderer()
