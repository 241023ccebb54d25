"""Failed roster uploads: kept so the clerk can fetch the error report (it holds the file's
full ID and phone numbers), then purged (issue 9: "kept only as long as the clerk needs the
report"). The service runs `purge_failed_uploads` on a timer; the days come from the config
key ROSTER_UPLOAD_KEEP_DAYS (default 7). No nameko here.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from services.enrollment.models import RosterUpload
from services.kernel.clock import SHANGHAI

ELSEWHERE = "已在其他单位"  # what a clerk is told of a conflict's unit (issue 9)
KEEP_DAYS_KEY = "ROSTER_UPLOAD_KEEP_DAYS"
DEFAULT_KEEP_DAYS = 7


def keep_days(config: dict) -> int:
    days = int(config.get(KEEP_DAYS_KEY, DEFAULT_KEEP_DAYS))
    if days < 1:
        raise ValueError(f"{KEEP_DAYS_KEY}: at least 1 day, so the clerk can fetch the report")
    return days


def purge_failed_uploads(session: Session, *, today: date, days: int) -> int:
    """Delete the failed uploads (file results and report) older than `days` whole days
    before `today` (Asia/Shanghai); how many went."""
    cutoff = datetime.combine(today - timedelta(days=days), time.min, tzinfo=SHANGHAI)
    gone = session.execute(delete(RosterUpload).where(RosterUpload.created_at < cutoff))
    return gone.rowcount or 0


def last_failed_upload(
    session: Session, *, application_id: str, name_other_units: bool
) -> dict[str, Any] | None:
    """The application's latest upload that imported nothing (still kept): when, which file,
    how many errors, and its conflicts (a person another unit enrolled) by row, naming that
    unit only with ``name_other_units`` (a reviewer's view); a clerk's says ELSEWHERE."""
    uploads = session.scalars(
        select(RosterUpload)
        .where(RosterUpload.application_id == application_id)
        .order_by(RosterUpload.created_at.desc())
    )
    failed = next((u for u in uploads if not u.result.get("importable", True)), None)
    if failed is None:
        return None
    return {
        "upload_id": failed.id,
        "filename": failed.filename,
        "at": failed.created_at.isoformat(),
        "errors": len(failed.result.get("errors", ())),
        "conflicts": [
            {"row": c["row"], "unit": c["unit"] if name_other_units else ELSEWHERE}
            for c in failed.result.get("conflicts", ())
        ],
    }
