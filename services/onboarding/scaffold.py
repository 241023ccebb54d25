"""``mutual-aid city new``: a complete, installable city plugin distribution.

Today's alternative is copying a plugin folder and editing five places by hand (the
distribution name, entry point, packages and package data; the class, code and name; the
rule ids in every seed case). Here they are written once, from an installed city (its year
data, formula modules and seed cases, renamed) or as an annotated blank; the README says
what the operator must still take from the new city's notice.
"""

from __future__ import annotations

import inspect
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from services.kernel.policy import CityPolicy

CODE = re.compile(r"^[a-z][a-z0-9_]{1,30}$")


class ScaffoldError(ValueError):
    """The city cannot be scaffolded as asked (a bad code, a folder already there)."""


@dataclass(frozen=True)
class Scaffolded:
    project: Path
    package: str
    years: tuple[int, ...]
    cases: int

    def to_dict(self) -> dict:
        return {
            "project": str(self.project),
            "package": self.package,
            "years": list(self.years),
            "cases": self.cases,
            "install": f"pip install -e {self.project}",
        }


PYPROJECT = """\
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "mutual-aid-{dist}"
version = "{version}"
description = "{name} — city policy plugin for mutual-aid"
requires-python = ">=3.11"
dependencies = ["mutual-aid"]

[project.entry-points."mutual_aid.cities"]
{code} = "{package}:plugin"

[tool.setuptools]
packages = ["{package}"]

[tool.setuptools.package-data]
{package} = ["data/*.yaml", "cases/*.yaml"]
"""

BLANK_MODULE = '''\
"""{name} ({code}): the city's workers' medical mutual aid.

Numbers: data/<year>.yaml, one file per scheme year, each value beside its source in the
notice. Formulas: the kernel's generic kinds (services/kernel/formulas.py); a rule none of
them expresses is a function added to ``kinds``.
"""

from services.kernel.plugin import DataPolicy


class {cls}(DataPolicy):
    code = "{code}"
    name = "{name}"
    kinds = {{}}


plugin = {cls}(package=__name__)
'''

BLANK_YEAR = """\
# {name} {year}: one scheme year, from the notice. Every value cites where the notice says it
# (`source:`); `mutual-aid city check {code}` lists what is missing. Editors: validate with
# plugins/city-year.schema.json. A value tagged !unconfirmed is a placeholder to replace.
year: {year}
source: !unconfirmed "（通知文号与标题）"

period:
  number: null                      # 期号, if the notice numbers its periods
  cover: [{year}-01-01, {year}-12-31]   # 保障期
  window: [null, {year}-03-31]      # 参保（缴费）截止
  source: !unconfirmed "（通知条款）"

account:                            # 收款账户 (or one per district under districts)
  payee: !unconfirmed "（收款单位全称）"
  bank: !unconfirmed "（开户行）"
  number: !unconfirmed "0000000000"
  source: !unconfirmed "（通知条款）"

fee:
  price: !unconfirmed "0"           # 每人每期互助金
  source: !unconfirmed "（通知条款）"

roster:
  sheet: Sheet2
  title: 参保职工名册
  application_sheet: Sheet1
  columns:
    - {{field: seq, titles: [序号]}}
    - {{field: name, titles: [姓名], required: true}}
    - {{field: id_number, titles: [身份证号码, 身份证号], required: true}}
    - {{field: phone, titles: [手机号码, 联系电话]}}
  source: !unconfirmed "（通知附件：名册格式）"

claims:
  deadline: {{years_after: 1, month: 3, day: 31}}   # 受理截止
  source: !unconfirmed "（通知条款）"

# Each benefit: code, name, kind (services/kernel/formulas.py), needs, counts_by, params,
# source. Each needs at least one case in cases/{year}.yaml.
benefits: []

exclusions: []                      # each: {{code, label, benefits, source}}
"""

BLANK_CASES = """\
# Seed cases for {year} (services/onboarding/cases.py describes the format). Every benefit
# needs at least one; `mutual-aid city check {code}` runs them all.
#
# - name: general illness at the threshold
#   source: 第八条第3款
#   assess: {{claim: {{benefit: general_illness, total_cost: "7000", admission_date: {year}-03-01}}}}
#   expect: {{payable: "350.00", refused: false}}
[]
"""

README = """\
# {name} ({code}) — a mutual-aid city plugin

Made by `mutual-aid city new {code} --name {name}{origin}`. Install it and check it:

    pip install -e {project}
    mutual-aid cities                 # lists {code}
    mutual-aid city check {code}      # one line per finding; exit 0 when it may go live

## What to fill in from {name}'s notice

{tasks}
Every value keeps its `source:` (the notice's article); `city check` names any that lacks
one, any benefit without a seed case, any case that fails, an account that is not well
formed and every value still tagged `!unconfirmed`. For the next scheme year:
`mutual-aid city new-year {code} YEAR`.
"""

