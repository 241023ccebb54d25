"""`city new`: from each installed city (and blank), built, installed, listed by `cities`,
passing `city check`, its cases run by the shared harness; a removed citation or case makes
the check fail naming it (issue 13, done-when).

Installed for real but not into the shared venv: `pip install --target` a throwaway folder
(wheels built from the scaffolded projects, their dist-info and entry points included), and
the CLI run with that folder on PYTHONPATH — what `pip install -e` gives, in seconds.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ORIGINS = ("zhangjiakou", "wujin", "quzhou", "keqiao")


def code_for(origin: str) -> str:
    return f"new_{origin}"


@pytest.fixture(scope="module")
def installed(tmp_path_factory, cli_path, root):
    """Scaffold five cities with the CLI, install them into a --target folder."""
    base = tmp_path_factory.mktemp("onboarding")
    plugins, target = base / "plugins", base / "site"
    env = {
        **os.environ,
        "PYTHONIOENCODING": "utf-8",
        "PYTHONPATH": os.pathsep.join([str(target), os.environ.get("PYTHONPATH", "")]),
    }

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(cli_path), *args],
            capture_output=True,
            text=True,
            encoding="utf-8",
            env=env,
            cwd=root,
            timeout=120,
            check=False,
        )

    for origin in ORIGINS:
        made = cli("city", "new", code_for(origin), "--name", f"新{origin}", "--from", origin,
                   "--dir", str(plugins))  # fmt: skip
        assert made.returncode == 0, made.stderr
    blank = cli(
        "city", "new", "blankville", "--name", "宣化", "--dir", str(plugins), "--year", "2026"
    )
    assert blank.returncode == 0, blank.stderr
    projects = sorted(str(p) for p in plugins.iterdir())
    pip = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation",
         "--no-index", "--disable-pip-version-check", "-q", "--target", str(target), *projects],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert pip.returncode == 0, pip.stderr
    return cli, plugins, target, env


@pytest.mark.slow
def test_the_new_cities_are_listed(installed):
    cli, *_ = installed
    listed = json.loads(cli("cities").stdout)
    by_code = {c["code"]: c for c in listed["cities"]}
    assert not listed["failed"], listed["failed"]
    for origin in ORIGINS:
        city = by_code[code_for(origin)]
        assert city["name"] == f"新{origin}"
        assert city["distribution"] == f"mutual-aid-{code_for(origin).replace('_', '-')}"
        assert city["years"] == by_code[origin]["years"]
    assert by_code["blankville"]["name"] == "宣化" and by_code["blankville"]["years"] == [2026]


@pytest.mark.slow
@pytest.mark.parametrize("origin", ORIGINS)
def test_a_city_made_from_an_installed_one_passes_the_check(installed, origin):
    cli, *_ = installed
    run = cli("city", "check", code_for(origin))
    assert (run.returncode, run.stderr) == (0, ""), run.stdout
    assert run.stdout.startswith(f"{code_for(origin)}: 通过")


@pytest.mark.slow
def test_a_blank_city_lists_what_to_fill_in(installed):
    cli, plugins, *_ = installed
    run = cli("city", "check", "blankville")
    assert run.returncode == 1
    lines = run.stdout.splitlines()
    assert lines and all(
        line.startswith("blankville 2026 blankville/data/2026.yaml") for line in lines
    )
    assert any("fee.price: 未确认" in line for line in lines)
    readme = (plugins / "blankville" / "README.md").read_text(encoding="utf-8")
    assert "pip install -e" in readme and "!unconfirmed" in readme


@pytest.mark.slow
def test_the_shared_harness_runs_the_new_citys_cases(installed, root):
    _, _, target, env = installed
    package = target / "mutual_aid_new_wujin" / "cases" / "2024.yaml"
    cases = yaml.safe_load(package.read_text(encoding="utf-8"))
    assert any("new_wujin.2024." in json.dumps(c, ensure_ascii=False, default=str) for c in cases)
    assert not any(
        "wujin.2024." in json.dumps(c, ensure_ascii=False, default=str).replace("new_wujin", "")
        for c in cases
    )
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "tests/plugins/test_cases.py", "-k", "new_wujin"],
        capture_output=True, text=True, env=env, cwd=root, timeout=300, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-2000:]
    assert re.search(rf"\b{len(cases)} passed", run.stdout), run.stdout[-500:]


@pytest.mark.slow
def test_removing_a_citation_or_a_case_fails_the_check_naming_it(installed):
    cli, _, target, _ = installed
    package = target / "mutual_aid_new_zhangjiakou"
    data = package / "data" / "2024.yaml"
    text = data.read_text(encoding="utf-8")
    data.write_text(text.replace("    source: 第八条第5款\n", "", 1), encoding="utf-8")
    cases_file = package / "cases" / "2024.yaml"
    cases = yaml.safe_load(cases_file.read_text(encoding="utf-8"))
    kept = [c for c in cases if "fire_loss" not in json.dumps(c, default=str)]
    assert len(kept) < len(cases)
    cases_file.write_text(yaml.safe_dump(kept, allow_unicode=True), encoding="utf-8")
    try:
        run = cli("city", "check", "new_zhangjiakou")
    finally:
        data.write_text(text, encoding="utf-8")
    assert run.returncode == 1
    lines = run.stdout.splitlines()
    assert any("benefits." in line and ".source: 待遇" in line for line in lines), lines
    assert any("待遇 fire_loss" in line and "没有任何案例" in line for line in lines), lines
    assert any("child_critical_illness.source" in line for line in lines), lines


def test_a_bad_code_or_an_existing_folder_is_one_line(mutual_aid, tmp_path: Path):
    run = mutual_aid("city", "new", "Bad-Code", "--name", "x", "--dir", str(tmp_path))
    assert run.code == 2 and run.stderr.count("\n") == 1 and "Bad-Code" in run.stderr
    (tmp_path / "taken").mkdir()
    run = mutual_aid("city", "new", "taken", "--name", "x", "--dir", str(tmp_path))
    assert run.code == 2 and "already exists" in run.stderr
