"""Finding the installed city plugins (entry-point group ``mutual_aid.cities``).

As in pytest and pluggy: each plugin is a distribution declaring an entry point; loading
one that raises (on import, or because its data is invalid) is recorded with its name and
reason and does not take the others down.
"""

from __future__ import annotations

import os
import re
import sys
import traceback
from dataclasses import dataclass, field
from importlib import import_module
from typing import TYPE_CHECKING

from services.kernel.errors import UnknownCity
from services.kernel.policy import CityPolicy

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

GROUP = "mutual_aid.cities"


@dataclass(frozen=True)
class Installed:
    code: str
    policy: CityPolicy
    distribution: str | None
    version: str | None


@dataclass(frozen=True)
class Broken:
    entry_point: str
    distribution: str | None
    version: str | None
    reason: str


@dataclass
class Registry:
    cities: dict[str, Installed] = field(default_factory=dict)
    broken: list[Broken] = field(default_factory=list)

    def get(self, code: str) -> CityPolicy:
        if code in self.cities:
            return self.cities[code].policy
        failed = [b for b in self.broken if b.entry_point == code]
        if failed:
            raise UnknownCity(f"城市插件 {code} 加载失败: {failed[0].reason}")
        known = "、".join(self.cities) or "无"
        raise UnknownCity(f"没有安装城市插件 {code!r}；已安装: {known}")

    def __iter__(self):
        return iter(self.cities.values())


def _describe(exc: BaseException) -> str:
    last = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    where = f" ({last[0].filename.rsplit('/', 1)[-1]}:{last[0].lineno})" if last else ""
    return f"{type(exc).__name__}: {exc}{where}"


def load_one(ep: EntryPoint | PlainEntryPoint, *, validate: bool = True) -> Installed | Broken:
    dist = ep.dist.name if ep.dist else None
    version = ep.dist.version if ep.dist else None
    try:
        policy = ep.load()
        if isinstance(policy, type):
            policy = policy()
        if not isinstance(policy, CityPolicy):
            raise TypeError(f"{ep.value} 没有实现 CityPolicy 接口")
        if policy.code != ep.name:
            raise ValueError(f"入口点名 {ep.name!r} 与插件 code {policy.code!r} 不一致")
        # listing (validate=False) still reports a plugin whose files do not parse, cheaply
        check = getattr(policy, "validate" if validate else "check_files", None)
        if check is not None:
            check()
    except Exception as exc:  # a broken plugin is reported, never fatal
        return Broken(ep.name, dist, version, _describe(exc))
    return Installed(ep.name, policy, dist, version)


def load_registry(*, validate: bool = True) -> Registry:
    """Every installed plugin; ``validate=False`` (listing them) parses their year files without
    validating them (``DataPolicy.check_files``)."""
    found = plain_entry_points(with_dist=True)
    if found is None:  # not plain directories: importlib.metadata reads them
        from importlib.metadata import entry_points

        found = entry_points(group=GROUP)
    registry = Registry()
    for ep in sorted(found, key=lambda e: e.name):
        loaded = load_one(ep, validate=validate)
        if isinstance(loaded, Installed):
            if loaded.code in registry.cities:
                registry.broken.append(
                    Broken(ep.name, loaded.distribution, loaded.version, "同名城市插件已安装")
                )
            else:
                registry.cities[loaded.code] = loaded
        else:
            registry.broken.append(loaded)
    return registry


def load_city(code: str) -> CityPolicy:
    """The one plugin asked for, loaded and validated alone (a command naming --city need not
    import and parse every other city); otherwise the registry's own answer and message."""
    found = plain_entry_points(code)
    if found is None:  # not plain directories: importlib.metadata reads them
        from importlib.metadata import entry_points

        found = [ep for ep in entry_points(group=GROUP) if ep.name == code]
    if len(found) == 1:
        loaded = load_one(found[0])
        if isinstance(loaded, Installed):
            return loaded.policy
    return load_registry().get(code)


# ---- entry points without importlib.metadata ------------------------------------------------
# importlib.metadata imports email, zipfile and csv (0.02–0.05 s of a short command's start,
# issue 14) to answer what a few lines of entry_points.txt and METADATA say. The registry
# reads those files itself when every place a distribution could be is a plain directory on
# sys.path, as importlib.metadata would: in sys.path order, the first distribution of a name
# hiding later ones. Anything else (a zip or an egg on the path, another distribution finder,
# one name twice in one directory, extras, a folded header) goes to importlib.metadata.

