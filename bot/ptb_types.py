"""The concrete python-telegram-bot types this bot runs with: PTB's classes are generic over the bot,
the context and the user/chat/bot data; the bot uses the defaults everywhere."""

from __future__ import annotations

from typing import Any

from telegram.ext import Application, BaseHandler, CallbackContext, ExtBot, JobQueue

from bot.ratelimit import Priority

Context = CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], dict[Any, Any]]
BotApplication = Application[ExtBot[None], Context, dict[Any, Any], dict[Any, Any], dict[Any, Any], JobQueue[Context]]
RateLimitArgs = Priority
# Any of the handlers the bot registers (commands, buttons, messages), with its context.
AnyHandler = BaseHandler[Any, Context, Any]
