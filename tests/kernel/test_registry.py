"""The registry: plugins found by entry point; a broken one is reported by name, the rest work."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import EntryPoint, PackageNotFoundError, distribution
from pathlib import Path

import pytest
import yaml

from services.kernel.errors import UnknownCity
from services.kernel.registry import GROUP, Broken, Installed, Registry, load_one, load_registry

# ---- loading one entry point (fast: nothing installed) ---------------------------------


def entry_point(name: str, value: str) -> EntryPoint:
    return EntryPoint(name=name, value=value, group=GROUP)


def test_a_good_entry_point_loads_and_validates():
    loaded = load_one(entry_point("zhangjiakou", "mutual_aid_zhangjiakou:plugin"))
    assert isinstance(loaded, Installed)
    assert loaded.policy.code == "zhangjiakou"
    assert 2024 in loaded.policy.years()


@pytest.mark.parametrize(
    ("name", "value", "needle"),
    [
        ("nowhere", "mutual_aid_no_such_city:plugin", "ModuleNotFoundError"),
        ("zhangjiakou", "mutual_aid_zhangjiakou:no_such_object", "AttributeError"),
        ("decimal", "decimal:Decimal", "没有实现 CityPolicy 接口"),
        ("zhangjiakuo", "mutual_aid_zhangjiakou:plugin", "与插件 code 'zhangjiakou' 不一致"),
    ],
    ids=["missing-module", "missing-object", "not-a-policy", "code-mismatch"],
)
def test_a_bad_entry_point_is_broken_with_a_reason(name, value, needle):
    loaded = load_one(entry_point(name, value))
    assert isinstance(loaded, Broken)
    assert loaded.entry_point == name
    assert needle in loaded.reason


def test_the_installed_registry_has_zhangjiakou():
    registry = load_registry()
    assert "zhangjiakou" in registry.cities
    installed = registry.cities["zhangjiakou"]
    assert installed.distribution == "mutual-aid-zhangjiakou"
    assert installed.version
    assert registry.get("zhangjiakou") is installed.policy


def test_get_an_unknown_city_names_the_installed_ones():
    registry = Registry()
    registry.cities["zhangjiakou"] = load_one(
        entry_point("zhangjiakou", "mutual_aid_zhangjiakou:plugin")
    )
    with pytest.raises(UnknownCity) as raised:
        registry.get("nowhere")
    assert "'nowhere'" in str(raised.value)
    assert "zhangjiakou" in str(raised.value)


def test_get_a_broken_city_gives_its_reason():
    registry = Registry(
        broken=[Broken("brokenville", "mutual-aid-brokenville", "0.1", "RuntimeError: boom")]
    )
    with pytest.raises(UnknownCity, match="brokenville 加载失败: RuntimeError: boom"):
        registry.get("brokenville")


# ---- throwaway distributions installed into the venv (slow) ----------------------------

GOOD, BROKEN = "mutual-aid-testville", "mutual-aid-brokenville"
YEAR = 2031

PYPROJECT = """\
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "{dist}"
version = "0.0.1"

[tool.setuptools]
packages = ["{package}"]

[tool.setuptools.package-data]
{package} = ["data/*.yaml", "cases/*.yaml"]

[project.entry-points."mutual_aid.cities"]
{code} = "{package}:plugin"
"""

GOOD_MODULE = '''\
"""A throwaway city for the registry test: Zhangjiakou's data with another year."""

from mutual_aid_zhangjiakou.benefits import accident
from services.kernel.plugin import DataPolicy


class Testville(DataPolicy):
    code = "testville"
    name = "试验市"
    kinds = {"accident": accident}


