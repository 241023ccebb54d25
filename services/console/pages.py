"""The console's HTML: Jinja2 templates (autoescaped) rendered into werkzeug responses, the
role's home page, the bad cells of an uploaded roster for the error table's preview, and
what the page modules share (limits, the clerks' roles, the refusal answering the 403 page,
downloads). Which of a service's errors a page shows: refusals.py."""

from __future__ import annotations

import io
from datetime import datetime
from pathlib import Path
from urllib.parse import quote, unquote

from jinja2 import Environment, FileSystemLoader, select_autoescape
from werkzeug.wrappers import Response

from services.access.identity import (
    CITY_REVIEWER,
    DISTRICT_CLERK,
    FINANCE,
    HELP_DESK,
    PROVINCIAL_OPERATOR,
    UNIT_CLERK,
)
from services.kernel.clock import SHANGHAI

HERE = Path(__file__).parent
ROLE_NAMES = {
    UNIT_CLERK: "单位经办人",
    DISTRICT_CLERK: "区县经办人",
    CITY_REVIEWER: "市级审核人",
    FINANCE: "财务",
    PROVINCIAL_OPERATOR: "省级运维",
    HELP_DESK: "客服",
}
HOMES = {
    UNIT_CLERK: "/console/applications",
    DISTRICT_CLERK: "/console/applications",
    CITY_REVIEWER: "/console/review",
    FINANCE: "/console/finance",
    PROVINCIAL_OPERATOR: "/console/cities",
    HELP_DESK: "/console/help",
}
STATUS_NAMES = {
    "draft": "草稿",
    "submitted": "已提交",
    "returned": "已退回",
    "approved": "已审核",
    "rejected": "不予给付",
    "paid": "已支付",
    "payout_pending": "待支付",
    "payout_failed": "支付失败",
    "payment_failed": "支付失败",  # a claim's (services/claims/rules.py), waiting for a retry
    "clawed_back": "已追回",
}
# the claim facts' names (services/kernel/policy.py ClaimFacts) as the notices write them
FACT_NAMES = {
    "benefit": "保障项目",
    "total_cost": "医疗总费用",
    "self_borne": "个人自付",
    "settled_by_insurance": "已经医保结算",
    "settled_amount": "医院结算金额",
    "cause": "原因",
    "liability": "事故责任",
    "liability_share": "责任比例",
    "grade": "伤残等级",
    "disease": "病种",
    "patient": "就医人",
    "patient_birth_date": "就医人出生日期",
    "admission_date": "入院日期",
    "discharge_date": "出院日期",
    "diagnosis_date": "确诊日期",
    "event_date": "事故日期",
    "claim_date": "申请日期",
    "place": "就医地",
    "loss_amount": "损失金额",
    "exclusion": "除外情形",
}
VALUE_NAMES = {
    True: "是",
    False: "否",
    "illness": "疾病",
    "accident": "意外",
    "traffic": "交通事故",
    "work_injury": "工伤",
    "occupational_disease": "职业病",
    "maternity": "生育",
    "fire": "火灾",
    "member": "本人",
    "child": "子女",
    "mainland": "境内",
    "abroad": "境外",
    "hong_kong": "香港",
    "macao": "澳门",
    "taiwan": "台湾",
}


def local_times(items: list[dict], *keys: str) -> list[dict]:
    """Times as people read them: Asia/Shanghai, to the minute (the services answer in UTC)."""
    for item in items:
        for key in keys:
            if item.get(key):
                moment = datetime.fromisoformat(item[key]).astimezone(SHANGHAI)
                item[key] = moment.strftime("%Y-%m-%d %H:%M")
    return items


def fact_value(value):
    if isinstance(value, bool) or isinstance(value, str):
        return VALUE_NAMES.get(value, value)
    return value


_env = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.globals.update(
    role_names=ROLE_NAMES, status_names=STATUS_NAMES, fact_names=FACT_NAMES, fact_value=fact_value
)


def render(name: str, status: int = 200, **context) -> Response:
    html = _env.get_template(name).render(**context)
    return Response(html, status=status, content_type="text/html; charset=utf-8")


