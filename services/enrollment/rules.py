"""Group application rules: the workflow and what submitting checks. No database, no nameko.

The workflow (POLICIES.md; Zhangjiakou's 团体申请上报 and the seeds' 退回): a draft is
submitted upward; a reviewer approves it or returns it with a reason; a returned application
is corrected and submitted again. Submitting checks everything again: participants declared
on Sheet1 equal to the roster's rows (every seed city: "在职职工参加人数和名册中人数必须一致";
Zhangjiakou's system refuses 上报 otherwise), the participation rule through the plugin's
quote, and the enrolment window.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from services.access.identity import same_person
from services.enrollment.exceptions import WorkflowError
from services.kernel.periods import SchemePeriod
from services.kernel.policy import Quote

DRAFT, SUBMITTED, APPROVED, RETURNED = "draft", "submitted", "approved", "returned"

_TRANSITIONS = {
    (DRAFT, "submit"): SUBMITTED,
    (RETURNED, "submit"): SUBMITTED,
    (SUBMITTED, "approve"): APPROVED,
    (SUBMITTED, "return"): RETURNED,
}
_STATUS_LABELS = {DRAFT: "草稿", SUBMITTED: "已上报", APPROVED: "已审核通过", RETURNED: "已退回"}
_ACTION_LABELS = {"submit": "上报", "approve": "审核通过", "return": "退回"}
EDITABLE = (DRAFT, RETURNED)


def next_status(status: str, action: str) -> str:
    try:
        return _TRANSITIONS[(status, action)]
    except KeyError:
        raise WorkflowError(
            f"{_STATUS_LABELS.get(status, status)}的申请不能{_ACTION_LABELS.get(action, action)}"
        ) from None


def require_editable(status: str) -> None:
    if status not in EDITABLE:
        raise WorkflowError(
            f"{_STATUS_LABELS.get(status, status)}的申请不能修改名册；如需修改请联系审核单位退回"
        )


def require_four_eyes(submitter: str | None, reviewer: str) -> None:
    """Nobody approves what they submitted (issue 9), compared by the token's subject."""
    if submitter is not None and same_person(submitter, reviewer):
        raise WorkflowError("不能审核自己上报的申请，请由另一位审核人员办理")


def require_reason(reason: str | None) -> str:
    text = (reason or "").strip()
    if not text:
        raise WorkflowError("退回申请必须写明原因")
    return text


@dataclass(frozen=True)
class SubmissionCheck:
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def check_submission(
    *, declared: int, roster_rows: int, quote: Quote, period: SchemePeriod, today: date
) -> SubmissionCheck:
    problems: list[str] = []
    if roster_rows == 0:
        problems.append("名册为空，请先导入参保职工名册")
    if declared != roster_rows:
        problems.append(
            f"申请表填写参加人数 {declared} 人，名册中有 {roster_rows} 人，两者必须一致"
        )
    problems.extend(quote.violations)
    if not period.window_open(today):
        start = period.window_start.isoformat() if period.window_start else "通知下发之日"
        problems.append(
            f"{today.isoformat()} 不在 {period.year} 年度参保办理时间（{start} 至 {period.window_end.isoformat()}）内，逾期不再受理"
        )
    return SubmissionCheck(tuple(problems))
