"""Roster import benchmark (issue 4): a generated roster imported end to end, beside its floor.

    .venv/bin/python -m tests.bench.bench_roster_import [--rows N] [--postgres ADMIN_URL]
                                                        [--repeat N]

Not a timed test (the file name keeps pytest from collecting it; tests/bench/test_bench_smoke.py
runs it small so it cannot rot). It writes a roster of N made-up people (default 100 000) in
Quzhou's 2025 format as .xlsx (openpyxl, write-only) and as .xls (xlwt). A .xls sheet holds at
most 65 536 rows: that is BIFF8's limit (Excel 97-2003 itself), not only xlwt's, and the reader
takes one roster sheet, so the .xls roster is not split but holds min(N, 65 533) people (three
rows are the title, 填表日期 and the header). Then, for each file and each database (a SQLite
file; a throwaway PostgreSQL database when --postgres names a server's admin database), two
measurements:

- floor: python-calamine reads every row of the roster sheet into Python and the same rows go
  into roster_lines in one bulk insert by the driver's fastest means (sqlite3 ``executemany``,
  psycopg ``COPY``), in one transaction. Nothing is checked: no import can be cheaper.
- import: ``applications.import_roster`` on a session, as the service calls it, and the commit:
  find the header, check every row, ask who is enrolled elsewhere, store the lines.

Each (file, database, floor|import) runs in a fresh interpreter, so one cannot warm up or bloat
another: once untraced for the time (best of --repeat) and the memory the process really took,
then once more under tracemalloc. The two memory figures:

- rss +: the process's peak resident size during the work minus its size just before, from
  the first untraced run: everything, calamine's (Rust), SQLite's and libpq's own buffers too,
  in whole pages and as the allocator keeps them. Linux only: the peak (VmHWM) is reset through
  /proc/self/clear_refs just before the work. getrusage's ``ru_maxrss`` cannot be used, as a
  child keeps the peak of the parent it was forked from (the one that wrote the files).
- py peak: tracemalloc's peak, the Python objects alive at one time (cells, members, row
  dicts); blind to what native code allocates for itself.

The last line runs the import again on a tenth of the rows, to compare memory with file size.
These machines are 2 cores and noisy: read the ratios, not the absolute times.
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import os
import platform
import sqlite3
import subprocess
import sys
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from importlib.metadata import version
from pathlib import Path

import openpyxl
import xlwt
from python_calamine import CalamineWorkbook
from sqlalchemy import func, select

from services.enrollment import applications as ops
from services.enrollment.models import RosterLine, metadata, new_id
from services.kernel.policy import RosterFormat
from services.kernel.registry import load_registry
from services.messaging.database import make_engine, make_session_factory, session_scope
from tests.enrollment.samples import person

MODULE = "tests.bench.bench_roster_import"
ROOT = Path(__file__).resolve().parents[2]
CITY, YEAR = "quzhou", 2025
TOP_ROWS = 3  # the sheet's title, 填表日期 and header rows above the people
XLS_SHEET_ROWS = 65_536  # BIFF8 (Excel 97-2003): rows in one sheet
COLUMNS = (
    "id",
    "application_id",
    "city",
    "year",
    "excel_row",
    "name",
    "sex",
    "id_number",
    "birth_date",
    "phone",
    "extra",
)
_SEX = {"男": "male", "女": "female"}


# -- the roster files ----------------------------------------------------------------------


def roster_rows(fmt: RosterFormat, people: int) -> Iterator[list]:
    """The roster sheet as a clerk fills it: title, 填表日期, header, then one row a person."""
    yield [fmt.title]
    yield ["填表日期：2024年11月1日"]
    yield [column.titles[0] for column in fmt.columns]
    for i in range(people):
        p = person(i)
        cells = {
            "seq": i + 1,
            "name": p.name,
            "sex": p.sex,
            "id_number": p.id_number,
            "phone": p.phone,
        }
        yield [cells.get(column.field) for column in fmt.columns]  # 备注 left blank


def write_xlsx(path: Path, fmt: RosterFormat, people: int) -> Path:
    book = openpyxl.Workbook(write_only=True)
    book.create_sheet(fmt.application_sheet or "Sheet1").append(["申请表"])
    sheet = book.create_sheet(fmt.sheet)
    for row in roster_rows(fmt, people):
        sheet.append(row)
    book.save(path)
    return path


def write_xls(path: Path, fmt: RosterFormat, people: int) -> Path:
    book = xlwt.Workbook(encoding="utf-8")
    book.add_sheet(fmt.application_sheet or "Sheet1").write(0, 0, "申请表")
    sheet = book.add_sheet(fmt.sheet)
    for r, row in enumerate(roster_rows(fmt, people)):
        for c, value in enumerate(row):
            if value is not None:
                sheet.write(r, c, value)
    book.save(str(path))
    return path


# -- one measurement, in its own interpreter -------------------------------------------------


def floor(data: bytes, engine, application, fmt: RosterFormat) -> int:
    """calamine's rows into Python, then the same rows in one bulk insert; nothing checked."""
    at = {column.field: i for i, column in enumerate(fmt.columns)}
    name, sex, number, phone = at["name"], at["sex"], at["id_number"], at["phone"]
    app_id, city, year = application.id, application.city, application.year
    sheet = CalamineWorkbook.from_filelike(io.BytesIO(data)).get_sheet_by_name(fmt.sheet)
    lines = []
    for excel_row, cells in enumerate(sheet.iter_rows(), start=1):
        if excel_row <= TOP_ROWS:
            continue
        n = cells[number]
        born = f"{n[6:10]}-{n[10:12]}-{n[12:14]}"  # the import stores these values too:
        # sex in words, the birth date from the ID, no other columns (``extra`` JSON null)
        lines.append(
            (new_id(), app_id, city, year, excel_row, cells[name], _SEX[cells[sex]], n, born,
             cells[phone], "null")
        )  # fmt: skip
    names = ", ".join(COLUMNS)
    with engine.begin() as connection:
        raw = connection.connection.dbapi_connection
        if isinstance(raw, sqlite3.Connection):
            marks = ", ".join("?" * len(COLUMNS))
            raw.executemany(f"INSERT INTO roster_lines ({names}) VALUES ({marks})", lines)
        else:
            with (
                raw.cursor() as cursor,
                cursor.copy(f"COPY roster_lines ({names}) FROM STDIN") as copy,
            ):
                for line in lines:
                    copy.write_row(line)
    return len(lines)


