"""nameko dependency providers every service uses: the installed city policies and the clock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from nameko.extensions import DependencyProvider

from services.kernel.clock import Clock as KernelClock
from services.kernel.clock import parse_day
from services.kernel.registry import Registry, load_registry
from services.messaging.errors import ConfigError

TODAY_KEY = "FIXED_TODAY"


class CityPolicies(DependencyProvider):
    """The installed city plugins, loaded once per service process."""

    def setup(self) -> None:
        self.registry = load_registry()

    def get_dependency(self, worker_ctx) -> Registry:
        return self.registry


class Clock(DependencyProvider):
    """Today's date in Asia/Shanghai (services/kernel/clock.py), as a callable.

    A deployment may pin it with the config key FIXED_TODAY (YYYY-MM-DD) for a rehearsal or a
    test (`mutual-aid --today … serve` sets it); production leaves it unset.
    """

    def setup(self) -> None:
        pinned = self.container.config.get(TODAY_KEY)
        try:
            self.clock = KernelClock(parse_day(pinned) if pinned else None)
        except ValueError as exc:
            raise ConfigError(f"{TODAY_KEY}: {exc}") from None

    def get_dependency(self, worker_ctx) -> Callable[[], date]:
        return self.clock.today