plugin = Testville(package=__name__)
'''

BROKEN_MODULE = 'raise RuntimeError("brokenville refuses to import")\n'

GOOD_CASE = f"""\
- name: general illness at the threshold, in the copied year
  assess: {{claim: {{benefit: general_illness, total_cost: "7000", admission_date: {YEAR}-03-01}}}}
  expect: {{payable: "350.00", refused: false}}
"""


def write_project(root: Path, dist: str, code: str, module: str) -> tuple[Path, Path]:
    package = dist.replace("-", "_")
    project = root / dist
    (project / package).mkdir(parents=True)
    (project / "pyproject.toml").write_text(
        PYPROJECT.format(dist=dist, code=code, package=package), encoding="utf-8"
    )
    (project / package / "__init__.py").write_text(module, encoding="utf-8")
    return project, project / package


def pip(*args: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pip", *args, "--disable-pip-version-check", "--no-input", "-q"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, f"pip {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"


def uninstall_throwaways() -> None:
    pip("uninstall", "-y", GOOD, BROKEN)
    for dist in (GOOD, BROKEN):
        with pytest.raises(PackageNotFoundError):
            distribution(dist)


@pytest.fixture(scope="module")
def throwaway_plugins(tmp_path_factory, root, zhangjiakou_2024_file):
    """Install a good and a broken city plugin into the project's venv; always uninstall."""
    if Path(sys.prefix).resolve() != (root / ".venv").resolve():
        pytest.skip("installs packages only into the project's .venv")
    base = tmp_path_factory.mktemp("plugins")
    good, package = write_project(base, GOOD, "testville", GOOD_MODULE)
    text = zhangjiakou_2024_file.read_text(encoding="utf-8")
    text = text.replace("year: 2024", f"year: {YEAR}").replace("2024-", f"{YEAR}-")
    data = yaml.safe_load(text)
    assert data["year"] == YEAR and str(data["period"]["cover"][0]).startswith(str(YEAR))
    (package / "data").mkdir()
    (package / "data" / f"{YEAR}.yaml").write_text(text, encoding="utf-8")
    (package / "cases").mkdir()  # the shared case harness runs every installed city
    (package / "cases" / f"{YEAR}.yaml").write_text(GOOD_CASE, encoding="utf-8")
    broken, _ = write_project(base, BROKEN, "brokenville", BROKEN_MODULE)

    uninstall_throwaways()  # a killed earlier run may have left them behind
    try:
        pip("install", "--no-deps", "--no-build-isolation", "--no-index", str(good), str(broken))
        yield
    finally:
        uninstall_throwaways()


@pytest.fixture(scope="module")
def cities(throwaway_plugins, mutual_aid) -> dict:
    return mutual_aid("cities").json()


@pytest.mark.slow
def test_an_installed_plugin_is_listed_with_its_distribution_and_version(cities):
    listed = {c["code"]: c for c in cities["cities"]}
    assert listed["testville"] == {
        "code": "testville",
        "name": "试验市",
        "years": [YEAR],
        "distribution": GOOD,
        "version": "0.0.1",
    }
    assert "zhangjiakou" in listed


@pytest.mark.slow
def test_the_installed_plugin_assesses_from_its_own_data(throwaway_plugins, mutual_aid):
    claim = f'{{"claim": {{"benefit": "general_illness", "total_cost": "7000", "admission_date": "{YEAR}-03-01"}}}}'
    answer = mutual_aid(
        "assess", "--city", "testville", "--year", str(YEAR), "-", stdin=claim
    ).json()
    assert answer["payable"] == "350.00"
    assert answer["rule"]["id"] == f"testville.{YEAR}.general_illness"


@pytest.mark.slow
def test_a_plugin_raising_on_import_is_reported_by_name_with_the_reason(cities):
    failed = {f["entry_point"]: f for f in cities["failed"]}
    assert "brokenville" in failed
    assert "brokenville" not in {c["code"] for c in cities["cities"]}
    report = failed["brokenville"]
    assert report["distribution"] == BROKEN
    assert report["version"] == "0.0.1"
    assert "RuntimeError: brokenville refuses to import" in report["reason"]
    assert "__init__.py" in report["reason"]


@pytest.mark.slow
def test_other_plugins_still_work_beside_a_broken_one(throwaway_plugins, mutual_aid):
    run = mutual_aid("benefits", "--city", "zhangjiakou", "--year", "2024")
    assert run.code == 0, run.stderr
    assert "general_illness" in {b["code"] for b in run.json()["benefits"]}


@pytest.mark.slow
def test_asking_for_the_broken_city_gives_its_reason_in_one_line(throwaway_plugins, mutual_aid):
    run = mutual_aid("benefits", "--city", "brokenville", "--year", str(YEAR))
    assert run.code == 2
    assert run.stdout == ""
    assert run.stderr.count("\n") == 1
    assert "brokenville 加载失败" in run.stderr
    assert "RuntimeError" in run.stderr


class _EntryPoint:
    """What load_one reads of an importlib.metadata entry point, for a policy built here."""

    def __init__(self, name, policy):
        self.name, self.value, self.dist, self._policy = name, f"{name}:plugin", None, policy

    def load(self):
        return self._policy


@pytest.mark.parametrize(
    "text, needle",
    [
        ("year: 2031\nperiod: [unclosed\n", "不是有效的 YAML"),
        ("- a list\n", "应为一个映射"),
        ("year: 2030\n", "year 写的是 2030"),
    ],
    ids=["yaml", "not-a-mapping", "wrong-year"],
)
def test_listing_without_validating_still_reports_a_file_that_does_not_parse(
    tmp_path, text, needle
):
    """Issue 14: `cities` lists plugins without validating their data (start time), but a
    year file that does not parse still puts its plugin under `failed`, naming the file."""
    from services.kernel.plugin import DataPolicy
    from services.kernel.registry import Broken, Installed, load_one

    class Brokenville(DataPolicy):
        code, name = "brokenville", "坏市"

    (tmp_path / "2031.yaml").write_text(text, encoding="utf-8")
    loaded = load_one(_EntryPoint("brokenville", Brokenville(tmp_path)), validate=False)
    assert isinstance(loaded, Broken), loaded
    assert needle in loaded.reason and "2031.yaml" in loaded.reason

    (tmp_path / "2031.yaml").write_text("year: 2031\nnot_a_key: 1\n", encoding="utf-8")
    listed = load_one(_EntryPoint("brokenville", Brokenville(tmp_path)), validate=False)
    assert isinstance(listed, Installed)  # parses: its keys are checked when it is used
    assert isinstance(load_one(_EntryPoint("brokenville", Brokenville(tmp_path))), Broken)


# ---- load_city reads one entry point without importlib.metadata (issue 14: CLI start) -------


def test_plain_entry_points_are_importlib_metadatas():
    from importlib.metadata import entry_points

    from services.kernel.registry import plain_entry_points

    full = {ep.name: ep.value for ep in entry_points(group=GROUP)}
    assert {"quzhou", "wujin", "zhangjiakou", "keqiao"} <= set(full)
    for code, value in full.items():
        assert [(ep.name, ep.value) for ep in plain_entry_points(code)] == [(code, value)]
        assert loaded(plain_entry_points(code)[0]) == loaded(EntryPoint(code, value, GROUP))
    assert plain_entry_points("nowhere") == []


def loaded(entry_point) -> tuple:
    """What loading gives: the same object, or the same failure (a plugin that raises on
    import, as this module's throwaway brokenville does while it is installed)."""
    try:
        return ("loaded", id(entry_point.load()))
    except Exception as exc:
        return ("failed", type(exc), str(exc))


def test_plain_listing_is_importlib_metadatas_with_names_and_versions():
    from importlib.metadata import entry_points

    from services.kernel.registry import plain_entry_points

    def row(ep):
        return ep.name, ep.value, ep.dist.name, ep.dist.version

    full = sorted(row(ep) for ep in entry_points(group=GROUP))
    assert sorted(row(ep) for ep in plain_entry_points(with_dist=True)) == full


@pytest.mark.parametrize(
    "metadata",
    [
        "Metadata-Version: 2.1\nName: fake-city\nVersion: 1.0\n\nName: not this\n",
        "Name: fake-city  \nVersion:1.0\nSummary: x\n",
        "Version: 1.0\nName:\tfake-city\n",
    ],
    ids=["body", "blanks", "tab"],
)
def test_plain_names_and_versions_read_as_importlib_metadata_reads_them(
    tmp_path, monkeypatch, metadata
):
    from importlib.metadata import entry_points

    from services.kernel.registry import plain_entry_points

    _dist_info(tmp_path, "[mutual_aid.cities]\nfakecity = mutual_aid_wujin:plugin\n")
    (tmp_path / "fake_city-1.0.dist-info" / "METADATA").write_text(metadata, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    (plain,) = [ep for ep in plain_entry_points(with_dist=True) if ep.name == "fakecity"]
    (full,) = [ep for ep in entry_points(group=GROUP) if ep.name == "fakecity"]
    assert (plain.dist.name, plain.dist.version) == (full.dist.name, full.dist.version)


@pytest.mark.parametrize(
    "metadata",
    ["Name: fake-\n city\nVersion: 1.0\n", "Version: 1.0\n", "name: fake-city\nVersion: 1\n"],
    ids=["folded", "no name", "lower case"],
)
def test_a_header_the_plain_reader_is_not_sure_of_goes_to_importlib_metadata(
    tmp_path, monkeypatch, metadata
):
    from services.kernel.registry import plain_entry_points

    _dist_info(tmp_path, "[mutual_aid.cities]\nfakecity = mutual_aid_wujin:plugin\n")
    (tmp_path / "fake_city-1.0.dist-info" / "METADATA").write_text(metadata, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert plain_entry_points(with_dist=True) is None
    assert plain_entry_points("fakecity") is not None  # the name alone needs no header


def test_the_first_distribution_of_a_name_on_the_path_hides_later_ones(tmp_path, monkeypatch):
    from importlib.metadata import entry_points

    from services.kernel.registry import plain_entry_points

    for folder, city in (("a", "first"), ("b", "second")):
        _dist_info(tmp_path / folder, f"[mutual_aid.cities]\n{city} = mutual_aid_wujin:plugin\n")
        monkeypatch.syspath_prepend(str(tmp_path / folder))  # b before a
    names = {ep.name for ep in plain_entry_points()}
    assert names & {"first", "second"} == {ep.name for ep in entry_points(group=GROUP)} & {
        "first",
        "second",
    }
    assert "second" in names and "first" not in names


def _dist_info(where: Path, text: str) -> None:
    info = where / "fake_city-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "entry_points.txt").write_text(text, encoding="utf-8")


def test_a_second_plugin_of_the_same_name_goes_to_the_registry(tmp_path, monkeypatch):
    from services.kernel.registry import load_city, plain_entry_points

    _dist_info(tmp_path, "# a comment\n[mutual_aid.cities]\nwujin = mutual_aid_quzhou:plugin\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert [ep.value for ep in plain_entry_points("wujin")] == [
        "mutual_aid_quzhou:plugin",
        "mutual_aid_wujin:plugin",
    ]
    # two: the registry answers, as before (the impostor is broken: its code is quzhou)
    assert load_city("wujin") is load_registry().get("wujin")
    assert any("不一致" in b.reason for b in load_registry().broken if b.entry_point == "wujin")


@pytest.mark.parametrize(
    "where", ["zip", "extras"], ids=["a zip on the path", "an entry point with extras"]
)
def test_what_the_plain_reader_cannot_read_goes_to_importlib_metadata(tmp_path, monkeypatch, where):
    from services.kernel.registry import load_city, plain_entry_points

    if where == "zip":
        (tmp_path / "lib.zip").write_bytes(b"PK\x05\x06" + bytes(18))  # an empty zip
        monkeypatch.syspath_prepend(str(tmp_path / "lib.zip"))
    else:
        _dist_info(tmp_path, "[mutual_aid.cities]\nelsewhere = mutual_aid_wujin:plugin [fast]\n")
        monkeypatch.syspath_prepend(str(tmp_path))
    assert plain_entry_points("elsewhere") is None
    assert load_city("wujin").code == "wujin"


def test_a_file_on_the_path_that_is_no_zip_is_passed_over(tmp_path, monkeypatch):
    from services.kernel.registry import plain_entry_points

    (tmp_path / "notes.json").write_text("{}", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path / "notes.json"))  # as plugins/*.json in a glob
    assert [ep.value for ep in plain_entry_points("wujin")] == ["mutual_aid_wujin:plugin"]
