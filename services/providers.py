"""nameko dependency providers every service uses: the installed city policies and the clock."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from nameko.extensions import DependencyProvider

from services.kernel.registry import Registry, load_registry

SHANGHAI = ZoneInfo("Asia/Shanghai")


class CityPolicies(DependencyProvider):
    """The installed city plugins, loaded once per service process."""

    def setup(self) -> None:
        self.registry = load_registry()

    def get_dependency(self, worker_ctx) -> Registry:
        return self.registry


class Clock(DependencyProvider):
    """Today's date in Asia/Shanghai, where enrolment windows are counted.

    A deployment may pin it with the config key FIXED_TODAY (ISO date) for a rehearsal or a
    test; production leaves it unset.
    """

    def setup(self) -> None:
        fixed = self.container.config.get("FIXED_TODAY")
        self.fixed = date.fromisoformat(str(fixed)) if fixed else None

    def get_dependency(self, worker_ctx):
        return lambda: self.fixed or datetime.now(SHANGHAI).date()
