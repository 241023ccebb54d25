"""The union tree (issue 8.12): city union → district / town / system union → unit, on SQLite
and PostgreSQL. A unit registered under a union is in its district (and pays into that
district's account); an organisation's units are its subtree's; the members enrolled per
organisation are the actuals Keqiao's enrolment targets are compared with."""

from __future__ import annotations

import functools
from datetime import date

import pytest
from nameko.testing.services import worker_factory

from services.access.guard import Caller
from services.access.identity import Identity
from services.access.policy import Forbidden
from services.enrollment import applications as ops
from services.enrollment import organisations as orgs
from services.enrollment.access import POLICY
from services.enrollment.exceptions import Conflict, NotFound
from services.enrollment.models import Enrolment, Member, metadata
from services.enrollment.schemas import InvalidRequest
from services.enrollment.service import EnrollmentService
from services.kernel.errors import UnknownDistrict
from services.kernel.registry import load_registry
from services.messaging.outbox import record_event
from tests.conftest import BACKENDS, service_session
from tests.enrollment.files import xlsx_bytes
from tests.enrollment.samples import person, quzhou_rows


@pytest.fixture(params=BACKENDS)
def session(request, tmp_path):
    yield from service_session(request, tmp_path, metadata(), "enrollment")


@pytest.fixture(scope="module")
def registry():
    return load_registry()


@pytest.fixture
def service(session, registry):
    worker = worker_factory(
        EnrollmentService,
        policies=registry,
        today=lambda: date(2024, 11, 1),
        access=Caller(None),  # a caller on the bus: the actor it states is recorded
    )
    worker.db.session = session
    worker.outbox.record = functools.partial(record_event, session)
    return worker


def union(service, city, year, kind, name, parent=None, district=None) -> dict:
    organisation = {"kind": kind, "name": name, "parent_id": parent, "district": district}
    return service.register_organisation(city, year, organisation)


def test_a_unit_under_a_county_union_is_in_its_block(service, session):
    city = union(service, "quzhou", 2025, "city_union", "衢州市总工会")
    longyou = union(
        service, "quzhou", 2025, "district_union", "龙游县总工会", city["organisation_id"], "龙游"
    )
    assert longyou["district"] == "龙游" and longyou["parent_id"] == city["organisation_id"]
    unit = service.register_unit(
        "quzhou",
        2025,
        {
            "unit_key": "33080001",
            "name": "龙游某纸业有限公司工会",
            "organisation_id": longyou["organisation_id"],
            "staff_total": 100,
            "staff_insured": 100,
        },
    )
    assert unit["district"] == "龙游" and unit["organisation_id"] == longyou["organisation_id"]
    # the block decides the account the premium goes to (Quzhou: one per district block)
    assert unit["district"] == "龙游"

    with pytest.raises(Conflict, match="不一致"):
        service.register_unit(
            "quzhou",
            2025,
            {
                "unit_key": "33080002",
                "name": "江山某厂工会",
                "district": "江山",
                "organisation_id": longyou["organisation_id"],
            },
        )


def test_the_tree_is_held_to_one_city_union_and_parents_in_the_city(service):
    city = union(service, "quzhou", 2025, "city_union", "衢州市总工会")
    with pytest.raises(Conflict, match="已登记市总工会"):
        union(service, "quzhou", 2025, "city_union", "另一个市总工会")
    with pytest.raises(Conflict, match="上级组织"):
        union(service, "quzhou", 2025, "district_union", "柯城区总工会")
    with pytest.raises(Conflict, match="不属于"):
        union(service, "keqiao", 2019, "district_union", "钱清镇总工会", city["organisation_id"])
    with pytest.raises(UnknownDistrict):
        union(
            service, "quzhou", 2025, "district_union", "某区总工会", city["organisation_id"], "某区"
        )
    with pytest.raises(InvalidRequest, match="kind"):
        union(service, "quzhou", 2025, "town_union", "某镇总工会", city["organisation_id"])
    with pytest.raises(NotFound):
        service.organisation_units("no-such-organisation")


def enrol(session, unit_id: str, city: str, year: int, people) -> None:
    """Enrolments as an approved application leaves them (the import and approval are
    test_applications.py's); the counting here is what is under test."""
    for p in people:
        member = Member(id_number=p.id_number, name=p.name, sex="男", birth_date=date(1980, 1, 1))
        session.add(member)
        session.flush()
        session.add(
            Enrolment(
                member_id=member.id,
                city=city,
                year=year,
                application_id=_application(session, unit_id, year),
                unit_id=unit_id,
                cover_start=date(year, 1, 1),
                cover_end=date(year, 12, 31),
            )
        )
    session.flush()


def _application(session, unit_id: str, year: int) -> str:
    from services.enrollment.models import Application

    app = session.query(Application).filter_by(unit_id=unit_id, year=year).one_or_none()
    if app is None:
        app = Application(unit_id=unit_id, city="keqiao", year=year, status="approved")
        session.add(app)
        session.flush()
    return app.id


