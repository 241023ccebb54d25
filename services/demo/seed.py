"""What `mutual-aid serve` does on the first start of a new var/: demo data made from the
seeds, the demo users' tokens, and the banner saying where to look.

- Demo data: two units per installed city (registered through enrollment's RPC like any
  caller), each with a roster of fictional people; where the city's enrolment window is open
  on the demo day, the roster is imported, submitted and approved (so invoices, members and
  SMS exist), elsewhere the units wait with their applications open or not at all.
- The demo day (DEMO_TODAY) is kept in var/demo.json: a restart keeps the demo's clock.
- Tokens (local issuer, 24 hours): a clerk per unit, a reviewer and a finance officer per
  city, a provincial operator, a help desk; written to var/demo-tokens.txt (mode 0600) at
  every start, since they expire.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from services.demo.people import person, roster_xlsx

MARKER = "demo.json"
TOKENS = "demo-tokens.txt"
FIRST_PERSON = 500_000  # the serve demo's people: apart from `mutual-aid demo`'s
UNITS_PER_CITY, PEOPLE_PER_UNIT = 2, 6
SEEDER = "演示数据 (demo-seed)"
REVIEWER = "演示审核 (demo-seed-reviewer)"


def is_demo(var: Path) -> bool:
    return (var / MARKER).is_file()


def is_new(var: Path) -> bool:
    """A var/ no service has written to yet."""
    return not var.is_dir() or not any(var.glob("*.sqlite"))


def demo_today(var: Path) -> str | None:
    if not is_demo(var):
        return None
    return json.loads((var / MARKER).read_text(encoding="utf-8"))["today"]


def _year_for(policy, today: date) -> tuple[int, bool]:
    """The scheme year whose enrolment window is open on the demo day, else the latest."""
    years = sorted(policy.years())
    for year in years:
        if policy.period(year).window_open(today):
            return year, True
    return years[-1], False


def load(rpc, var: Path, today: date, say: Callable[[str], None]) -> dict[str, Any]:
    """Register and enrol the demo units; their summary, also written to var/demo.json."""
    from services.kernel.registry import load_registry

    units, n = [], FIRST_PERSON
    for installed in sorted(load_registry(), key=lambda c: c.policy.code):
        policy = installed.policy
        year, open_ = _year_for(policy, today)
        districts = policy.districts(year)
        for i in range(UNITS_PER_CITY):
            people = [person(n + k) for k in range(PEOPLE_PER_UNIT)]
            n += PEOPLE_PER_UNIT
            name = f"{policy.name}演示单位{i + 1}工会"
            district = districts[i % len(districts)].code if districts else None
            unit = rpc.enrollment.register_unit(
                policy.code,
                year,
                {"unit_key": f"demo-{policy.code}-{i + 1}", "name": name, "district": district,
                 "contact": "演示经办人", "contact_phone": f"137{n:08d}",
                 "staff_total": len(people), "staff_insured": len(people)},
            )  # fmt: skip
            entry = {"city": policy.code, "year": year, "unit_id": unit["unit_id"],
                     "name": name, "district": district, "status": "registered"}  # fmt: skip
            if open_:
                entry.update(_enrol(rpc, policy, year, unit["unit_id"], people, name))
            units.append(entry)
        state = "参保开放 / enrolment open" if open_ else "参保期已过 / window closed"
        say(f"  {policy.name} {year}: {UNITS_PER_CITY} 个单位 / units ({state})")
    summary = {"today": today.isoformat(), "units": units}
    (var / MARKER).write_text(json.dumps(summary, ensure_ascii=False, indent=2), encoding="utf-8")
    return summary


def _enrol(rpc, policy, year: int, unit_id: str, people, name: str) -> dict:
    app = rpc.enrollment.open_application(
        policy.code, {"unit_id": unit_id, "year": year, "participants": len(people)}, SEEDER
    )
    content = roster_xlsx(policy.roster_format(year), people, name)
    data = base64.b64encode(content).decode()
    answer = rpc.enrollment.import_roster(app["application_id"], "名册.xlsx", data, SEEDER)
    if answer["errors"]:
        return {"application_id": app["application_id"], "status": "roster_errors"}
    rpc.enrollment.submit(app["application_id"], SEEDER)
    rpc.enrollment.approve(app["application_id"], REVIEWER)
    return {"application_id": app["application_id"], "status": "approved",
            "members": len(people)}  # fmt: skip


def issue_tokens(var: Path, auth_dir: Path, summary: dict) -> Path:
    """Every demo user's token, one line each: role, name, scope, token."""
    from services.access.tokens import LocalIssuer

    issuer = LocalIssuer(auth_dir)
    rows: list[tuple[str, str, dict]] = []
    for unit in summary["units"]:
        scope = {"city": unit["city"], "unit": unit["unit_id"]}
        rows.append(("unit_clerk", f"{unit['name']}经办人", scope))
    for city in sorted({u["city"] for u in summary["units"]}):
        rows.append(("city_reviewer", f"{city}审核员", {"city": city}))
        rows.append(("finance", f"{city}财务", {"city": city}))
    rows.append(("provincial_operator", "省运维", {}))
    rows.append(("help_desk", "热线客服", {}))
    lines = ["# role\tname\tscope\ttoken   (local issuer, valid 24 h; a restart writes new ones)"]
    for role, name, scope in rows:
        sub = "demo:" + role + ":" + ":".join(scope.values())
        token = issuer.issue(name=name, role=role, sub=sub, hours=24, **scope)
        where = ",".join(f"{k}={v}" for k, v in scope.items()) or "all"
        lines.append(f"{role}\t{name}\t{where}\t{token}")
    path = var / TOKENS
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    path.chmod(0o600)
    return path


