"""/start, /help and the main menu."""

from __future__ import annotations

from telegram import Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler, filters

from bot.handlers.common import Context, answer, lang, remember, reply, services
from bot.ui import format as fmt
from bot.ui import views
from bot.ui.texts import t
from bot.ui.views import View, exact


async def start(update: Update, context: Context) -> None:
    who = await remember(update, context)
    await reply(update, context, views.welcome(who.first_name, lang(update)))


async def help_command(update: Update, context: Context) -> None:
    await remember(update, context)
    hold = fmt.duration(services(context).settings.reservation_seconds)
    await reply(update, context, View(t("help", lang(update), hold=hold), views.main_menu(lang(update))))


async def menu_help(update: Update, context: Context) -> None:
    await answer(update)
    await help_command(update, context)


def handlers() -> list[BaseHandler]:
    # /start with a payload is a deep link, handled by the pickup module before this one.
    return [
        CommandHandler("start", start, filters=filters.ChatType.PRIVATE),
        CommandHandler("help", help_command),
        CallbackQueryHandler(menu_help, pattern=exact("menu:help")),
    ]
