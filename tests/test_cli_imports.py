"""What a short CLI command imports (issue 14): start time is paid in imports, so `cities`,
`quote` and `assess` must not pull in the database, the bus or modules they do not use.
A test of what is imported, not of time (tests/bench/bench_cli_start.py measures the time)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

PROBE = """
import contextlib, glob, io, json, sys
# this checkout's plugin packages, not the ones the venv was installed from (a worktree)
sys.path[:0] = sorted(glob.glob("plugins/*"))
from services.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    code = main(sys.argv[1:])
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""
NEVER = (
    "sqlalchemy",
    "nameko",
    "eventlet",
    "psycopg",
    "openpyxl",
    "python_calamine",
    "jwt",
    "cryptography",
)


def imported(root, *args: str) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        capture_output=True,
        text=True,
        cwd=root,
        timeout=120,
        check=True,
    )
    answer = json.loads(done.stdout.splitlines()[-1])
    assert answer["code"] == 0, done.stderr
    return {name.split(".")[0] for name in answer["modules"]} | set(answer["modules"])


def test_cities_imports_neither_marshmallow_nor_the_database_nor_the_bus(root):
    modules = imported(root, "cities")
    assert "services.kernel.registry" in modules  # the probe did run the command
    assert "mutual_aid_keqiao" in modules  # every plugin's package, listed
    for name in (*NEVER, "cn2an", "marshmallow", "importlib.metadata"):
        assert name not in modules, name


@pytest.mark.parametrize(
    "args",
    [
        ("quote", "--city", "quzhou", "--year", "2025", "examples/quote-quzhou-2025.json"),
        ("assess", "--city", "wujin", "--year", "2024", "examples/assess-wujin-2024.json"),
    ],
    ids=["quote", "assess"],
)
def test_quote_and_assess_load_only_the_city_asked_for_without_marshmallow(root, args):
    """Nor marshmallow: a well-formed year file and well-formed facts are loaded by their
    fastload records (services/kernel/fastload.py); the schemas only for the full diagnosis.
    Nor importlib.metadata: the one entry point is read by registry.plain_entry_points."""
    modules = imported(root, *args)
    assert "services.kernel.fastload" in modules  # the probe did load a year file
    for name in (*NEVER, "cn2an", "marshmallow", "importlib.metadata"):
        assert name not in modules, name
    asked = f"mutual_aid_{args[2]}"
    assert asked in modules
    others = {
        "mutual_aid_quzhou",
        "mutual_aid_wujin",
        "mutual_aid_zhangjiakou",
        "mutual_aid_keqiao",
    }
    assert not (modules & (others - {asked}))


def test_assess_does_not_import_cn2an(root):
    modules = imported(
        root, "assess", "--city", "wujin", "--year", "2024", "examples/assess-wujin-2024.json"
    )
    assert "cn2an" not in modules


def test_a_bad_fact_is_still_worded_by_the_schema(root, tmp_path):
    """The fast path defers what it is not sure of: the same one-line message as before."""
    bad = tmp_path / "claim.json"
    bad.write_text('{"claim": {"benefit": "inpatient", "self_borne": "1e3"}}', encoding="utf-8")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "services.cli",
            "assess",
            "--city",
            "wujin",
            "--year",
            "2024",
            str(bad),
        ],
        capture_output=True,
        text=True,
        cwd=root,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.startswith(
        "mutual-aid: claim 事实有误: self_borne: self_borne 应为普通的小数写法"
    )