def banner(base_url: str, tokens: Path, summary: dict) -> str:
    enrolled = sum(u.get("members", 0) for u in summary["units"])
    first = next((u for u in summary["units"] if u["status"] == "approved"), None)
    first = first or {"city": "zhangjiakou", "year": summary["today"][:4]}
    return "\n".join(
        [
            f"mutual-aid: demo suite on {base_url} — demo clock {summary['today']}"
            " (kept in var/demo.json; --today overrides)",
            f"  demo data: {len(summary['units'])} units, {enrolled} members enrolled",
            f"  OpenAPI:   {base_url}/openapi.json   health: {base_url}/readyz",
            f"  tokens:    {tokens} (a clerk per unit, a reviewer and finance per city,"
            " an operator, the help desk; one per line: role, name, scope, token)",
            "  try:       T=$(awk -F'\\t' '$1==\"city_reviewer\" && "
            f'$3=="city={first["city"]}" {{print $4}}\' {tokens}); '
            f'curl -H "Authorization: Bearer $T" '
            f"'{base_url}/enrollment/applications?city={first['city']}&year={first['year']}'",
            "  a whole scheme year, step by step: mutual-aid demo",
        ]
    )


def on_ready(config: dict, var: Path, new: bool, today: date) -> Callable[[Any], None]:
    """serve's ready hook for a demo var/: (first start) load the demo data, then write the
    demo users' tokens and the banner on stderr. Runs in its own green thread: the server
    answers meanwhile, and a stop during the loading ends it."""

    def ready(runner) -> None:
        import eventlet

        loading = eventlet.spawn(_first_start if new else _restart, config, var, today)
        stop = runner.stop

        def stop_loading_first() -> None:  # SIGTERM while loading: stop within the usual second
            loading.kill()
            stop()

        runner.stop = stop_loading_first

    return ready


def _say(line: str) -> None:
    import sys

    print(line, file=sys.stderr, flush=True)


def _first_start(config: dict, var: Path, today: date) -> None:
    from nameko.standalone.rpc import ClusterRpcProxy

    _say("mutual-aid: first start: loading demo data (fictional people) …")
    marker = {"today": today.isoformat(), "units": []}  # the demo clock, even if stopped early
    (var / MARKER).write_text(json.dumps(marker), encoding="utf-8")
    with ClusterRpcProxy(config) as rpc:
        summary = load(rpc, var, today, _say)
    _restart(config, var, today, summary)


def _restart(config: dict, var: Path, today: date, summary: dict | None = None) -> None:
    from services.messaging.http_listener import Listener

    summary = summary or json.loads((var / MARKER).read_text(encoding="utf-8"))
    tokens = issue_tokens(var, Path(config["AUTH_KEY_DIR"]), summary)
    address = (Listener.bound() or ["127.0.0.1:8000"])[0]
    _say(banner(f"http://{address}", tokens, summary))
