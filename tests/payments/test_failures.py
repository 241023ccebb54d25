"""A bank's failure code and text, normalised to a reason with advice and whether the machine
may retry it."""

from __future__ import annotations

import pytest

from services.payments.failures import FAILURE_REASONS, normalise


@pytest.mark.parametrize(
    "code, text, reason",
    [
        (None, "户名与账号不符", "name_mismatch"),
        ("E1", "收款人姓名不一致", "name_mismatch"),
        (None, "该账户已销户", "account_closed"),
        (None, "账户状态为久悬户", "frozen_or_dormant"),
        (None, "司法冻结", "frozen_or_dormant"),
        (None, "睡眠户", "frozen_or_dormant"),
        (None, "新卡未激活", "not_activated"),
        (None, "账号不存在", "not_found"),
        ("ACCOUNT_NOT_FOUND", None, "not_found"),
        (None, "超过单日收款限额", "receive_limit"),
        (None, "收款行联行号错误", "bank_info_wrong"),
        ("X99", "交易失败", "unknown"),
        (None, None, "unknown"),
    ],
)
def test_a_banks_words_are_normalised(code, text, reason):
    assert normalise(code, text).code == reason


def test_only_a_receive_limit_is_retried_by_the_machine():
    assert [r.code for r in FAILURE_REASONS.values() if r.retryable] == ["receive_limit"]
    assert all(r.advice and r.label for r in FAILURE_REASONS.values())
