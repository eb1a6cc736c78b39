"""Composition root: builds the services once and wires them into a python-telegram-bot Application."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from telegram import BotCommand, BotCommandScopeChat, BotCommandScopeDefault
from telegram.error import BadRequest
from telegram.ext import AIORateLimiter, Application, ApplicationBuilder, Defaults, PersistenceInput
from telegram.request import BaseRequest

from bot import jobs
from bot.config import Settings
from bot.deliveries import DeliveryService, Policy
from bot.handlers import admin, dropoff, errors, pickup, start
from bot.handover import HandoverService
from bot.harbor.factory import HarborConnection, connect_harbor
from bot.services import Services
from bot.ui.texts import raw
from storage.engine import make_engine, make_session_factory
from storage.migrate import upgrade
from storage.persistence import SQLPersistence
from storage.repository import Repository

log = logging.getLogger(__name__)

USER_COMMANDS = ("start", "dropoff", "my", "jobs", "cancel", "help")
ADMIN_COMMANDS = ("lockers", "deliveries", "delivery", "release", "courier", "couriers", "stats")


@dataclass
class Overrides:
    """What tests and the console swap in: the Telegram transport and a prepared Harbor connection."""

    request: BaseRequest | None = None
    get_updates_request: BaseRequest | None = None
    harbor: HarborConnection | None = None
    rate_limiter: bool = True
    extra: dict[str, object] = field(default_factory=dict)


def build_application(settings: Settings, overrides: Overrides | None = None) -> Application:
    overrides = overrides or Overrides()
    token = settings.require_telegram_token().get_secret_value()
    engine = make_engine(settings.database_url)
    upgrade(engine)  # an empty or older database is brought up to date on every start
    session_factory = make_session_factory(engine)

    harbor = overrides.harbor or connect_harbor(settings)
    repo = Repository(session_factory)
    deliveries = DeliveryService(harbor.client, repo, Policy.from_settings(settings))
    services = Services(
        settings=settings,
        harbor=harbor.client,
        repo=repo,
        deliveries=deliveries,
        handover=HandoverService(deliveries),
        simulator=harbor.simulator,
    )

    builder = (
        ApplicationBuilder()
        .token(token)
        .base_url(f"{settings.telegram_api_url}/bot")
        .base_file_url(f"{settings.telegram_api_url}/file/bot")
        .persistence(
            SQLPersistence(
                session_factory,
                # Services live in bot_data; they are objects, not data.
                store_data=PersistenceInput(bot_data=False),
                update_interval=5,
            )
        )
        .arbitrary_callback_data(4096)
        .concurrent_updates(True)
        .defaults(Defaults(disable_notification=False))
        .post_init(_on_start)
        .post_shutdown(_on_stop)
    )
    if overrides.rate_limiter:
        builder = builder.rate_limiter(AIORateLimiter(max_retries=3))
    if overrides.request is not None:
        builder = builder.request(overrides.request)
    if overrides.get_updates_request is not None:
        builder = builder.get_updates_request(overrides.get_updates_request)
    application = builder.build()
    application.bot_data["services"] = services
    application.bot_data["engine"] = engine
    application.bot_data["harbor_connection"] = harbor

    for module in (start, pickup, dropoff, admin):
        application.add_handlers(module.handlers())
    application.add_handlers(errors.handlers())
    application.add_error_handler(errors.on_error)
    return application


async def _on_start(application: Application) -> None:
    services: Services = application.bot_data["services"]
    await set_commands(application, services.settings)
    timers = jobs.rebuild(application)
    log.info("started as @%s; %d timers restored from the database", application.bot.username, timers)


async def _on_stop(application: Application) -> None:
    await application.bot_data["harbor_connection"].aclose()
    application.bot_data["engine"].dispose()


async def set_commands(application: Application, settings: Settings) -> None:
    """Everyone sees the user commands; admins see theirs too, in their own chats only (scoped)."""
    user = [BotCommand(name, raw(f"cmd.{name}")) for name in USER_COMMANDS]
    admin_cmds = user + [BotCommand(name, raw(f"cmd.{name}")) for name in ADMIN_COMMANDS]
    await application.bot.set_my_commands(user, scope=BotCommandScopeDefault())
    for admin_id in sorted(settings.admin_ids):
        try:
            await application.bot.set_my_commands(admin_cmds, scope=BotCommandScopeChat(admin_id))
        except BadRequest as exc:  # the admin has not started the bot yet: no chat to scope to
            log.warning("admin commands not set for %s: %s", admin_id, exc)
