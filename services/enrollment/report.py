"""The error report handed back for a roster that cannot be imported.

The clerk gets their own sheet back, cell for cell at the same row numbers, with every bad
cell filled light red (a warning light yellow) and a 错误原因 column beside each row saying
what to correct, plus a 错误清单 sheet listing the same issues one per line (an issue on
Sheet1, the 申请表, only there, its cell named with the sheet: Sheet1!B7). ``report_data`` is
the same report as a JSON-able dict. The sheet's values are read again from the upload (the
check itself keeps none of them) and written with openpyxl's write-only mode, so a large
roster costs one row at a time.
"""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from python_calamine import CalamineWorkbook

from services.enrollment.roster import Issue, RosterResult, load_source, sheet_rows
from services.enrollment.workbook import DEFAULT_LIMITS, WorkbookLimits, open_workbook

REASON_TITLE = "错误原因"
ERROR_FILL = PatternFill("solid", fgColor="FFC7CE")  # light red
WARNING_FILL = PatternFill("solid", fgColor="FFEB9C")  # light yellow
_RED = Font(color="9C0006")
_BOLD = Font(bold=True)
_WRAP = Alignment(wrap_text=True, vertical="top")


def report_data(result: RosterResult) -> dict:
    """The report as JSON: the result's summary, each issue also naming its cell (D7)."""
    data = result.to_dict()
    for key, issues in (("errors", result.errors), ("warnings", result.warnings)):
        data[key] = [dict(i.to_dict(), cell=_cell(i)) for i in issues]
    return data


def write_report(
    source: bytes | str | os.PathLike | CalamineWorkbook,
    result: RosterResult,
    out: str | os.PathLike,
    filename: str | None = None,
    limits: WorkbookLimits = DEFAULT_LIMITS,
) -> Path:
    """Write the report workbook for the upload ``source`` that produced ``result``: the
    workbook the check already opened (an upload is opened once, issue 14), or its bytes or
    path (opened under the same ``limits`` as the import was)."""
    if isinstance(source, CalamineWorkbook):
        book = source
    else:
        data, filename = load_source(source, filename)
        book = open_workbook(data, filename, limits)
    uploaded = book.get_sheet_by_name(result.sheet)
    fills: dict[tuple[int, int], PatternFill] = {}
    reasons: dict[int, list[str]] = defaultdict(list)
    for kind, issue in _issues(result):
        if issue.sheet is not None:
            continue  # Sheet1's (申请表) issues: in the 错误清单, by sheet and cell
        if fills.get((issue.row, issue.col)) is not ERROR_FILL:
            fills[(issue.row, issue.col)] = ERROR_FILL if kind == "错误" else WARNING_FILL
        label = "" if kind == "错误" else "（提示）"
        reasons[issue.row].append(f"{label}{issue.column}：{issue.reason}")
    used = uploaded.end[1] + 1 if uploaded.end else 0
    reason_col = max(used, *(c.col for c in result.columns)) + 1

    report = Workbook(write_only=True)
    sheet = report.create_sheet(result.sheet[:31])
    # write-only sheets take their views and column widths before the first row
    sheet.freeze_panes = f"A{result.header_row + 1}"
    sheet.column_dimensions[get_column_letter(reason_col)].width = 60
    for excel_row, first_col, cells in sheet_rows(uploaded):
        line: list = [None] * (first_col - 1)
        for offset, value in enumerate(cells):
            fill = fills.get((excel_row, first_col + offset)) if excel_row in reasons else None
            line.append(_copy(sheet, value, fill))
        line.extend([None] * (reason_col - 1 - len(line)))
        if excel_row == result.header_row:
            title = WriteOnlyCell(sheet, value=REASON_TITLE)
            title.font = _BOLD
            line.append(title)
        elif excel_row in reasons:
            note = WriteOnlyCell(sheet, value="；".join(reasons[excel_row]))
            note.font = _RED
            note.alignment = _WRAP
            line.append(note)
        sheet.append(line)
    _issue_list(report, result)
    path = Path(out)
    report.save(path)
    return path


def _copy(sheet, value, fill: PatternFill | None):
    """One uploaded value, as a plain value where it can be (write-only mode is fastest so)."""
    if value == "":
        value = None
    elif isinstance(value, str):
        value = ILLEGAL_CHARACTERS_RE.sub("", value)
        if value.startswith("="):  # text that looks like a formula stays text
            cell = WriteOnlyCell(sheet, value=value)
            cell.data_type = "s"
            if fill is not None:
                cell.fill = fill
            return cell
    if fill is None:
        return value
    cell = WriteOnlyCell(sheet, value=value)
    cell.fill = fill
    return cell


def _issue_list(report: Workbook, result: RosterResult) -> None:
    sheet = report.create_sheet("错误清单")
    for letter, width in zip("ABCDE", (8, 8, 16, 8, 70), strict=True):
        sheet.column_dimensions[letter].width = width
    header = []
    for title in ("行号", "单元格", "列", "类型", "原因"):
        cell = WriteOnlyCell(sheet, value=title)
        cell.font = _BOLD
        header.append(cell)
    sheet.append(header)
    for kind, issue in _issues(result):
        cell = _cell(issue)
        if issue.sheet is not None and cell:
            cell = f"{issue.sheet}!{cell}"
        sheet.append([issue.row, cell, issue.column, kind, issue.reason])


def _issues(result: RosterResult):
    for issue in result.errors:
        yield "错误", issue
    for issue in result.warnings:
        yield "提示", issue


def _cell(issue: Issue) -> str:
    return f"{get_column_letter(issue.col)}{issue.row}" if issue.col else ""
