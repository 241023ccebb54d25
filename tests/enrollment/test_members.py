"""The help desk's look-up of members by phone (members_by_phone: services/enrollment/
members.py, its rule in access.py) on real RabbitMQ: a help desk of the city finds the
city's members at that number, one row per year enrolled, ID numbers masked; another city's
help desk and a unit clerk are refused; a number that is not a mobile is one clear message."""

from __future__ import annotations

from datetime import date

import pytest
from nameko.exceptions import RemoteError
from nameko.standalone.rpc import ClusterRpcProxy

from services.enrollment.models import Application, Enrolment, Member, Unit
from services.enrollment.service import EnrollmentService
from services.kernel.privacy import mask_id
from services.messaging.database import make_engine, make_session_factory, session_scope
from tests.enrollment.samples import person
from tests.enrollment.test_service import config  # noqa: F401 (a fixture)
from tests.tokens import identity_context

pytestmark = pytest.mark.rabbit

QUZHOU = "quzhou"
DESK = identity_context("help_desk", "孙客服", sub="kf-1", city=QUZHOU)
OTHER_DESK = identity_context("help_desk", "吴客服", sub="kf-2", city="wujin")
CLERK = identity_context("unit_clerk", "王芳", sub="wf-1", city=QUZHOU, unit="unit-q")
SHARED = person(1).phone  # two members give one number (a couple, a parent's phone)


@pytest.fixture
def enrollment(container_factory, config):  # noqa: F811
    """The service with three members of a Quzhou unit, two at SHARED (one enrolled two
    years), and one of Wujin at SHARED too."""
    container_factory(EnrollmentService, config).start()
    engine = make_engine(config["DATABASES"]["enrollment"])
    try:
        with session_scope(make_session_factory(engine)) as session:
            for city, unit_id, name in (
                ("quzhou", "unit-q", "衢州单位"),
                ("wujin", "unit-w", "武进单位"),
            ):
                session.add(Unit(id=unit_id, city=city, unit_key=unit_id, name=name))
                for year in (2024, 2025):
                    session.add(
                        Application(id=f"{unit_id}-{year}", unit_id=unit_id, city=city, year=year)
                    )
            session.flush()
            members = [(1, SHARED, "quzhou", (2024, 2025)), (2, SHARED, "quzhou", (2025,))]
            members += [(3, person(3).phone, "quzhou", (2025,)), (4, SHARED, "wujin", (2025,))]
            for i, phone, city, years in members:
                who = person(i)
                session.add(
                    Member(
                        id=f"member-{i}",
                        id_number=who.id_number,
                        name=who.name,
                        sex=who.sex,
                        birth_date=date(1980, 1, 1),
                        phone=phone,
                    )
                )
                session.flush()
                unit_id = "unit-q" if city == "quzhou" else "unit-w"
                for year in years:
                    session.add(
                        Enrolment(
                            member_id=f"member-{i}",
                            city=city,
                            year=year,
                            application_id=f"{unit_id}-{year}",
                            unit_id=unit_id,
                            cover_start=date(year, 1, 1),
                            cover_end=date(year, 12, 31),
                        )
                    )
    finally:
        engine.dispose()
    return config


def _by_phone(settings, context, phone: str, city: str = QUZHOU) -> list[dict]:
    with ClusterRpcProxy(settings, context_data=context) as rpc:
        return rpc.enrollment.members_by_phone(city, phone)


def _refused(settings, context, phone: str, city: str = QUZHOU) -> RemoteError:
    with pytest.raises(RemoteError) as refused:
        _by_phone(settings, context, phone, city)
    return refused.value


def test_the_help_desk_finds_its_citys_members_at_a_number_masked(enrollment):
    found = _by_phone(enrollment, DESK, f"+86 {SHARED[:3]}-{SHARED[3:7]}-{SHARED[7:]}")
    first, second = person(1), person(2)
    in_2025 = sorted(["member-1", "member-2"], key=lambda i: person(int(i[-1])).name)
    # the newest year first, then by name
    assert [(m["member_id"], m["year"]) for m in found] == [
        (in_2025[0], 2025),
        (in_2025[1], 2025),
        ("member-1", 2024),
    ]
    one = next(m for m in found if m["member_id"] == "member-2")
    assert one == {
        "member_id": "member-2",
        "name": second.name,
        "id_number": mask_id(second.id_number),
        "unit_name": "衢州单位",
        "year": 2025,
    }
    assert first.id_number not in str(found) and SHARED not in str(found)
    assert _by_phone(enrollment, DESK, "13800000000") == []  # nobody at that number
    # Wujin's member at the same number is Wujin's help desk's, not Quzhou's
    assert [m["member_id"] for m in _by_phone(enrollment, OTHER_DESK, SHARED, "wujin")] == [
        "member-4"
    ]


def test_another_citys_help_desk_and_a_unit_clerk_are_refused(enrollment):
    assert _refused(enrollment, OTHER_DESK, SHARED).exc_type == "Forbidden"
    assert _refused(enrollment, CLERK, SHARED).exc_type == "Forbidden"
    with ClusterRpcProxy(enrollment) as bus:  # the bus: trusted, and masked all the same
        (listed,) = [
            m for m in bus.enrollment.members_by_phone(QUZHOU, SHARED) if m["year"] == 2024
        ]
    assert listed["id_number"] == mask_id(person(1).id_number)


def test_a_number_that_is_not_a_mobile_is_one_clear_message(enrollment):
    refused = _refused(enrollment, DESK, SHARED[:10])
    assert refused.exc_type == "InvalidRequest" and "手机号码" in str(refused)
    assert SHARED[:10] not in str(refused)