def test_keqiao_sub_unions_list_their_units_and_count_the_actuals_of_their_targets(
    service, session, registry
):
    city = union(service, "keqiao", 2019, "city_union", "柯桥区总工会")
    town = union(service, "keqiao", 2019, "district_union", "钱清镇总工会", city["organisation_id"])
    assert town["district"] == "qianqing"  # the plugin's sub-union of that name
    street = union(
        service, "keqiao", 2019, "district_union", "柯桥街道总工会", city["organisation_id"]
    )
    units = {}
    for key, name, parent in (
        ("K1", "钱清某纺织厂工会", town),
        ("K2", "钱清某印染厂工会", town),
        ("K3", "柯桥某商场工会", street),
    ):
        units[key] = service.register_unit(
            "keqiao",
            2019,
            {"unit_key": key, "name": name, "organisation_id": parent["organisation_id"]},
        )
    assert {u["unit_key"]: u["district"] for u in units.values()} == {
        "K1": "qianqing",
        "K2": "qianqing",
        "K3": "keqiao",
    }
    listed = service.organisation_units(town["organisation_id"])
    assert [u["name"] for u in listed] == sorted(["钱清某纺织厂工会", "钱清某印染厂工会"])
    assert len(service.organisation_units(city["organisation_id"])) == 3

    enrol(session, units["K1"]["unit_id"], "keqiao", 2019, [person(i) for i in range(3)])
    enrol(session, units["K2"]["unit_id"], "keqiao", 2019, [person(i) for i in range(3, 5)])
    enrol(session, units["K3"]["unit_id"], "keqiao", 2019, [person(i) for i in range(5, 6)])
    actuals = {a["name"]: a for a in service.organisation_actuals("keqiao", 2019)}
    assert {name: (a["units"], a["enrolled"]) for name, a in actuals.items()} == {
        "柯桥区总工会": (3, 6),
        "钱清镇总工会": (2, 5),
        "柯桥街道总工会": (1, 1),
    }
    assert service.organisation_actuals("keqiao", 2020)[0]["enrolled"] == 0

    keqiao = registry.get("keqiao")
    rows = keqiao.kpi_report(
        2019,
        {
            (a["name"], "enrolment"): a["enrolled"]
            for a in actuals.values()
            if a["kind"] != "city_union"
        },
    )
    enrolled = {row.organisation: row.enrolled for row in rows}
    assert enrolled["钱清镇总工会"] == 5 and enrolled["柯桥街道总工会"] == 1


def test_import_roster_through_a_union_unit_counts_in_its_actuals(session, registry):
    """The whole path once: register under a union, import, submit, approve, count."""
    quzhou = registry.get("quzhou")
    city = orgs.register_organisation(
        session, quzhou, year=2025, kind="city_union", name="衢州市总工会"
    )
    county = orgs.register_organisation(
        session,
        quzhou,
        year=2025,
        kind="district_union",
        name="龙游县总工会",
        district="龙游",
        parent_id=city.id,
    )
    unit = ops.register_unit(
        session,
        quzhou,
        year=2025,
        unit_key="33080001",
        name="龙游某纸业有限公司工会",
        organisation_id=county.id,
        staff_total=80,
        staff_insured=80,
    )
    app = ops.open_application(
        session, quzhou, unit_id=unit.id, year=2025, participants=80, actor="clerk"
    )
    data = xlsx_bytes(
        {"Sheet1": [["申请表"]], "Sheet2": quzhou_rows([person(i) for i in range(80)])}
    )
    ops.import_roster(
        session, quzhou, application_id=app.id, data=data, filename="a.xlsx", actor="clerk"
    )
    record = functools.partial(record_event, session)
    ops.submit(
        session,
        quzhou,
        application_id=app.id,
        actor="clerk",
        today=date(2024, 11, 1),
        record=record,
    )
    ops.approve(session, quzhou, application_id=app.id, actor="reviewer", record=record)
    actuals = {
        a["name"]: a["enrolled"]
        for a in orgs.organisation_actuals(session, city="quzhou", year=2025)
    }
    assert actuals == {"衢州市总工会": 80, "龙游县总工会": 80}


def test_a_district_clerk_chooses_from_their_own_districts_units_only(service):
    """district_units: the units of one district by name, for the console's choice; the access
    table lets a district clerk ask for their own district only (and a unit clerk for none)."""
    for key, name, district in (
        ("Z1", "桥西B医院工会", "桥西区"),  # by name, whatever the order registered
        ("Z2", "桥西A中学工会", "桥西区"),
        ("Z3", "桥东某厂工会", "桥东区"),
    ):
        service.register_unit(
            "zhangjiakou", 2024, {"unit_key": key, "name": name, "district": district}
        )
    service.register_unit(
        "wujin", 2024, {"unit_key": "W1", "name": "湖塘工会", "district": "桥西区"}
    )

    west = service.district_units("zhangjiakou", "桥西区")

    assert [(u["unit_key"], u["name"]) for u in west] == [
        ("Z2", "桥西A中学工会"),
        ("Z1", "桥西B医院工会"),
    ]
    assert service.district_units("zhangjiakou", "无此区") == []
    with pytest.raises(InvalidRequest):
        service.district_units("zhangjiakou", None)

    def asks(role: str, asked: str, **scope) -> bool:
        identity = Identity(sub="s", name="n", role=role, city="zhangjiakou", **scope)
        arguments = {"city": "zhangjiakou", "district": asked}
        try:
            POLICY.check("district_units", identity, service, arguments)
        except Forbidden:
            return False
        return True

    assert asks("district_clerk", "桥西区", district="桥西区")
    assert not asks("district_clerk", "桥东区", district="桥西区")
    assert not asks("unit_clerk", "桥西区", unit=west[0]["unit_id"])
    assert asks("city_reviewer", "桥东区")
