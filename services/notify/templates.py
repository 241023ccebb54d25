"""SMS texts: per city (the plugin's data/sms.yaml through ``CityPolicy.sms_templates``) or the
platform's own set below, checked at load and rendered with named parameters.

A text is ``${name}`` style (``string.Template``, the syntax the gateways' registered
templates use) so nothing in a city's data file is evaluated. Each parameter has a declared
longest value (``PARAMS``); a value is masked (no full ID, card or phone number) and cut to
that length when rendered. Length is counted with the signature, as the operators bill: up to
70 characters is one SMS, a longer one is split into segments of 67. A text that could need
more than two segments with its parameters at their longest is refused at load, naming the
file and the key.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from string import Template as StringTemplate
from typing import Any

from services.kernel.errors import PolicyDataError
from services.kernel.hooks import hook
from services.kernel.policy import SmsTemplates
from services.kernel.privacy import mask_text

SINGLE = 70  # characters, signature included, in one SMS
SEGMENT = 67  # per segment of a longer one (the rest carries the concatenation header)
MAX_SEGMENTS = 2

# Each parameter's longest rendered value, in characters.
PARAMS: dict[str, int] = {
    "name": 10,  # a member's name
    "unit": 30,  # a unit's name
    "city": 8,
    "year": 4,
    "amount": 10,  # "100000.00"
    "benefit": 14,
    "reason": 30,  # a reviewer's reason, cut
    "card": 4,  # the last four digits of a union card, never more
    "advice": 50,  # from the city's payout_advice (checked against its longest entry)
}

EVENTS = (
    "members_enrolled",
    "application_returned",
    "premium_paid",
    "payment_held",
    "claim_submitted",
    "claim_approved",
    "claim_returned",
    "claim_rejected",
    "payout_succeeded",
    "payout_failed",
)

# The platform's texts, for a city whose plugin has none: essential ones reach a member who
# opted out; urgent ones are sent in quiet hours (none by default: nothing here is worth
# waking somebody for).
DEFAULT_SIGNATURE = "【{city}职工互助】"
DEFAULTS: dict[str, dict[str, Any]] = {
    "members_enrolled": {
        "text": "${name}您好，您已由${unit}参加${city}${year}年度职工医疗互助。",
    },
    "application_returned": {
        "essential": True,
        "text": "${unit}${year}年度职工医疗互助申请已退回，原因：${reason}。请修改后重新提交。",
    },
    "premium_paid": {"text": "已收到${unit}${year}年度职工医疗互助金${amount}元。"},
    "payment_held": {
        "essential": True,
        "text": "${unit}汇入的互助金${amount}元暂未入账（${reason}），请与工会财务核对。",
    },
    "claim_submitted": {"text": "${name}您好，您的${benefit}申请已受理。"},
    "claim_approved": {
        "essential": True,
        "text": "${name}您好，您的${benefit}申请已审核通过，核定互助金${amount}元。",
    },
    "claim_returned": {
        "essential": True,
        "text": "${name}您好，您的${benefit}申请已退回，原因：${reason}。",
    },
    "claim_rejected": {
        "essential": True,
        "text": "${name}您好，您的${benefit}申请不予补助，原因：${reason}。",
    },
    "payout_succeeded": {
        "essential": True,
        "text": "${name}您好，互助金${amount}元已转入您尾号${card}的工会卡。",
    },
    "payout_failed": {
        "essential": True,
        "text": "${name}您好，您的互助金未能转入工会卡：${advice}",
    },
}
DEFAULT_ADVICE = {"default": "请联系单位工会核对工会卡信息。"}
_KEYS = {"text", "code", "essential", "urgent"}
# a resident ID in a text keeps its first four and last four characters only (the issue's
# rule for SMS is stricter than the lists' mask_id, which keeps the region's six)
_ID = re.compile(r"(?<!\d)(\d{4})\d{10}(\d{3}[\dXx])(?!\d)")


def segments(length: int) -> int:
    """How many SMS a text of ``length`` characters (signature included) is billed as."""
    return 1 if length <= SINGLE else math.ceil(length / SEGMENT)


@dataclass(frozen=True)
class Template:
    event: str
    text: str
    code: str  # the gateway's registered template code
    essential: bool = False
    urgent: bool = False

    @property
    def params(self) -> tuple[str, ...]:
        return tuple(StringTemplate(self.text).get_identifiers())


@dataclass(frozen=True)
class Rendered:
    template: Template
    signature: str
    params: dict[str, str]  # as the gateway's TemplateParam carries them
    text: str  # the signature and the body, as the member reads it

    @property
    def segments(self) -> int:
        return segments(len(self.text))


@dataclass(frozen=True)
class CityTemplates:
    signature: str
    templates: Mapping[str, Template]
    advice: Mapping[str, str]

    def get(self, event: str) -> Template:
        return self.templates[event]

    def advice_for(self, reason: str | None) -> str:
        return self.advice.get(reason or "", self.advice.get("default", DEFAULT_ADVICE["default"]))

    def render(self, event: str, **values: Any) -> Rendered:
        template = self.templates[event]
        params = {name: _value(name, values.get(name)) for name in template.params}
        body = StringTemplate(template.text).substitute(params)
        return Rendered(template, self.signature, params, self.signature + body)


def _value(name: str, value: Any) -> str:
    raw = _ID.sub(lambda m: m.group(1) + "*" * 10 + m.group(2), "" if value is None else str(value))
    text = mask_text(raw).strip()
    if name == "card":
        digits = "".join(ch for ch in text if ch.isdigit() or ch == "*")
        return digits[-4:]  # a card number is never in a text: its last four at most
    limit = PARAMS[name]
    return text if len(text) <= limit else text[: limit - 1] + "…"


def check(file: str, signature: str, raw: Mapping[str, Any], advice: Mapping[str, str]) -> dict:
    """The templates of ``raw`` checked (each refusal names ``file`` and the key)."""
    if not (signature.startswith("【") and signature.endswith("】") and len(signature) > 2):
        raise PolicyDataError(file, "signature", f"签名应写成【…】，现为 {signature!r}")
    longest_advice = max((len(v) for v in advice.values()), default=0)
    for reason, text in advice.items():
        if not isinstance(text, str) or not text.strip():
            raise PolicyDataError(file, f"payout_advice.{reason}", "应为一段文字")
    if longest_advice > PARAMS["advice"]:
        raise PolicyDataError(
            file,
            "payout_advice",
            f"最长一条 {longest_advice} 字，超过 {PARAMS['advice']} 字的上限",
        )
    unknown_events = sorted(set(raw) - set(EVENTS))
    if unknown_events:
        raise PolicyDataError(
            file, f"templates.{unknown_events[0]}", f"不认识的短信类型；已有: {'、'.join(EVENTS)}"
        )
    templates = {}
    for event, entry in raw.items():
        key = f"templates.{event}"
        if not isinstance(entry, Mapping) or not isinstance(entry.get("text"), str):
            raise PolicyDataError(file, f"{key}.text", "缺少短信正文")
        extra = sorted(set(entry) - _KEYS)
        if extra:
            raise PolicyDataError(file, f"{key}.{extra[0]}", "不认识的键")
        template = Template(
            event=event,
            text=entry["text"],
            code=str(entry.get("code") or event),
            essential=bool(entry.get("essential", False)),
            urgent=bool(entry.get("urgent", False)),
        )
        try:
            names = template.params
            StringTemplate(template.text).substitute({n: "" for n in names})
        except ValueError as exc:
            raise PolicyDataError(file, f"{key}.text", f"参数写法有误: {exc}") from None
        unknown = [n for n in names if n not in PARAMS]
        if unknown:
            raise PolicyDataError(
                file, f"{key}.text", f"不认识的参数 ${{{unknown[0]}}}；可用: {'、'.join(PARAMS)}"
            )
        longest = len(signature) + len(
            StringTemplate(template.text).substitute({n: "字" * PARAMS[n] for n in names})
        )
        if segments(longest) > MAX_SEGMENTS:
            raise PolicyDataError(
                file,
                f"{key}.text",
                f"连同签名及参数最长可达 {longest} 字（{segments(longest)} 条），"
                f"超过 {MAX_SEGMENTS} 条短信（{SEGMENT * MAX_SEGMENTS} 字）",
            )
        templates[event] = template
    return templates


def platform_templates(city_name: str) -> CityTemplates:
    signature = DEFAULT_SIGNATURE.format(city=city_name)
    return CityTemplates(
        signature, check("services/notify/templates.py", signature, DEFAULTS, {}), DEFAULT_ADVICE
    )


def city_templates(policy: Any, year: int) -> CityTemplates:
    """The city's texts (its plugin's, falling back per event to the platform's)."""
    found: SmsTemplates | None = hook(policy, "sms_templates")(year)
    if found is None:
        return platform_templates(policy.name)
    # the platform's text for an event the city did not write, under the city's signature
    merged = {**DEFAULTS, **found.templates}
    templates = check(found.file, found.signature, merged, found.advice)
    return CityTemplates(found.signature, templates, {**DEFAULT_ADVICE, **found.advice})