_VALUE = re.compile(r"(?P<module>[\w.]+)\s*(:\s*(?P<attr>[\w.]+)\s*)?$")


class PlainDistribution:
    """What the registry reads of a Distribution: its name and version."""

    def __init__(self, name: str, version: str):
        self.name, self.version = name, version


class PlainEntryPoint:
    """What load_one reads of an EntryPoint: name, value, dist, load()."""

    def __init__(self, name: str, value: str, dist: PlainDistribution | None = None):
        self.name, self.value, self.dist = name, value, dist

    def load(self):
        match = _VALUE.match(self.value)
        target = import_module(match.group("module"))
        for attr in filter(None, (match.group("attr") or "").split(".")):
            target = getattr(target, attr)
        return target


class _NotPlain(Exception):
    """Something importlib.metadata must read."""


def plain_entry_points(
    code: str | None = None, *, with_dist: bool = False
) -> list[PlainEntryPoint] | None:
    """The ``mutual_aid.cities`` entry points (those named ``code``, or all) of the
    distributions on sys.path, with their name and version when ``with_dist``; None when
    importlib.metadata must answer instead."""
    from importlib.machinery import PathFinder

    if any(hasattr(f, "find_distributions") for f in sys.meta_path if f is not PathFinder):
        return None
    found: list[PlainEntryPoint] = []
    seen: set[str] = set()  # distributions by normalised name: the first on the path counts
    try:
        for entry in sys.path:
            found += _in_folder(entry or ".", code, with_dist, seen)
    except _NotPlain:
        return None
    return found


def _in_folder(root: str, code: str | None, with_dist: bool, seen: set[str]) -> list:
    if not os.path.isdir(root):
        if os.path.isfile(root) and _is_zip(root):  # importlib.metadata reads zips
            raise _NotPlain
        return []
    if root.lower().endswith(".egg"):
        raise _NotPlain
    try:
        names = os.listdir(root)
    except OSError:
        return []
    found, here = [], set()
    for name in names:
        low = name.lower()
        if not low.endswith((".dist-info", ".egg-info")):
            continue
        key = re.sub(r"[-_.]+", "-", low.rpartition(".")[0].partition("-")[0]).replace("-", "_")
        if key in here:  # two versions side by side: importlib.metadata's order decides
            raise _NotPlain
        here.add(key)
        if key in seen:
            continue
        seen.add(key)
        folder = os.path.join(root, name)
        entries = _entries(_read(os.path.join(folder, "entry_points.txt")) or "", code)
        if not entries:
            continue
        dist = _distribution(folder, low.endswith(".dist-info")) if with_dist else None
        for ep_name, value in entries:
            if not _VALUE.match(value):  # extras, or what load() would not read alike
                raise _NotPlain
            found.append(PlainEntryPoint(ep_name, value, dist))
    return found


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError:  # none, or an .egg-info file
        return None


def _distribution(folder: str, dist_info: bool) -> PlainDistribution:
    """Name and Version from METADATA (PKG-INFO), as email's parser reads those headers."""
    text = _read(os.path.join(folder, "METADATA" if dist_info else "PKG-INFO"))
    if text is None:
        raise _NotPlain
    headers: dict[str, str] = {}
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if not line.strip():
            break
        name, colon, value = line.partition(":")
        if name in ("Name", "Version") and name not in headers:
            following = lines[i + 1] if i + 1 < len(lines) else ""
            if following[:1] in (" ", "\t") or not colon:  # folded: email's parser's rules
                raise _NotPlain
            headers[name] = value.lstrip(" \t")
    if set(headers) != {"Name", "Version"}:
        raise _NotPlain
    return PlainDistribution(headers["Name"], headers["Version"])


def _is_zip(path: str) -> bool:
    import zipfile

    return zipfile.is_zipfile(path)


def _entries(text: str, code: str | None) -> list[tuple[str, str]]:
    """The ``name = value`` lines (named ``code``, or all) of the [mutual_aid.cities] section
    (the format importlib.metadata reads: ``[section]``, ``#`` comments, ``name = value``)."""
    entries, section = [], None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line.strip("[]")
            continue
        if section == GROUP and "=" in line:
            name, value = line.split("=", 1)
            if code is None or name.strip() == code:
                entries.append((name.strip(), value.strip()))
    return entries
