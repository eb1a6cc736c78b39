"""Which language a person reads: loaded for every update (group -2), and chosen with /language."""

from __future__ import annotations

from telegram import Update
from telegram.ext import CallbackQueryHandler, CommandHandler, TypeHandler

from bot.handlers.common import (
    answer,
    edit_or_send,
    lang,
    private_only,
    remember,
    reply,
    services,
    use_chosen_language,
)
from bot.inbox import Inbox
from bot.menus import set_chat_menu
from bot.ptb_types import AnyHandler, Context
from bot.ui import locales
from bot.ui.texts import raw
from bot.ui.views import View, action_is, button, callback_args, keyboard

GROUP = -2  # before everything that answers (an update over its budget never got here: bot/inbox.py)
CHOOSE = "lang"


async def load_language(update: Update, context: Context) -> None:
    """The person's stored choice, for lang(update) in every handler of this update: as the inbox read it
    when it claimed the update (bot/inbox.py), else read now. Set even when there is none, so nothing of
    another update could ever show through."""
    user = update.effective_user
    if user is None:
        use_chosen_language(None)
        return
    inbox: Inbox = context.application.bot_data["inbox"]
    known, chosen = inbox.chosen_language(update)
    use_chosen_language(chosen if known else await services(context).languages.chosen(user.id))


async def language_command(update: Update, context: Context) -> None:
    """/language shows the choice; `/language es` makes it at once."""
    wanted = locales.supported(context.args[0]) if context.args else None
    if wanted is not None:
        await _choose(update, context, wanted)
        return
    # Each language under its own name: whoever reads the wrong one can still find theirs.
    rows = [[button(locales.NATIVE_NAMES[code], CHOOSE, code)] for code in locales.SUPPORTED]
    await reply(update, context, View(raw("language.choose", lang(update)), keyboard(*rows)))


async def language_chosen(update: Update, context: Context) -> None:
    await answer(update)
    args = callback_args(update.callback_query.data if update.callback_query else None)
    wanted = locales.supported(str(args[0])) if args else None
    if wanted is not None:
        await _choose(update, context, wanted)


async def _choose(update: Update, context: Context, language: str) -> None:
    assert update.effective_user is not None
    svc = services(context)
    await remember(update, context)  # the row the choice is stored on
    await svc.languages.choose(update.effective_user.id, language)
    use_chosen_language(language)  # the rest of this update already answers in it
    await edit_or_send(update, context, View(raw("language.set", language)))
    # The menu follows the choice in this chat, whatever the Telegram client's language.
    await set_chat_menu(context.bot, update.effective_user.id, language, admin=svc.is_admin(update.effective_user.id))


def loader() -> AnyHandler:
    return TypeHandler(Update, load_language)


def handlers() -> list[AnyHandler]:
    return [
        CommandHandler("language", private_only(language_command)),
        CallbackQueryHandler(private_only(language_chosen), pattern=action_is(CHOOSE, str)),
    ]
