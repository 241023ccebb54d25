"""The union tree above the units: city union → district / town / system union → unit.

Keqiao's notice sets its enrolment and claim targets per sub-union (柯桥街道总工会, 钱清镇总工会,
系统工会 …, the plugin's districts), and a district clerk (issue 9) sees the units of one
district union. So a unit is registered under an organisation, an organisation's units are
those of its whole subtree, and the enrolled members are counted per organisation with its
subtree's — the actuals ``kpi_report`` compares with the targets (keyed by the
organisation's name, as the targets are).

A district or system union is tied to the plugin's district of the same name or code when the
city has districts (Keqiao's sub-unions, Quzhou's blocks): a unit registered under it is in
that district, so it pays into that district's account. Framework-free, like applications.py.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.enrollment.exceptions import Conflict, NotFound
from services.enrollment.models import Enrolment, Organisation, Unit
from services.kernel.errors import UnknownDistrict
from services.kernel.policy import CityPolicy

CITY_UNION, DISTRICT_UNION, SYSTEM_UNION = "city_union", "district_union", "system_union"
KINDS = (CITY_UNION, DISTRICT_UNION, SYSTEM_UNION)


def register_organisation(
    session: Session,
    policy: CityPolicy,
    *,
    year: int,
    kind: str,
    name: str,
    district: str | None = None,
    parent_id: str | None = None,
) -> Organisation:
    """The city union (one per city, at the top) or a union under another organisation of
    the same city; a district union names the plugin's district (by ``district``, or by its
    own name when the city's districts are its sub-unions, as Keqiao's are)."""
    name = name.strip()
    if kind not in KINDS:
        raise Conflict(f"组织类型应为 {'、'.join(KINDS)} 之一")
    if session.scalar(
        select(Organisation).where(Organisation.city == policy.code, Organisation.name == name)
    ):
        raise Conflict(f"{policy.name}已登记组织「{name}」")
    if kind == CITY_UNION:
        if parent_id is not None:
            raise Conflict("市总工会在最上层，没有上级组织")
        top = session.scalar(
            select(Organisation).where(
                Organisation.city == policy.code, Organisation.kind == CITY_UNION
            )
        )
        if top is not None:
            raise Conflict(f"{policy.name}已登记市总工会「{top.name}」")
    else:
        if parent_id is None:
            raise Conflict(f"「{name}」须填写上级组织（parent_id）")
        parent = get_organisation(session, parent_id)
        if parent.city != policy.code:
            raise Conflict(f"上级组织「{parent.name}」不属于{policy.name}")
    found = None
    if hasattr(policy, "district") and (district or kind != CITY_UNION):
        found = policy.district(year, district) if district else _district_named(policy, year, name)
    organisation = Organisation(
        city=policy.code,
        kind=kind,
        name=name,
        district=found.code if found else district,
        parent_id=parent_id,
    )
    session.add(organisation)
    session.flush()
    return organisation


def _district_named(policy: CityPolicy, year: int, name: str):
    """The plugin's district a union is named for (Keqiao: 柯桥街道总工会), or None."""
    try:
        return policy.district(year, name)
    except UnknownDistrict:  # a union that is no district of the plugin's (a system union)
        return None


def get_organisation(session: Session, organisation_id: str) -> Organisation:
    organisation = session.get(Organisation, organisation_id)
    if organisation is None:
        raise NotFound(f"没有组织 {organisation_id}")
    return organisation


def unit_placement(
    session: Session, policy: CityPolicy, *, year: int, organisation_id: str, district: str | None
) -> str | None:
    """The district a unit registered under ``organisation_id`` is in: the organisation's,
    unless the unit names another (refused: it would pay into the wrong account)."""
    organisation = get_organisation(session, organisation_id)
    if organisation.city != policy.code:
        raise Conflict(f"组织「{organisation.name}」不属于{policy.name}")
    found = policy.district(year, district) if district and hasattr(policy, "district") else None
    code = found.code if found else district
    if code and organisation.district and code != organisation.district:
        raise Conflict(
            f"单位填写的区块「{district}」与所属组织「{organisation.name}」的区块"
            f"「{organisation.district}」不一致"
        )
    return district or organisation.district


def _subtree(session: Session, organisation: Organisation) -> list[str]:
    """The organisation's id and every id below it (a tree of a few hundred at most)."""
    children: dict[str | None, list[str]] = {}
    rows = session.execute(
        select(Organisation.id, Organisation.parent_id).where(
            Organisation.city == organisation.city
        )
    )
    for id_, parent in rows:
        children.setdefault(parent, []).append(id_)
    found, todo = [], [organisation.id]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, ()))
    return found


def organisation_units(session: Session, *, organisation_id: str) -> list[dict[str, Any]]:
    """The units of an organisation and of every union below it, by name."""
    organisation = get_organisation(session, organisation_id)
    names = dict(
        session.execute(
            select(Organisation.id, Organisation.name).where(
                Organisation.id.in_(_subtree(session, organisation))
            )
        ).all()
    )
    units = session.scalars(
        select(Unit).where(Unit.organisation_id.in_(names)).order_by(Unit.name, Unit.id)
    )
    return [
        {
            "unit_id": u.id,
            "unit_key": u.unit_key,
            "name": u.name,
            "district": u.district,
            "organisation_id": u.organisation_id,
            "organisation": names[u.organisation_id],
        }
        for u in units
    ]


def district_units(session: Session, *, city: str, district: str) -> list[dict[str, Any]]:
    """The units of one district of a city, by name: what a district clerk chooses from (the
    district as units store it: the plugin's code, or the text given where a city has none)."""
    units = session.scalars(
        select(Unit)
        .where(Unit.city == city, Unit.district == district)
        .order_by(Unit.name, Unit.id)
    )
    return [
        {"unit_id": u.id, "unit_key": u.unit_key, "name": u.name, "district": u.district}
        for u in units
    ]


def organisation_actuals(session: Session, *, city: str, year: int) -> list[dict[str, Any]]:
    """Per organisation of the city: its units and the members enrolled for ``year`` through
    them, each counted with everything below it (the city union holds the whole city)."""
    organisations = session.scalars(
        select(Organisation).where(Organisation.city == city).order_by(Organisation.name)
    ).all()
    units = dict(
        session.execute(
            select(Unit.organisation_id, func.count())
            .where(Unit.city == city, Unit.organisation_id.is_not(None))
            .group_by(Unit.organisation_id)
        ).all()
    )
    enrolled = dict(
        session.execute(
            select(Unit.organisation_id, func.count())
            .select_from(Enrolment)
            .join(Unit, Enrolment.unit_id == Unit.id)
            .where(Enrolment.city == city, Enrolment.year == year)
            .group_by(Unit.organisation_id)
        ).all()
    )
    parent = {o.id: o.parent_id for o in organisations}
    totals = {o.id: [0, 0] for o in organisations}
    for organisation_id in totals:
        seen, current = set(), organisation_id
        while current is not None and current not in seen:  # up to the city union
            seen.add(current)
            totals[current][0] += units.get(organisation_id, 0)
            totals[current][1] += enrolled.get(organisation_id, 0)
            current = parent.get(current)
    return [
        {
            "organisation_id": o.id,
            "name": o.name,
            "kind": o.kind,
            "district": o.district,
            "parent_id": o.parent_id,
            "units": totals[o.id][0],
            "enrolled": totals[o.id][1],
        }
        for o in organisations
    ]
