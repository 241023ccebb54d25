"""Finding the installed city plugins (entry-point group ``mutual_aid.cities``).

As in pytest and pluggy: each plugin is a distribution declaring an entry point; loading
one that raises (on import, or because its data is invalid) is recorded with its name and
reason and does not take the others down.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points

from services.kernel.errors import UnknownCity
from services.kernel.policy import CityPolicy

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


def load_one(ep: EntryPoint, *, validate: bool = True) -> Installed | Broken:
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
    found = [ep for ep in entry_points(group=GROUP) if ep.name == code]
    if len(found) == 1:
        loaded = load_one(found[0])
        if isinstance(loaded, Installed):
            return loaded.policy
    return load_registry().get(code)
