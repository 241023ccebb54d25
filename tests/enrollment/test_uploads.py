"""Failed roster uploads are purged after the configured days (issue 9, uploads.py)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from nameko.testing.services import worker_factory
from sqlalchemy import select

from services.access.guard import Caller
from services.enrollment import uploads
from services.enrollment.models import RosterUpload
from services.enrollment.service import EnrollmentService
from services.kernel.clock import SHANGHAI
from tests.enrollment.test_applications import (  # noqa: F401  (fixtures)
    application,
    quzhou,
    session,
    unit,
)

TODAY = date(2024, 11, 20)


def failed_upload(db, application_id: str, days_ago: float) -> str:
    at = datetime(2024, 11, 20, 9, 0, tzinfo=SHANGHAI) - timedelta(days=days_ago)
    upload = RosterUpload(
        application_id=application_id,
        filename="名册.xlsx",
        actor="王芳 (wf-1)",
        result={"errors": [{"row": 6, "message": "身份证号 110105194912310021 校验位错误"}]},
        report=b"PK...",
        created_at=at,
    )
    db.add(upload)
    db.flush()
    return upload.id


def test_uploads_older_than_the_kept_days_are_purged(session, quzhou):  # noqa: F811
    app = application(session, quzhou, unit(session, quzhou), 10)
    old = failed_upload(session, app.id, days_ago=8)
    edge = failed_upload(session, app.id, days_ago=7)  # 2024-11-13 09:00: within 7 days
    fresh = failed_upload(session, app.id, days_ago=1)

    assert uploads.purge_failed_uploads(session, today=TODAY, days=7) == 1
    assert set(session.scalars(select(RosterUpload.id))) == {edge, fresh}
    assert old not in set(session.scalars(select(RosterUpload.id)))
    assert uploads.purge_failed_uploads(session, today=TODAY, days=7) == 0


def test_the_services_timer_reads_the_days_from_the_config(session, quzhou):  # noqa: F811
    app = application(session, quzhou, unit(session, quzhou), 10)
    failed_upload(session, app.id, days_ago=3)
    service = worker_factory(EnrollmentService, today=lambda: TODAY, access=Caller(None))
    service.db.session = session
    service.config = {"ROSTER_UPLOAD_KEEP_DAYS": 2}

    assert service.purge_failed_uploads() == 1
    service.config = {"ROSTER_UPLOAD_KEEP_DAYS": 0}
    with pytest.raises(ValueError, match="at least 1 day"):
        service.purge_failed_uploads()