def redirect(location: str) -> Response:
    """303: after a POST the browser GETs the next page (no resubmission on reload)."""
    return Response("", status=303, headers={"Location": location})


# what /console/static/ serves: small hand-written files, no build chain and no CDN
STATIC = {
    "console.css": "text/css; charset=utf-8",
    "upload.js": "text/javascript; charset=utf-8",
}


def static_file(name: str) -> Response | None:
    """One of the console's own static files (None for any other name)."""
    if name not in STATIC:
        return None
    text = (HERE / "static" / name).read_text(encoding="utf-8")
    return Response(
        text,
        content_type=STATIC[name],
        headers={"Cache-Control": "max-age=3600", "X-Content-Type-Options": "nosniff"},
    )


def bad_rows(content: bytes, filename: str, answer: dict, limit: int = 50) -> list[dict]:
    """The rows of the upload that hold an error, each cell's text and whether it is bad: the
    page shows the clerk the row as she typed it, the bad cells highlighted. Only .xlsx is
    previewed (the table of errors stands for other formats)."""
    from openpyxl import load_workbook
    from openpyxl.utils.cell import column_index_from_string, coordinate_from_string

    marked: dict[int, set[int]] = {}
    for error in answer.get("errors") or []:
        if error.get("sheet") is not None or not error.get("cell"):
            continue  # the application sheet's (申请表) cells: named in the table
        try:
            letters, row = coordinate_from_string(error["cell"])
        except ValueError:
            continue
        marked.setdefault(row, set()).add(column_index_from_string(letters))
    if not marked or not filename.lower().endswith(".xlsx"):
        return []
    try:
        book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception:  # the import's own reading already named what is wrong with the file
        return []
    try:
        name = answer.get("sheet")
        sheet = book[name] if name in book.sheetnames else book[book.sheetnames[-1]]
        preview = []
        for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            if number not in marked:
                continue
            cols = marked[number]
            width = max(len(values), max(cols))
            cells = [
                {
                    "text": "" if i >= len(values) or values[i] is None else str(values[i]),
                    "bad": (i + 1) in cols,
                }
                for i in range(width)
            ]
            preview.append({"row": number, "cells": cells})
            if len(preview) >= limit:
                break
        return preview
    finally:
        book.close()


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CLERKS = {UNIT_CLERK, DISTRICT_CLERK}
UPLOAD_LIMIT = 16 * 1024 * 1024
# the facts the clerk's claim form asks (services/kernel/policy.py ClaimFacts); the rest of a
# benefit's facts come with the claims service's own checks naming what is missing
CLAIM_FACTS = (
    "benefit",
    "total_cost",
    "self_borne",
    "admission_date",
    "discharge_date",
    "diagnosis_date",
    "disease",
    "cause",
)


class Refused(Exception):
    """The 403 page: another unit's (or city's) page, or one that does not exist."""


def number(text) -> int | None:
    text = (text or "").strip() if isinstance(text, str) else text
    return int(text) if isinstance(text, str) and text.isdigit() else None


def download(data: bytes, filename: str, content_type: str) -> Response:
    return Response(
        data,
        content_type=content_type,
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename)}"},
    )


# a claim's document shown in the page: an image or a PDF, nothing in it may run, fetch,
# submit or be framed by another site (the claim page, same origin, embeds it)
DOCUMENT_POLICY = (
    "default-src 'none'; img-src 'self'; object-src 'self'; frame-ancestors 'self'; "
    "base-uri 'none'; form-action 'none'"
)


def inline(data: bytes, filename: str, content_type: str) -> Response:
    """A file to show in the browser (a claim's document): its type as the owning service
    read it from the content, never sniffed, and kept out of shared caches."""
    return Response(
        data,
        content_type=content_type,
        headers={
            "Content-Disposition": f"inline; filename*=UTF-8''{quote(filename, safe='')}",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": DOCUMENT_POLICY,
            "X-Frame-Options": "SAMEORIGIN",
            "Cache-Control": "private, no-store",
            "Referrer-Policy": "no-referrer",
        },
    )


def filename_of(disposition: str) -> str | None:
    marker = "filename*=UTF-8''"
    if marker in disposition:
        return unquote(disposition.split(marker, 1)[1].split(";", 1)[0])
    return None
