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
    from importlib.metadata import entry_points

    registry = Registry()
    for ep in sorted(entry_points(group=GROUP), key=lambda e: e.name):
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


# ---- one entry point without importlib.metadata ---------------------------------------------
# importlib.metadata imports email, zipfile and csv (0.02–0.05 s of a short command's start,
# issue 14) to answer what one line of an entry_points.txt says. load_city reads those files
# itself when every place a distribution could be is a plain directory on sys.path; anything
# else (a zip or an egg on the path, another distribution finder) goes to importlib.metadata.
# Not deduplicated as importlib.metadata does: two matches (the same distribution found twice)
# go to the registry, which answers as before.

_VALUE = re.compile(r"(?P<module>[\w.]+)\s*(:\s*(?P<attr>[\w.]+)\s*)?$")


class PlainEntryPoint:
    """What load_one reads of an EntryPoint: name, value, load(); no distribution."""

    dist = None

    def __init__(self, name: str, value: str):
        self.name, self.value = name, value

    def load(self):
        match = _VALUE.match(self.value)
        target = import_module(match.group("module"))
        for attr in filter(None, (match.group("attr") or "").split(".")):
            target = getattr(target, attr)
        return target


def plain_entry_points(code: str) -> list[PlainEntryPoint] | None:
    """The ``mutual_aid.cities`` entry points named ``code`` in the entry_points.txt of every
    distribution on sys.path; None when importlib.metadata must answer instead."""
    from importlib.machinery import PathFinder

    if any(hasattr(f, "find_distributions") for f in sys.meta_path if f is not PathFinder):
        return None
    found = []
    for entry in sys.path:
        root = entry or "."
        if not os.path.isdir(root):
            if os.path.isfile(root) and _is_zip(root):  # importlib.metadata reads zips
                return None
            continue
        if root.lower().endswith(".egg"):
            return None
        try:
            names = os.listdir(root)
        except OSError:
            continue
        for name in names:
            if not name.lower().endswith((".dist-info", ".egg-info")):
                continue
            try:
                with open(os.path.join(root, name, "entry_points.txt"), encoding="utf-8") as f:
                    text = f.read()
            except OSError:  # none, or an .egg-info file
                continue
            for value in _entries(text, code):
                if not _VALUE.match(value):  # extras, or what load() would not read alike
                    return None
                found.append(PlainEntryPoint(code, value))
    return found


def _is_zip(path: str) -> bool:
    import zipfile

    return zipfile.is_zipfile(path)


def _entries(text: str, code: str) -> list[str]:
    """The values of ``code = value`` lines in the [mutual_aid.cities] section (the format
    importlib.metadata reads: ``[section]``, ``#`` comments, ``name = value``)."""
    values, section = [], None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line.strip("[]")
            continue
        if section == GROUP and "=" in line:
            name, value = line.split("=", 1)
            if name.strip() == code:
                values.append(value.strip())
    return values
