"""City texts: rendered with named parameters, masked, counted with the signature, and a text
that could need three SMS refused at load naming the file and the key."""

from __future__ import annotations

import pytest
import yaml

from services.kernel.errors import PolicyDataError
from services.notify.templates import city_templates, platform_templates, segments


def test_segments_count_seventy_then_sixty_seven():
    assert [segments(n) for n in (1, 70, 71, 134, 135)] == [1, 1, 2, 2, 3]


def test_zhangjiakou_approved_text_carries_signature_and_amount(zhangjiakou):
    texts = city_templates(zhangjiakou, 2024)
    rendered = texts.render("claim_approved", name="王芳", benefit="住院补助", amount="1234.50")
    assert rendered.text.startswith("【张家口市总工会】王芳您好")
    assert "1234.50元" in rendered.text
    assert rendered.params == {"name": "王芳", "benefit": "住院补助", "amount": "1234.50"}
    assert rendered.template.code == "SMS_ZJK_CLAIM_APPROVED" and rendered.template.essential


def test_no_full_id_or_card_number_reaches_a_text(zhangjiakou):
    texts = city_templates(zhangjiakou, 2024)
    reason = "身份证号130702199001011234与名册不符"
    returned = texts.render("claim_returned", name="王芳", benefit="住院补助", reason=reason)
    assert "130702199001011234" not in returned.text and "1307**********1234" in returned.text
    paid = texts.render("payout_succeeded", name="王芳", amount="10.00", card="6222020402012345678")
    assert "尾号5678的" in paid.text and "62220204" not in paid.text


def test_payout_failed_tells_what_to_do_from_the_city_data(zhangjiakou):
    texts = city_templates(zhangjiakou, 2024)
    text = texts.render(
        "payout_failed", name="王芳", advice=texts.advice_for("frozen_or_dormant")
    ).text
    assert "张家口银行" in text and "激活" in text


def test_a_city_without_texts_gets_the_platform_set():
    class Bare:
        name = "某市"

    texts = city_templates(Bare(), 2024)
    assert texts.signature == "【某市职工互助】"
    assert set(texts.templates) == set(platform_templates("某市").templates)


def test_a_text_that_can_exceed_two_segments_is_refused_with_file_and_key(zhangjiakou, tmp_path):
    data = yaml.safe_load((zhangjiakou.data_dir / "sms.yaml").read_text(encoding="utf-8"))
    data["templates"]["claim_returned"]["text"] = "${name}您好，" + "请" * 90 + "原因：${reason}。"
    (tmp_path / "sms.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")
    broken = type(zhangjiakou)(data_dir=tmp_path)
    with pytest.raises(PolicyDataError) as refused:
        city_templates(broken, 2024)
    assert refused.value.file == "zhangjiakou/data/sms.yaml"
    assert refused.value.key == "templates.claim_returned.text"
    assert "超过 2 条短信" in str(refused.value)


def test_an_unknown_parameter_is_refused(zhangjiakou, tmp_path):
    data = yaml.safe_load((zhangjiakou.data_dir / "sms.yaml").read_text(encoding="utf-8"))
    data["templates"]["claim_approved"]["text"] = "${name}的身份证${id_number}"
    (tmp_path / "sms.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")
    with pytest.raises(PolicyDataError, match="id_number"):
        city_templates(type(zhangjiakou)(data_dir=tmp_path), 2024)
