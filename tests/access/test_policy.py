"""The access table's check (services/access/policy.py) for each role, without nameko."""

from __future__ import annotations

import pytest

from services.access.identity import Identity, same_person, subject_of
from services.access.policy import FORBIDDEN, Forbidden, Policy, Rule, Scope, within

UNIT_A = Scope(city="zhangjiakou", district="桥西区", unit="unit-a")
UNIT_B = Scope(city="zhangjiakou", district="桥东区", unit="unit-b")
WUJIN = Scope(city="wujin", district="湖塘镇", unit="unit-w")


def person(role: str, **scope) -> Identity:
    return Identity(sub=f"{role}-1", name="王芳", role=role, **scope)


CLERK_A = person("unit_clerk", city="zhangjiakou", unit="unit-a")
DISTRICT_WEST = person("district_clerk", city="zhangjiakou", district="桥西区")
REVIEWER_ZJK = person("city_reviewer", city="zhangjiakou")
FINANCE_ZJK = person("finance", city="zhangjiakou")
HELP_DESK = person("help_desk")
OPERATOR = person("provincial_operator")


@pytest.mark.parametrize(
    ("identity", "scope", "allowed"),
    [
        (CLERK_A, UNIT_A, True),
        (CLERK_A, UNIT_B, False),
        (CLERK_A, Scope(city="zhangjiakou", unit="unit-a", district=None), True),
        (DISTRICT_WEST, UNIT_A, True),
        (DISTRICT_WEST, UNIT_B, False),
        (DISTRICT_WEST, WUJIN, False),
        (REVIEWER_ZJK, UNIT_B, True),
        (REVIEWER_ZJK, WUJIN, False),
        (FINANCE_ZJK, UNIT_A, True),
        (FINANCE_ZJK, WUJIN, False),
        (HELP_DESK, WUJIN, True),
        (person("help_desk", city="wujin"), UNIT_A, False),
        (OPERATOR, WUJIN, True),
        # a draft not yet tied to a unit: only the clerk who made it
        (CLERK_A, Scope(city="zhangjiakou", owner="王芳 (unit_clerk-1)"), True),
        (CLERK_A, Scope(city="zhangjiakou", owner="王芳 (someone-else)"), False),
        # creating in a city: a clerk of that city only
        (CLERK_A, Scope(city="zhangjiakou"), True),
        (CLERK_A, Scope(city="wujin"), False),
        # a district itself (its units listed): its own district clerk, the city's reviewer
        (DISTRICT_WEST, Scope(city="zhangjiakou", district="桥西区"), True),
        (DISTRICT_WEST, Scope(city="zhangjiakou", district="桥东区"), False),
        (DISTRICT_WEST, Scope(city="wujin", district="桥西区"), False),
        (person("district_clerk", city="zhangjiakou"), Scope("zhangjiakou", "桥西区"), False),
        (CLERK_A, Scope(city="zhangjiakou", district="桥西区"), False),
        (REVIEWER_ZJK, Scope(city="zhangjiakou", district="桥东区"), True),
    ],
)
def test_each_role_reaches_its_own_scope_only(identity, scope, allowed):
    assert within(identity, scope) is allowed


def test_a_role_not_in_the_rule_and_an_absent_thing_answer_the_same():
    things = {"a": UNIT_A}
    policy = Policy(
        {"read": Rule({"unit_clerk", "city_reviewer"}, lambda svc, args: things.get(args["id"]))}
    )
    errors = []
    for identity, thing in ((CLERK_A, "b"), (CLERK_A, "missing"), (OPERATOR, "a")):
        with pytest.raises(Forbidden) as refused:
            policy.check("read", identity, None, {"id": thing})
        errors.append(str(refused.value))
    assert errors == [FORBIDDEN] * 3
    assert policy.check("read", CLERK_A, None, {"id": "a"}).unmasked is False
    with pytest.raises(Forbidden):
        policy.check("not-in-the-table", CLERK_A, None, {"id": "a"})


def test_the_rule_says_who_sees_personal_data_unmasked():
    policy = Policy(
        {"read": Rule({"unit_clerk", "city_reviewer"}, unmasked={"city_reviewer"}, why="审核")}
    )
    assert policy.check("read", REVIEWER_ZJK, None, {}).unmasked is True
    assert policy.check("read", CLERK_A, None, {}).unmasked is False


def test_four_eyes_compares_subjects_not_names():
    assert same_person("王芳 (sub-1)", "王芳 (sub-1)")
    assert same_person("王芳 (sub-1)", "Wang Fang (sub-1)")  # renamed in the IdP: one person
    assert not same_person("王芳 (sub-1)", "王芳 (sub-2)")  # two people of one name
    assert subject_of("clerk") == "clerk"  # the CLI's --actor is its own subject
    assert same_person("clerk", "clerk (clerk)")


def test_a_rule_showing_personal_data_in_full_must_say_why():
    with pytest.raises(ValueError, match="says why"):
        Rule({"city_reviewer"}, unmasked={"city_reviewer"})
