"""The console's HTML: Jinja2 templates (autoescaped) rendered into werkzeug responses, the
role's home page, and the bad cells of an uploaded roster for the error table's preview."""

from __future__ import annotations

import io
from pathlib import Path

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
    HELP_DESK: "/console/review",
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
}

_env = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.globals.update(role_names=ROLE_NAMES, status_names=STATUS_NAMES)


def render(name: str, status: int = 200, **context) -> Response:
    html = _env.get_template(name).render(**context)
    return Response(html, status=status, content_type="text/html; charset=utf-8")


def redirect(location: str) -> Response:
    """303: after a POST the browser GETs the next page (no resubmission on reload)."""
    return Response("", status=303, headers={"Location": location})


def stylesheet() -> Response:
    css = (HERE / "static" / "console.css").read_text(encoding="utf-8")
    return Response(
        css,
        content_type="text/css; charset=utf-8",
        headers={"Cache-Control": "max-age=3600"},
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
