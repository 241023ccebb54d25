"""The ``mutual-aid`` console script, run as a user runs it: JSON on stdout and exit 0, or
one line on stderr and exit 2 — never a traceback."""

from __future__ import annotations

import json

import pytest

ZJK = ("--city", "zhangjiakou", "--year", "2024")
ZHANGJIAKOU_BENEFITS = {
    "general_illness",
    "critical_illness",
    "dialysis",
    "sudden_death",
    "child_critical_illness",
    "accident_disability",
    "accident_death",
    "fire_loss",
}


def assess(mutual_aid, claim: dict, history: list | None = None) -> dict:
    payload = {"claim": claim} if history is None else {"claim": claim, "history": history}
    return mutual_aid("assess", *ZJK, "-", stdin=json.dumps(payload)).json()


def quote(mutual_aid, **unit) -> dict:
    return mutual_aid("quote", *ZJK, "-", stdin=json.dumps({"unit": unit})).json()


# ---- answers ---------------------------------------------------------------------------


def test_cities(mutual_aid):
    run = mutual_aid("cities")
    assert run.code == 0
    assert run.stderr == ""
    answer = run.json()
    zhangjiakou = next(c for c in answer["cities"] if c["code"] == "zhangjiakou")
    assert zhangjiakou["name"] == "张家口市"
    assert 2024 in zhangjiakou["years"]
    assert zhangjiakou["distribution"] == "mutual-aid-zhangjiakou"
    assert zhangjiakou["version"]
    assert isinstance(answer["failed"], list)


def test_benefits(mutual_aid):
    answer = mutual_aid("benefits", *ZJK).json()
    assert (answer["city"], answer["year"]) == ("zhangjiakou", 2024)
    assert {b["code"] for b in answer["benefits"]} == ZHANGJIAKOU_BENEFITS
    assert answer["period"]["cover"] == ["2024-01-01", "2024-12-31"]
    assert answer["period"]["window"] == ["2024-01-01", "2024-03-15"]
    assert "fraud" in {e["code"] for e in answer["exclusions"]}


def test_quote_at_85_percent_is_ok(mutual_aid):
    answer = quote(mutual_aid, name="张家口市某某公司", participants=51, staff_total=60)
    assert answer["ok"] is True
    assert answer["violations"] == []
    assert answer["total_due"] == "2550.00"
    assert answer["total_due_capitals"] == "贰仟伍佰伍拾元整"
    assert answer["participation_rate"] == "85.00"
    assert answer["account"]["number"] == "0412041229300124836"
    assert answer["account"]["remark"] == "张家口市某某公司第十七期职工医疗互助金"


def test_quote_under_85_percent_is_not_ok(mutual_aid):
    answer = quote(mutual_aid, name="张家口市某某公司", participants=50, staff_total=60)
    assert answer["ok"] is False
    assert any("51" in v for v in answer["violations"])  # names the minimum headcount


@pytest.mark.parametrize(
    ("cost", "payable", "refused"),
    [("7000", "350.00", False), ("6999.99", "0.00", True), ("250000", "10000.00", False)],
)
def test_assess_general_illness(mutual_aid, cost, payable, refused):
    answer = assess(
        mutual_aid,
        {"benefit": "general_illness", "total_cost": cost, "admission_date": "2024-03-01"},
    )
    assert answer["payable"] == payable
    assert answer["refused"] is refused
    assert bool(answer["reasons"]) is refused
    assert answer["rule"]["id"] == "zhangjiakou.2024.general_illness"


def test_assess_general_illness_gives_the_amount_in_capitals(mutual_aid):
    answer = assess(
        mutual_aid,
        {"benefit": "general_illness", "total_cost": "7000", "admission_date": "2024-03-01"},
    )
    assert answer["payable_capitals"] == "叁佰伍拾元整"
    assert answer["counted"] == "7000.00"


def test_assess_general_illness_refusal_says_why(mutual_aid):
    answer = assess(
        mutual_aid,
        {"benefit": "general_illness", "total_cost": "6999.99", "admission_date": "2024-03-01"},
    )
    assert any("7000.00" in r for r in answer["reasons"])


def test_assess_accident_disability_grade_iii_secondary_liability(mutual_aid):
    claim = {
        "benefit": "accident_disability",
        "grade": "III",
        "cause": "traffic",
        "liability": "secondary",
        "event_date": "2024-05-20",
    }
    answer = assess(mutual_aid, claim)
    assert answer["refused"] is False
    assert answer["payable"] == "20000.00"  # (30000 − 2 × 2500) × 80%


def test_assess_fire_loss_is_capped(mutual_aid):
    claim = {
        "benefit": "fire_loss",
        "cause": "fire",
        "loss_amount": "200000",
        "event_date": "2024-06-01",
    }
    answer = assess(mutual_aid, claim)
    assert answer["payable"] == "30000.00"
    assert answer["payable_capitals"] == "叁万元整"


