"""What the claims tests do over and over: a fake ``enrollment.cover``, the outbox's events,
and a claim taken through intake (its documents attached, submitted) and approval."""

from __future__ import annotations

import functools
import io
from datetime import date
from typing import Any

from sqlalchemy import select

from services.claims import attachments
from services.claims import claims as ops
from services.messaging.outbox import OUTBOX, record_event
from tests.enrollment.samples import Person


def pdf(text: str = "", size: int | None = None, before: bytes = b"") -> bytes:
    """A one-page PDF that pypdf reads strictly; ``text`` (ASCII) makes each one different,
    ``size`` pads it to exactly that many bytes (a comment line after the header), ``before``
    comes ahead of the header (offsets count from the header, as Acrobat reads them)."""

    def build(padding: int) -> bytes:
        stream = f"BT /F1 12 Tf 20 100 Td ({text}) Tj ET".encode()
        objects = [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] /Contents 4 0 R >>",
            b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        ]
        out = bytearray(b"%PDF-1.4\n%" + b"p" * padding + b"\n")
        offsets = []
        for number, body in enumerate(objects, start=1):
            offsets.append(len(out))
            out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
        xref = len(out)
        out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
        out += b"".join(b"%010d 00000 n \n" % at for at in offsets)
        out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%010d\n%%%%EOF\n" % (
            len(objects) + 1,
            xref,
        )
        return before + bytes(out)

    if size is None:
        return build(0)
    # offsets are written fixed-width: padding shifts them without changing their length
    return build(size - len(build(0)))


def image(kind: str, colour: str = "red", side: int = 16) -> bytes:
    """A real PNG or JPEG that Pillow decodes whole."""
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (side, side), colour).save(out, kind)
    return out.getvalue()


# real files of each accepted type (the whole file is parsed, not only its first bytes)
PDF = pdf()
PNG = image("PNG")
JPEG = image("JPEG")


class FakeCover:
    """Stands in for ``enrollment.cover`` (the service backs it with that RPC): answers from
    the enrolments ``enrol`` was told of, in the same shape."""

    def __init__(self) -> None:
        self.enrolments: list[dict[str, Any]] = []
        self.calls: list[tuple[str, str, date]] = []

    def enrol(
        self,
        city: str,
        year: int,
        who: Person,
        *,
        unit_id: str = "unit-1",
        unit_name: str = "测试单位工会",
        district: str | None = None,
        start: date | None = None,
        end: date | None = None,
    ) -> dict[str, Any]:
        enrolment = {
            "member_id": f"member-{who.id_number[-6:]}",
            "name": who.name,
            "city": city,
            "year": year,
            "unit_id": unit_id,
            "unit_name": unit_name,
            "district": district,
            "application_id": f"app-{unit_id}-{year}",
            "cover": [
                (start or date(year, 1, 1)).isoformat(),
                (end or date(year, 12, 31)).isoformat(),
            ],
            "id_number": who.id_number,
        }
        self.enrolments.append(enrolment)
        return enrolment

    def __call__(self, city: str, id_number: str, on_date: date) -> dict[str, Any] | None:
        self.calls.append((city, id_number, on_date))
        for e in self.enrolments:
            start, end = (date.fromisoformat(d) for d in e["cover"])
            if e["city"] == city and e["id_number"] == id_number and start <= on_date <= end:
                return {k: v for k, v in e.items() if k != "id_number"}
        return None


def record(session):
    return functools.partial(record_event, session)


def events(session) -> list[tuple[str, dict]]:
    return [
        (r.event_type, r.payload) for r in session.execute(select(OUTBOX).order_by(OUTBOX.c.id))
    ]


def attach_all(session, policy, claim, *, skip=()) -> None:
    """Every document the benefit lists (a small PDF each), but those in ``skip``."""
    for i, document in enumerate(ops.benefit_of(policy, claim.year, claim.benefit).attachments):
        if document not in skip:
            attachments.add_attachment(
                session,
                policy,
                claim_id=claim.id,
                documents=document,
                filename=f"{i}.pdf",
                data=pdf(str(i)),
                actor="clerk",
            )


def new_claim(
    session,
    policy,
    cover,
    who: Person,
    facts: dict[str, Any],
    *,
    year: int,
    today: date,
    submit: bool = True,
    documents: bool = True,
    not_applicable: dict[str, str] | None = None,
):
    """A claim created, its documents attached and (by default) submitted."""
    claim = ops.create_claim(
        session,
        policy,
        year=year,
        id_number=who.id_number,
        facts=facts,
        actor="clerk:wang",
        name=who.name,
    )
    if documents:
        attach_all(session, policy, claim, skip=tuple(not_applicable or ()))
    if submit:
        ops.submit(
            session,
            policy,
            claim_id=claim.id,
            actor="clerk:wang",
            today=today,
            cover=cover,
            record=record(session),
            not_applicable=not_applicable,
        )
    return claim


def approve(session, policy, claim, today: date):
    return ops.approve(
        session, policy, claim_id=claim.id, actor="reviewer:li", today=today, record=record(session)
    )
