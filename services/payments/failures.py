"""Why a payout failed, in words a member and a clerk can act on, from whatever the bank said.

Banks each have their own codes; what they write is more alike (户名不符, 久悬, 未激活 …), so
the text is matched as well as the code. Each reason says whether the machine may send the
payout again by itself: only when nothing about the card has to change (a receive limit,
next day). Name mismatch, a closed, missing, frozen or dormant (久悬) or unactivated (未激活)
card, and wrong bank details need the member or a clerk first; an unknown reason needs
finance to ask the bank.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class FailureReason:
    code: str
    label: str
    advice: str  # what the member (and the clerk) should do
    retryable: bool  # may the machine send it again without a person changing anything


FAILURE_REASONS = {
    r.code: r
    for r in (
        FailureReason(
            "name_mismatch",
            "户名不符",
            "请核对工会卡户名与会员姓名是否一致，由经办人更正后重新支付",
            False,
        ),
        FailureReason(
            "account_closed",
            "账户已销户",
            "该卡已销户，请会员提供新的工会卡，由经办人更正后重新支付",
            False,
        ),
        FailureReason(
            "frozen_or_dormant",
            "账户冻结或久悬",
            "请会员持身份证到开户银行网点办理解冻或久悬账户激活，办好后由经办人重新支付",
            False,
        ),
        FailureReason(
            "not_activated",
            "卡片未激活",
            "请会员到开户银行网点激活工会卡，激活后由经办人重新支付",
            False,
        ),
        FailureReason(
            "not_found",
            "账户不存在",
            "卡号有误或账户不存在，请核对卡号，由经办人更正后重新支付",
            False,
        ),
        FailureReason(
            "receive_limit", "超过收款限额", "超过该卡的收款限额，系统将在次日重新支付", True
        ),
        FailureReason(
            "bank_info_wrong",
            "开户行信息有误",
            "开户行或行号有误，请核对后由经办人更正并重新支付",
            False,
        ),
        FailureReason("unknown", "原因不明", "银行未给出可识别的原因，请财务向银行查询", False),
    )
}
# What banks write, by code or in words (mostly the text: codes differ bank by bank).
_FAILURE_PATTERNS = (
    ("name_mismatch", re.compile(r"户名|姓名.*不(符|一致)|name.?mismatch", re.I)),
    ("frozen_or_dormant", re.compile(r"冻结|久悬|睡眠|不动户|止付|frozen|dormant", re.I)),
    ("not_activated", re.compile(r"未激活|未启用|not.?activ", re.I)),
    ("account_closed", re.compile(r"销户|已注销|已关闭|closed", re.I)),
    ("receive_limit", re.compile(r"限额|超限|额度|limit", re.I)),
    ("bank_info_wrong", re.compile(r"开户行|行号|联行号|bank.?(code|info)", re.I)),
    ("not_found", re.compile(r"不存在|无此账户|账号错|卡号错|无效账户|not.?found|no such", re.I)),
)


def normalise(failure_code: str | None, failure_message: str | None) -> FailureReason:
    """The reason behind a bank's raw failure code and text; ``unknown`` when nothing fits."""
    text = f"{failure_code or ''} {failure_message or ''}"
    for code, pattern in _FAILURE_PATTERNS:
        if pattern.search(text):
            return FAILURE_REASONS[code]
    return FAILURE_REASONS["unknown"]
