"""/start, /help and the main menu."""

from __future__ import annotations

from telegram import Update
from telegram.ext import CallbackQueryHandler, CommandHandler, filters

from bot.handlers.common import answer, edit_or_send, lang, private_only, remember, reply, services
from bot.ptb_types import AnyHandler, Context
from bot.ui import format as fmt
from bot.ui import views
from bot.ui.texts import raw, t
from bot.ui.views import View, button, exact, keyboard


async def start(update: Update, context: Context) -> None:
    who = await remember(update, context)
    await reply(update, context, views.welcome(who.first_name, lang(update)))


async def help_command(update: Update, context: Context) -> None:
    await remember(update, context)
    hold = fmt.duration(services(context).settings.reservation_seconds, lang(update))
    await reply(update, context, View(t("help", lang(update), hold=hold), views.main_menu(lang(update))))


async def menu_help(update: Update, context: Context) -> None:
    await answer(update)
    await help_command(update, context)


async def forget_command(update: Update, context: Context) -> None:
    """/forget asks first (it cannot be undone). Nothing is remembered here: no user row is written."""
    language = lang(update)
    confirm = keyboard(
        [button(raw("forget.button", language), "forget")],
        [button(raw("forget.no_button", language), "forgetno")],  # issue 17: a way out, too
    )
    await reply(update, context, View(t("forget.confirm", language), confirm))


async def forget_confirmed(update: Update, context: Context) -> None:
    await answer(update)
    assert update.effective_user is not None
    language = lang(update)
    done = await services(context).privacy.forget_user(update.effective_user.id)
    lines = [t("forget.done", language)]
    if done.kept_open:
        lines.append(t("forget.kept", language, ids=", ".join(f"#{i}" for i in done.kept_open)))
    lines.append(t("forget.again", language))
    await edit_or_send(update, context, View("\n".join(lines)))


async def forget_declined(update: Update, context: Context) -> None:
    await answer(update)
    await edit_or_send(update, context, View(t("forget.kept_all", lang(update))))


def handlers() -> list[AnyHandler]:
    # /start with a payload is a deep link, handled by the pickup module before this one.
    return [
        CommandHandler("start", start, filters=filters.ChatType.PRIVATE),
        CommandHandler("help", help_command),
        CallbackQueryHandler(menu_help, pattern=exact("menu:help")),
        CommandHandler("forget", private_only(forget_command)),
        CallbackQueryHandler(private_only(forget_confirmed), pattern=exact("forget")),
        CallbackQueryHandler(private_only(forget_declined), pattern=exact("forgetno")),
    ]
