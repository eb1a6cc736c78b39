"""The objects handlers and jobs work with, built once by the composition root (bot/app.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bot.config import Settings
from bot.deliveries import Deadlines, DeliveryService, LocationSearch, LockerWatch
from bot.deliveries.fit import FitService
from bot.harbor.client import HarborClient
from bot.metrics import Metrics
from bot.throttle import UserBudget
from storage.languages import LanguageStore
from storage.privacy import PrivacyStore
from storage.repository import Repository

if TYPE_CHECKING:
    from bot.admin import AdminService
    from bot.handover import HandoverService
    from bot.notify import Notifier
    from sandbox.harbor import HarborSimulator


@dataclass(slots=True)
class Services:
    settings: Settings
    harbor: HarborClient
    repo: Repository
    search: LocationSearch
    deliveries: DeliveryService
    watch: LockerWatch
    deadlines: Deadlines
    handover: HandoverService
    admin: AdminService
    fit: FitService
    notifier: Notifier
    budget: UserBudget
    privacy: PrivacyStore
    languages: LanguageStore
    simulator: HarborSimulator | None = None
    metrics: Metrics = field(default_factory=Metrics)

    def is_admin(self, user_id: int | None) -> bool:
        return user_id is not None and user_id in self.settings.admin_ids
