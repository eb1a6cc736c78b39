"""Composition root: builds the services once and wires them into a python-telegram-bot Application."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from telegram import BotCommand, BotCommandScopeChat, BotCommandScopeDefault
from telegram.error import BadRequest
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    BaseUpdateProcessor,
    PersistenceInput,
)
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
    # The console counts updates in flight to know when the bot has finished answering.
    update_processor: BaseUpdateProcessor | None = None


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
        .concurrent_updates(overrides.update_processor or True)
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

    # pickup before start: its /start <code> (a pickup link) must win over the plain /start.
    for module in (pickup, start, dropoff, admin):
        application.add_handlers(module.handlers())
    application.add_handlers(errors.handlers())
    # In a group of its own, so it runs alongside whatever handles the admin's message.
    application.add_handler(admin.menu_handler(), group=-1)
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
    await application.bot.set_my_commands(user, scope=BotCommandScopeDefault())
    for admin_id in sorted(settings.admin_ids):
        await set_admin_menu(application, admin_id)


async def set_admin_menu(application: Application, admin_id: int) -> bool:
    """The admin's menu in their private chat; False while there is no such chat (they never wrote to
    the bot): admin.give_admin_menu tries again when they do."""
    names = USER_COMMANDS + ADMIN_COMMANDS
    commands = [BotCommand(name, raw(f"cmd.{name}")) for name in names]
    try:
        await application.bot.set_my_commands(commands, scope=BotCommandScopeChat(admin_id))
    except BadRequest as exc:
        log.info("admin menu for %s not set yet (%s); it will be once they write to the bot", admin_id, exc)
        return False
    application.bot_data.setdefault(admin.MENU_SET, set()).add(admin_id)
    return True