def test_assess_reads_history(mutual_aid):
    claim = {"benefit": "general_illness", "total_cost": "20000", "admission_date": "2024-08-01"}
    answer = assess(
        mutual_aid, claim, [{"benefit": "general_illness", "payable": "500.00", "counted": "10000"}]
    )
    assert answer["refused"] is True


def test_assess_reads_a_file(mutual_aid, tmp_path):
    path = tmp_path / "claim.json"
    path.write_text(
        json.dumps(
            {"claim": {"benefit": "fire_loss", "loss_amount": "1000", "event_date": "2024-06-01"}}
        ),
        encoding="utf-8",
    )
    assert mutual_aid("assess", *ZJK, str(path)).json()["payable"] == "200.00"


def test_idcard_checks_each_number(mutual_aid):
    answer = mutual_aid("idcard", "130733198207241212", "11010519491231002X").json()
    wrong, right = answer["ids"]
    assert wrong["input"] == "130733198207241212"
    assert wrong["valid"] is False
    assert any("末位应为 7" in r for r in wrong["reasons"])
    assert wrong["birth_date"] is None
    assert right["valid"] is True
    assert right["birth_date"] == "1949-12-31"
    assert right["sex"] == "female"
    assert right["sex_label"] == "女"


def test_idcard_normalises_and_warns(mutual_aid):
    (result,) = mutual_aid("idcard", "１１０１０５１９４９１２３１００２ｘ").json()["ids"]
    assert result["valid"] is True
    assert result["number"] == "11010519491231002X"
    assert result["warnings"]


def test_targets(mutual_aid):
    answer = mutual_aid("targets", *ZJK).json()
    (target,) = answer["targets"]
    assert (target["organisation"], target["kind"], target["target"]) == (
        "各县区总工会",
        "growth",
        "0.10",
    )
    assert target["actual"] is None and target["met"] is None


@pytest.mark.parametrize(("actual", "met"), [("0.12", True), ("0.10", True), ("0.09", False)])
def test_targets_with_actuals(mutual_aid, actual, met):
    actuals = {"actuals": [{"organisation": "各县区总工会", "kind": "growth", "actual": actual}]}
    (target,) = mutual_aid("targets", *ZJK, "-", stdin=json.dumps(actuals)).json()["targets"]
    assert target["actual"] == actual
    assert target["met"] is met


def test_help_exits_0(mutual_aid):
    run = mutual_aid("--help")
    assert run.code == 0
    assert "assess" in run.stdout


# ---- refusals: exit 2, one line on stderr, nothing on stdout ------------------------------

GOOD_CLAIM = {"benefit": "general_illness", "total_cost": "7000", "admission_date": "2024-03-01"}
ASSESS = ("assess", *ZJK, "-")
TARGETS = ("targets", *ZJK, "-")


def claim_with(**changes) -> str:
    return json.dumps({"claim": {**GOOD_CLAIM, **changes}})


@pytest.mark.parametrize(
    ("args", "stdin", "needle"),
    [
        (("benefits", "--city", "nowhere", "--year", "2024"), None, "'nowhere'"),
        (("benefits", "--city", "zhangjiakou", "--year", "2023"), None, "已有年度: 2024"),
        (ASSESS, '{"claim": {"benefit": ', "malformed JSON"),
        (ASSESS, "", "malformed JSON"),
        (ASSESS, "[1, 2]", "expected a JSON object"),
        (ASSESS, json.dumps({"claim": GOOD_CLAIM, "claims": []}), "unknown key(s) claims"),
        (ASSESS, json.dumps({"history": []}), "missing key(s) claim"),
        (ASSESS, json.dumps({"claim": {"benefit": "general_illness"}}), "total_cost"),
        (ASSESS, claim_with(total_cots="7000"), "total_cots"),
        (ASSESS, claim_with(total_cost=7000.0), "total_cost"),
        (ASSESS, claim_with(benefit="general_ilness"), "'general_ilness'"),
        (ASSESS, json.dumps({"claim": "general_illness"}), "claim"),
        (ASSESS, json.dumps({"claim": GOOD_CLAIM, "history": [{"benefit": "x"}]}), "payable"),
        (ASSESS, claim_with(exclusion=["fruad"]), "fruad"),
        (
            ("quote", *ZJK, "-"),
            json.dumps({"unit": {"name": "某", "participants": "51"}}),
            "participants",
        ),
        (("benefits", "--city", "zhangjiakou", "--year", "24"), None, "four digits"),
        (("benefits", "--city", "zhangjiakou", "--year", "2024x"), None, "four digits"),
        (("benefits", "--year", "2024"), None, "--city"),
        (("quote", "--city", "zhangjiakou", "--year", "2024"), None, "FILE"),
        ((), None, "command"),
        (("frobnicate",), None, "invalid choice"),
        (("idcard",), None, "ID"),
        (("assess", *ZJK, "/nonexistent/claim.json"), None, "cannot read /nonexistent/claim.json"),
        (TARGETS, json.dumps({"actuals": 5}), "actuals"),
        (TARGETS, json.dumps({"actuals": [{"organisation": "x", "kind": "growth"}]}), "actuals[0]"),
        (
            TARGETS,
            json.dumps({"actuals": [{"organisation": "x", "kind": "growth", "actual": "abc"}]}),
            "actuals[0].actual",
        ),
    ],
    ids=[
        "unknown-city",
        "unknown-year",
        "malformed-json",
        "empty-input",
        "json-not-an-object",
        "unknown-input-key",
        "missing-input-key",
        "missing-fact",
        "misspelt-fact",
        "float-amount",
        "unknown-benefit",
        "claim-not-an-object",
        "bad-history",
        "unknown-exclusion-flag",
        "unit-participants-as-text",
        "year-two-digits",
        "year-not-digits",
        "missing-city",
        "missing-file",
        "no-subcommand",
        "unknown-subcommand",
        "idcard-without-ids",
        "unreadable-file",
        "actuals-not-a-list",
        "actuals-row-shape",
        "actual-not-a-number",
    ],
)
def test_bad_input_is_one_line_on_stderr_and_exit_2(mutual_aid, args, stdin, needle):
    run = mutual_aid(*args, stdin=stdin)
    assert run.code == 2, run.stdout
    assert run.stdout == ""
    assert "Traceback" not in run.stderr
    assert run.stderr.endswith("\n") and run.stderr.count("\n") == 1, run.stderr
    assert run.stderr.startswith("mutual-aid: ")
    assert not run.stderr.startswith("mutual-aid: mutual-aid")  # no doubled prefix
    assert needle in run.stderr


