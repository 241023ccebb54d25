"""The provincial operator's page of the console: the installed cities with their versions and
years, and what `mutual-aid city check` says of each (services/onboarding/conformance.py, the
same check: ok, or every finding), beside the plugins that failed to load. A mixin of
ConsoleService (service.py), which holds the dependencies and the frame (`_page`)."""

from __future__ import annotations

from services.access.identity import PROVINCIAL_OPERATOR
from services.messaging.offload import off_hub
from services.messaging.web import http


class OperatorPages:
    @http("GET", "/console/cities", auth=False)
    def cities(self, request):
        return self._page(request, self._cities, roles={PROVINCIAL_OPERATOR})

    def _cities(self, me):
        installed = list(self.policies)
        # the check runs every seed case and renders each roster template (about half a
        # second a city): a worker thread, so the console answers others meanwhile
        checked = off_hub(lambda _: [_check(c.policy) for c in installed])
        rows = [
            {
                "code": c.code,
                "name": c.policy.name,
                "version": c.version,
                "years": c.policy.years(),
                "problem": None,
                "findings": findings,
            }
            for c, findings in zip(installed, checked, strict=True)
        ]
        rows += [
            {
                "code": b.entry_point,
                "name": "",
                "version": b.version,
                "years": [],
                "problem": b.reason,
                "findings": [],
            }
            for b in self.policies.broken
        ]
        return self._render("cities.html", cities=rows)


def _check(policy) -> list[str]:
    """`city check`'s findings as its lines; a check that itself fails is one finding, so one
    city's broken data does not take the others' status off the page."""
    from services.onboarding.conformance import check_city

    try:
        return [finding.line() for finding in check_city(policy)]
    except Exception as exc:  # reported by name, as the registry reports a broken plugin
        return [f"{policy.code}: 检查未能完成（{type(exc).__name__}: {exc}）"]
