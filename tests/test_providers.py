"""The nameko providers every service shares: the clock follows FIXED_TODAY, in Shanghai."""

from __future__ import annotations

from datetime import date

import pytest
from nameko.testing.services import dummy, entrypoint_hook

from services.messaging.errors import ConfigError
from services.providers import Clock


class Dated:
    name = "dated"
    today = Clock()

    @dummy
    def what_day(self):
        return self.today()


def test_fixed_today_pins_the_services_day(container_factory):
    container = container_factory(Dated, {"FIXED_TODAY": "2024-11-01"})
    container.start()
    with entrypoint_hook(container, "what_day") as what_day:
        assert what_day() == date(2024, 11, 1)


def test_a_date_read_by_yaml_is_taken_as_it_is(container_factory):
    container = container_factory(Dated, {"FIXED_TODAY": date(2025, 1, 2)})
    container.start()
    with entrypoint_hook(container, "what_day") as what_day:
        assert what_day() == date(2025, 1, 2)


def test_a_bad_fixed_today_names_the_key(container_factory):
    container = container_factory(Dated, {"FIXED_TODAY": "1 Nov 2024"})
    with pytest.raises(ConfigError, match="FIXED_TODAY: expected a date as YYYY-MM-DD"):
        container.start()
