"""Failed roster uploads: kept so the clerk can fetch the error report (it holds the file's
full ID and phone numbers), then purged (issue 9: "kept only as long as the clerk needs the
report"). The service runs `purge_failed_uploads` on a timer; the days come from the config
key ROSTER_UPLOAD_KEEP_DAYS (default 7). No nameko here.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from sqlalchemy import delete
from sqlalchemy.orm import Session

from services.enrollment.models import RosterUpload
from services.kernel.clock import SHANGHAI

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
