"""harbor-bot: a Telegram front end for the Harbor Lockers smart-locker network."""

__version__ = "0.1.0"
