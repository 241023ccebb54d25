"""`mutual-aid serve` on a new var/: demo data from the seeds, the demo clock, the demo users'
tokens and a banner saying where to look; a restart keeps the clock and writes new tokens."""

from __future__ import annotations

import json
import re
import time

import requests

from services.demo.year import DEMO_TODAY
from services.kernel.idcard import parse_id
from tests.test_serve import Serving

BANNER_END = "a whole scheme year, step by step: mutual-aid demo"


def wait_banner(serving: Serving, timeout: float = 90) -> str:
    deadline = time.monotonic() + timeout
    while BANNER_END not in (err := serving.stderr()):
        assert serving.process.poll() is None, f"serve exited early:\n{err}"
        assert time.monotonic() < deadline, f"no banner:\n{err}"
        time.sleep(0.1)
    return err


def tokens(var) -> dict[tuple[str, str], str]:
    lines = (var / "demo-tokens.txt").read_text(encoding="utf-8").splitlines()[1:]
    return {(role, scope): token for role, _, scope, token in (x.split("\t") for x in lines)}


def test_first_start_loads_demo_data_and_says_where_to_look(tmp_path):
    var = tmp_path / "var"
    serving = Serving(tmp_path, "serve", "--var", str(var), "--http", "127.0.0.1:0")
    try:
        base = serving.wait_ready()
        err = wait_banner(serving)
        assert f"mutual-aid: demo suite on {base} — demo clock {DEMO_TODAY}" in err
        assert f"OpenAPI:   {base}/openapi.json" in err
        assert f"tokens:    {var / 'demo-tokens.txt'}" in err
        assert oct((var / "demo-tokens.txt").stat().st_mode & 0o777) == "0o600"
        demo = json.loads((var / "demo.json").read_text(encoding="utf-8"))
        assert demo["today"] == DEMO_TODAY
        assert {u["city"] for u in demo["units"]} == {"keqiao", "quzhou", "wujin", "zhangjiakou"}
        approved = [u for u in demo["units"] if u["status"] == "approved"]
        assert {u["city"] for u in approved} == {"quzhou", "zhangjiakou"}  # windows open then

        issued = tokens(var)
        roles = sorted({role for role, _ in issued})
        assert roles == [
            "city_reviewer", "finance", "help_desk", "provincial_operator", "unit_clerk"
        ]  # fmt: skip
        assert sum(role == "unit_clerk" for role, _ in issued) == len(demo["units"])
        reviewer = issued[("city_reviewer", "city=zhangjiakou")]
        listed = requests.get(
            f"{base}/enrollment/applications",
            params={"city": "zhangjiakou", "year": 2024},
            headers={"Authorization": f"Bearer {reviewer}"},
            timeout=10,
        )
        assert listed.status_code == 200, listed.text
        assert [a["status"] for a in listed.json()] == ["approved", "approved"]
        # the roster is of fictional people: valid IDs, listed masked
        app_id = next(u for u in approved if u["city"] == "zhangjiakou")["application_id"]
        roster = requests.get(
            f"{base}/enrollment/applications/{app_id}/roster",
            headers={"Authorization": f"Bearer {reviewer}"},
            timeout=10,
        ).json()
        assert len(roster) == 6 and all("*" in m["id_number"] for m in roster)
        assert requests.get(f"{base}/openapi.json", timeout=10).status_code == 200
        assert serving.stop() < 5
    finally:
        serving.close()

    again = Serving(tmp_path, "serve", "--var", str(var), "--http", "127.0.0.1:0")
    try:
        again.wait_ready()
        err = wait_banner(again)
        assert "first start" not in err and f"demo clock {DEMO_TODAY}" in err
        assert tokens(var)[("city_reviewer", "city=zhangjiakou")] != reviewer  # new ones
    finally:
        again.close()


def test_the_demo_people_are_fictional_with_valid_ids():
    from services.demo.people import person, with_bad_check_digit

    people = [person(i) for i in (0, 1, 13_999, 14_000, 499_999, 500_000, 6_999_999)]
    for p in people:
        parsed = parse_id(p.id_number)
        assert (parsed.valid, parsed.sex_label) == (True, p.sex), parsed.reasons
        assert p.id_number.startswith("110102") and re.fullmatch(r"139\d{8}", p.phone)
    assert len({p.id_number for p in people}) == len(people)
    bad = parse_id(with_bad_check_digit(people[0]).id_number)
    assert not bad.valid and "校验码" in bad.reasons[0]


def test_a_stop_while_loading_the_demo_data_is_quick(tmp_path):
    serving = Serving(tmp_path, "serve", "--var", str(tmp_path / "var"), "--http", "127.0.0.1:0")
    try:
        serving.wait_ready()
        took = serving.stop()
        assert took < 5, f"took {took:.1f} s"
        assert serving.process.returncode == 0
    finally:
        serving.close()