def import_through_service(data: bytes, engine, application, policy, filename: str) -> int:
    """What the service does with an upload: import_roster in a transaction, then commit."""
    with session_scope(make_session_factory(engine)) as session:
        result = ops.import_roster(
            session,
            policy,
            application_id=application.id,
            data=data,
            filename=filename,
            actor="bench",
        )
        if not result.importable:
            raise RuntimeError(f"the generated roster has errors: {result.errors[:3]}")
        return len(result.members)


def prepare(url: str, policy, people: int):
    """Empty tables, one unit and its draft application; the engine and the application."""
    engine = make_engine(url, pool_size=2)
    metadata().drop_all(engine)
    metadata().create_all(engine)
    with session_scope(make_session_factory(engine)) as session:
        unit = ops.register_unit(
            session, policy, year=YEAR, unit_key="BENCH0001", name="基准测试单位工会",
            district="龙游县", nature="public", staff_total=people, staff_insured=people,
        )  # fmt: skip
        application = ops.open_application(
            session, policy, unit_id=unit.id, year=YEAR, participants=people, actor="bench"
        )
    return engine, application


def _reset_peak_rss() -> int | None:
    """Reset the process's peak resident size to its current size, in bytes (None: not Linux)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return None
    return _status_bytes("VmRSS")


def _status_bytes(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024  # reported in kB
    raise RuntimeError(f"no {field} in /proc/self/status")


def measure(spec: dict) -> dict:
    """Time one step (best of ``repeat``) and its memory; run by the child interpreter."""
    policy = load_registry().get(CITY)
    fmt = policy.roster_format(YEAR)
    path = Path(spec["file"])
    data = path.read_bytes()
    figures: dict = {"seconds": None}
    for attempt in range(spec["repeat"] + 1):
        traced = attempt == spec["repeat"]  # the last run, under tracemalloc
        engine, application = prepare(spec["url"], policy, spec["people"])
        gc.collect()
        if traced:
            tracemalloc.start()
        before = _reset_peak_rss()
        start = time.perf_counter()
        if spec["step"] == "floor":
            stored = floor(data, engine, application, fmt)
        else:
            stored = import_through_service(data, engine, application, policy, path.name)
        seconds = time.perf_counter() - start
        if traced:
            figures["py_peak"] = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        else:
            if attempt == 0:
                figures["rss"] = None if before is None else _status_bytes("VmHWM") - before
            figures["seconds"] = min(seconds, figures["seconds"] or seconds)
        with engine.connect() as connection:
            lines = connection.scalar(select(func.count()).select_from(RosterLine))
        if not stored == lines == spec["people"]:
            raise RuntimeError(f"{spec['step']}: {stored} rows read, {lines} stored")
        engine.dispose()
    return figures


def run_child(spec: dict) -> dict:
    """``measure(spec)`` in a fresh interpreter."""
    done = subprocess.run(
        [sys.executable, "-m", MODULE, "--measure", json.dumps(spec)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{spec['step']} on {spec['file']} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- databases -----------------------------------------------------------------------------


@contextmanager
def throwaway_postgres(admin_url: str) -> Iterator[str]:
    """A fresh database on the server of ``admin_url``, dropped afterwards (as tests/conftest)."""
    import psycopg

    name = f"mutual_aid_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = admin_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# -- the report ----------------------------------------------------------------------------


def _mb(size: int | None) -> str:
    return "-" if size is None else f"{size / 1e6:.1f} MB"


def _row(*cells: object) -> str:
    widths = (5, 11, 7, 8, 8, 8, 10, 10)
    text = [f"{str(c):<{w}}" for c, w in zip(cells, widths, strict=False)]
    return " ".join(text + [str(c) for c in cells[len(widths) :]]).rstrip()


def _versions(postgres: str | None) -> str:
    parts = [
        f"{os.cpu_count()} CPUs",
        f"Python {platform.python_version()}",
        f"SQLAlchemy {version('SQLAlchemy')}",
        f"python-calamine {version('python-calamine')}",
        f"SQLite {sqlite3.sqlite_version}",
    ]
    if postgres:
        import psycopg

        with psycopg.connect(postgres) as conn:
            server = conn.execute("SHOW server_version").fetchone()[0].split()[0]
        parts += [f"psycopg {version('psycopg')}", f"PostgreSQL {server}"]
    return ", ".join(parts)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=f"python -m {MODULE}", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--rows", type=int, default=100_000, help="people in the roster")
    parser.add_argument(
        "--postgres",
        metavar="ADMIN_URL",
        help="also on PostgreSQL: a server's admin database, e.g. "
        "postgresql://postgres@127.0.0.1:5432/postgres (a throwaway database is made there)",
    )
    parser.add_argument("--repeat", type=int, default=1, help="timed runs per step (the best)")
    parser.add_argument("--measure", help=argparse.SUPPRESS)  # the child's one measurement
    args = parser.parse_args(argv)
    if args.measure:
        print(json.dumps(measure(json.loads(args.measure))))
        return 0
    if args.rows < 10:
        parser.error("--rows: at least 10")

    fmt = load_registry().get(CITY).roster_format(YEAR)
    print(f"Roster import benchmark: {_versions(args.postgres)}")
    with tempfile.TemporaryDirectory(prefix="roster-bench-") as tmp:
        work = Path(tmp)
        files = []
        for suffix, write, people in (
            ("xlsx", write_xlsx, args.rows),
            ("xls", write_xls, min(args.rows, XLS_SHEET_ROWS - TOP_ROWS)),
        ):
            start = time.perf_counter()
            path = write(work / f"roster-{people}.{suffix}", fmt, people)
            files.append((suffix, path, people))
            note = ""
            if people < args.rows:
                note = f"; a .xls sheet holds {XLS_SHEET_ROWS} rows, 3 are title and header"
            print(
                f"  {path.name}: {people} people, {path.stat().st_size / 1e6:.1f} MB, "
                f"written in {time.perf_counter() - start:.1f} s{note}"
            )
        print()
        print(_row("file", "database", "step", "rows", "seconds", "rows/s", "py peak", "rss +",
                   "import/floor (time, py peak, rss)"))  # fmt: skip
        with _databases(work, args.postgres) as databases:
            for suffix, path, people in files:
                for label, url in databases:
                    got = {}
                    for step in ("floor", "import"):
                        spec = {"step": step, "file": str(path), "people": people,
                                "url": url(f"{suffix}-{step}"), "repeat": args.repeat}  # fmt: skip
                        got[step] = figures = run_child(spec)
                        ratio = ""
                        if step == "import":
                            base = got["floor"]
                            ratio = ", ".join(
                                f"{figures[k] / base[k]:.2f}x" if base[k] else "-"
                                for k in ("seconds", "py_peak", "rss")
                            )
                        print(
                            _row(suffix, label, step, people, f"{figures['seconds']:.2f}",
                                 f"{people / figures['seconds']:,.0f}", _mb(figures["py_peak"]),
                                 _mb(figures["rss"]), ratio)
                        )  # fmt: skip
                        if suffix == "xlsx" and label == "sqlite" and step == "import":
                            large = figures
        small_rows = args.rows // 10
        small = write_xlsx(work / f"roster-{small_rows}.xlsx", fmt, small_rows)
        spec = {"step": "import", "file": str(small), "people": small_rows, "repeat": 1,
                "url": f"sqlite:///{work}/small.sqlite"}  # fmt: skip
        little = run_child(spec)
        print()
        growth = ", ".join(
            f"{large[k] / little[k]:.1f}x {label}" if little[k] and large[k] else f"- {label}"
            for k, label in (("py_peak", "py peak"), ("rss", "rss"))
        )
        print(
            f"memory against file size (xlsx, sqlite, import): {small_rows} rows py peak "
            f"{_mb(little['py_peak'])}, rss +{_mb(little['rss'])}; {args.rows} rows py peak "
            f"{_mb(large['py_peak'])}, rss +{_mb(large['rss'])}: 10x the rows took {growth}"
        )
    if not args.postgres:
        print("PostgreSQL not measured: give --postgres ADMIN_URL")
    return 0


@contextmanager
def _databases(work: Path, postgres: str | None) -> Iterator[list]:
    """(label, url for a step) for SQLite, and PostgreSQL when asked."""
    found = [("sqlite", lambda step: f"sqlite:///{work}/{step}.sqlite")]
    if not postgres:
        yield found
        return
    with throwaway_postgres(postgres) as url:
        yield [*found, ("postgresql", lambda step: url)]


if __name__ == "__main__":
    sys.exit(main())
