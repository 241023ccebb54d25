"""Masking: personal numbers never appear in full in lists, SMS or logs."""

from __future__ import annotations

import logging
import re

import pytest

from services.kernel.privacy import MaskingFilter, mask_card, mask_id, mask_phone, mask_text

ID = "11010519491231002X"
PHONE = "13812345678"
CARD = "6222021234567890123"


def test_mask_id_keeps_region_and_last_four_only():
    masked = mask_id(ID)
    assert masked == "110105********002X"
    assert len(masked) == len(ID)
    assert "19491231" not in masked  # the birth date is hidden


def test_mask_phone():
    masked = mask_phone(PHONE)
    assert masked == "138****5678"
    assert PHONE not in masked


@pytest.mark.parametrize(
    ("card", "masked"), [(CARD, "6222***********0123"), ("6222 0212 3456 7890", "6222********7890")]
)
def test_mask_card_shows_first_and_last_four(card, masked):
    assert mask_card(card) == masked
    assert card.replace(" ", "") not in mask_card(card)


@pytest.mark.parametrize(
    ("mask", "value"), [(mask_id, "123456789"), (mask_phone, "123456"), (mask_card, "1234567")]
)
def test_short_values_are_wholly_hidden(mask, value):
    assert set(mask(value)) == {"*"}


def test_mask_text_masks_every_kind_of_number():
    text = f"会员 {ID} 手机 {PHONE} 工会卡 {CARD} 补助 350.00 元"
    masked = mask_text(text)
    for secret in (ID, PHONE, CARD):
        assert secret not in masked
    assert "110105********002X" in masked
    assert "138****5678" in masked
    assert "补助 350.00 元" in masked  # ordinary numbers are left alone


@pytest.mark.parametrize("phone", ["+8613812345678", "008613812345678", "tel:13812345678"])
def test_mask_text_masks_a_mobile_with_a_prefix(phone):
    masked = mask_text(f"联系 {phone}")
    assert PHONE not in masked
    assert "138****5678" in masked


def test_mask_text_masks_a_lower_case_x_id():
    assert "19491231" not in mask_text("id=11010519491231002x")


@pytest.fixture
def masked_logger():
    logger = logging.getLogger("tests.kernel.privacy")
    masking = MaskingFilter()
    logger.addFilter(masking)
    yield logger
    logger.removeFilter(masking)


def test_masking_filter_scrubs_ids_and_phones_from_log_records(masked_logger, caplog):
    with caplog.at_level(logging.INFO, logger=masked_logger.name):
        masked_logger.info("enrolled %s, mobile %s", ID, PHONE)
        masked_logger.warning("payout to card %s for +86%s failed", CARD, PHONE)
    assert len(caplog.records) == 2  # masked, not dropped
    for secret in (ID, PHONE, CARD):
        assert secret not in caplog.text
        assert not any(secret in r.getMessage() for r in caplog.records)
    assert "enrolled 110105********002X, mobile 138****5678" in caplog.text
    assert "+86138****5678" in caplog.text


def test_masking_filter_on_a_handler(tmp_path):
    logger = logging.getLogger("tests.kernel.privacy.handler")
    logger.propagate = False
    path = tmp_path / "app.log"
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.addFilter(MaskingFilter())
    logger.addHandler(handler)
    try:
        logger.error("claim by %s", ID)
    finally:
        logger.removeHandler(handler)
        handler.close()
    written = path.read_text(encoding="utf-8")
    assert ID not in written
    assert re.search(r"claim by 110105\*{8}002X", written)


def test_masking_filter_leaves_other_records_alone(masked_logger, caplog):
    with caplog.at_level(logging.INFO, logger=masked_logger.name):
        masked_logger.info("paid %s yuan", "350.00")
    assert caplog.records[0].args == ("350.00",)
    assert caplog.records[0].getMessage() == "paid 350.00 yuan"
