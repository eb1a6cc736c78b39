"""`python -m bot console`: chat with the real bot in this terminal, no Telegram and no Harbor account.

The Telegram emulator, the Harbor simulator and the bot's PTB Application run in this process, on one
asyncio loop. The console plays the person at the keyboard (a UserDriver): what you type is sent as your
message, numbers tap the numbered buttons, and the bot's messages are printed as a person sees them.
Key photos are read back with zxing-cpp and drawn as text, so a whole drop-off (and a handover, with
``/as``) can be walked here. The core, :class:`Console` / :func:`run_console`, takes any line source
and output sink, which is how the tests drive it.

The console's own words are for the developer at the terminal, not for the bot's users, so they live here
rather than in the bot's catalogue (bot/ui/texts.py).
"""

from bot.console.session import Console
from bot.console.setup import TOKEN, console_settings, in_process_bot
from bot.console.terminal import main, run_console

__all__ = ["TOKEN", "Console", "console_settings", "in_process_bot", "main", "run_console"]