def test_a_file_that_is_not_utf8_is_refused(mutual_aid, tmp_path):
    path = tmp_path / "claim.json"
    path.write_bytes(json.dumps({"claim": GOOD_CLAIM}).encode("gbk").replace(b"{", b"\xff{", 1))
    run = mutual_aid("assess", *ZJK, str(path))
    assert run.code == 2
    assert run.stderr.count("\n") == 1
    assert "UTF-8" in run.stderr


def test_a_subcommand_usage_error_names_its_help(mutual_aid):
    run = mutual_aid("quote", "--city", "zhangjiakou")
    assert run.code == 2
    assert run.stderr.startswith("mutual-aid: the following arguments are required: --year")
    assert "(see mutual-aid quote --help)" in run.stderr


def test_serve_passes_the_pinned_day_to_the_services_config(tmp_path, monkeypatch):
    """`mutual-aid --today D serve`: the services' clock key (FIXED_TODAY, read by
    services/providers.py's Clock, tests/test_providers.py) is D; unpinned (and no demo data:
    a new var/ gets the demo clock, tests/e2e/test_serve_demo.py) it is unset."""
    from services import cli
    from services.messaging import embedded

    configs = []
    monkeypatch.setattr(
        embedded, "run_embedded", lambda classes, config, ready=None: configs.append(config)
    )
    var = str(tmp_path / "var")
    assert cli.main(["--today", "2024-11-01", "serve", "--var", var]) == 0
    assert cli.main(["serve", "--var", var, "--no-demo"]) == 0
    assert [c.get("FIXED_TODAY") for c in configs] == ["2024-11-01", None]


SHORT_ARGVS = [
    ["cities"],
    ["quote", "--city", "quzhou", "--year", "2025", "u.json"],
    ["--today", "2025-03-01", "assess", "--city", "wujin", "--year", "2024", "-"],
    ["--today=2025-03-01", "benefits", "--year", "2024", "--city", "wujin"],
    ["assess", "--cit", "wujin", "--year", "2024", "c.json"],  # an abbreviation
    ["quote", "--city", "quzhou", "u.json"],  # --year missing
    ["quote", "--city", "quzhou", "--year", "25", "u.json"],
    ["assess", "--city", "wujin", "--year", "2024"],
    ["cities", "extra"],
    ["--today", "2025-02-30", "cities"],
    ["--today", "quote", "cities"],
    ["quote", "--city", "quzhou", "--year", "2025", "u.json", "--frobnicate"],
]


@pytest.mark.parametrize("argv", SHORT_ARGVS, ids=lambda a: " ".join(a))
def test_a_short_command_parses_as_the_whole_parser_does(argv):
    """`quote` builds only its own subparser (issue 14): the same arguments, the same errors."""
    from services.cli import UsageError, build_parser, parse

    def outcome(how):
        try:
            return vars(how())
        except UsageError as exc:
            return str(exc)

    assert outcome(lambda: parse(argv)) == outcome(lambda: build_parser().parse_args(argv))


def test_the_short_parser_is_used_for_a_short_command():
    from services.cli import _command_word

    assert _command_word(["--today", "2025-03-01", "quote", "x"]) == "quote"
    assert _command_word(["cities"]) == "cities"
    assert _command_word(["quote", "--help"]) is None  # help: the whole parser
    assert _command_word(["serve"]) is None
    assert _command_word([]) is None
