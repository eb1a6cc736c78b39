"""The objects handlers and jobs work with, built once by the composition root (bot/app.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.config import Settings
from bot.deliveries import DeliveryService
from bot.harbor.client import HarborClient
from storage.repository import Repository

if TYPE_CHECKING:
    from bot.handover import HandoverService
    from sandbox.harbor import HarborSimulator


@dataclass(slots=True)
class Services:
    settings: Settings
    harbor: HarborClient
    repo: Repository
    deliveries: DeliveryService
    handover: HandoverService
    simulator: HarborSimulator | None = None

    def is_admin(self, user_id: int | None) -> bool:
        return user_id is not None and user_id in self.settings.admin_ids