OPERATOR_TASKS_COPIED = """\
The year data in `{package}/data/` is {origin_name}'s, copied unchanged: replace each number
with {name}'s and each `source:` with the article of {name}'s notice —
- `source` (the notice's number and title), `period` (期号, cover, enrolment window);
- `account` / `districts[].account` (收款单位, 开户行, 账号): the city's own accounts;
- `fee` (price, discounts, subsidies), `participation` (参保比例);
- `roster` (the columns of the city's roster workbook);
- `benefits` (each rate, band, cap and threshold) and `exclusions`;
- `targets`, if the notice sets any.
The seed cases in `{package}/cases/` are {origin_name}'s, their rule ids renamed: each must
be re-derived from {name}'s notice (`source:` per case).
"""

OPERATOR_TASKS_BLANK = """\
`{package}/data/` holds an annotated blank year: every value tagged `!unconfirmed` is a
placeholder. Fill in the notice's number and title, the cover period and enrolment window,
the collecting account(s), the fee, the roster columns, the claim deadline, then each
benefit (code, kind, params, source) and exclusion, with at least one seed case per benefit
in `{package}/cases/`.
"""


def camel(code: str) -> str:
    return "".join(part.capitalize() for part in code.split("_"))


def new_city(
    code: str,
    name: str,
    target_dir: Path,
    origin: CityPolicy | None = None,
    year: int | None = None,
) -> Scaffolded:
    """Write ``<target_dir>/<code>/`` as an installable distribution and say what it holds."""
    if not CODE.match(code):
        raise ScaffoldError(
            f"city code {code!r}: lower-case letters, digits and _, starting with a letter"
        )
    if not name.strip():
        raise ScaffoldError("--name: the city's name (e.g. 宣化) is required")
    project = Path(target_dir) / code
    if project.exists():
        raise ScaffoldError(f"{project} already exists; choose another --dir or code")
    package = f"mutual_aid_{code}"
    pkg = project / package
    (pkg / "data").mkdir(parents=True)
    (pkg / "cases").mkdir()
    if origin is None:
        if year is None:
            raise ScaffoldError("a blank city needs the scheme year")
        years = (year,)
        _write(pkg / "__init__.py", BLANK_MODULE.format(name=name, code=code, cls=camel(code)))
        _write(pkg / "data" / f"{year}.yaml", BLANK_YEAR.format(name=name, code=code, year=year))
        _write(pkg / "cases" / f"{year}.yaml", BLANK_CASES.format(code=code, year=year))
        cases = 0
        tasks = OPERATOR_TASKS_BLANK.format(package=package)
    else:
        years = tuple(origin.years())
        cases = _copy_plugin(origin, code, name, pkg)
        tasks = OPERATOR_TASKS_COPIED.format(package=package, name=name, origin_name=origin.name)
    version = f"{max(years)}.0.0"
    _write(
        project / "pyproject.toml",
        PYPROJECT.format(
            dist=code.replace("_", "-"), version=version, name=name, code=code, package=package
        ),
    )
    _write(
        project / "README.md",
        README.format(
            name=name,
            code=code,
            project=project,
            origin=f" --from {origin.code}" if origin is not None else "",
            tasks=tasks,
        ),
    )
    return Scaffolded(project, package, years, cases)


def _copy_plugin(origin: CityPolicy, code: str, name: str, pkg: Path) -> int:
    source = Path(inspect.getfile(type(origin))).parent
    old_package = source.name
    for module in sorted(source.glob("*.py")):
        text = module.read_text(encoding="utf-8").replace(old_package, pkg.name)
        if module.name == "__init__.py":
            text = _rename_plugin(text, origin, code, name)
        _write(pkg / module.name, text)
    for path in sorted((source / "data").iterdir()):
        if path.is_file():
            shutil.copyfile(path, pkg / "data" / path.name)
    count = 0
    for path in sorted((source / "cases").glob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        # rule ids (zhangjiakou.2024.general_illness) and file names in expected reasons
        text = re.sub(rf"\b{re.escape(origin.code)}\.(\d{{4}})\.", rf"{code}.\1.", text)
        text = text.replace(f"{origin.code}/data/", f"{code}/data/")
        count += text.count("\n- name:") + text.startswith("- name:")
        _write(pkg / "cases" / path.name, text)
    return count


def _rename_plugin(text: str, origin: CityPolicy, code: str, name: str) -> str:
    cls = type(origin).__name__
    text = re.sub(rf"\b{re.escape(cls)}\b", camel(code), text)
    text = text.replace(f'code = "{origin.code}"', f'code = "{code}"')
    text = text.replace(f'name = "{origin.name}"', f'name = "{name}"')
    first, _, rest = text.partition("\n")
    if first.startswith('"""') and first.count('"""') == 1:
        text = f'"""{name} ({code}), made from {origin.name} ({origin.code}) by `mutual-aid city new`.\n{rest}'
    return text


def _write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
