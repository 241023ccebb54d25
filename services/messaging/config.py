"""Service configuration: a YAML file with environment substitution.

    AMQP_URI: amqp://${RABBIT_USER:-guest}:${RABBIT_PASSWORD}@${RABBIT_HOST:-localhost}/
    max_workers: ${MAX_WORKERS:-10}
    DATABASES:
      claims: ${CLAIMS_DATABASE_URL:-postgresql+psycopg://postgres@localhost/claims}

`${VAR}` is the variable (an error naming it if unset); `${VAR:-default}` falls back to the
default when VAR is unset or empty (as in the shell); nameko's `${VAR:default}` is read the
same way. A plain scalar that is exactly one reference is typed like YAML would type its
value (`${MAX_WORKERS:-10}` is the integer 10); a quoted scalar always stays a string.

Why not nameko's loader (nameko.cli.main.setup_yaml_parser): it reads `${VAR:-x}` as the
default "-x", an unset variable silently becomes "", a value is re-parsed as YAML (a
password holding "#" is cut), and it registers itself on yaml.SafeLoader, changing how every
YAML file in the process is read, the plugins' data files included.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from services.messaging.errors import ConfigError

REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-?([^}]*))?\}")
_TYPED = (bool, int, float, type(None))


def load_config(path: str | Path, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Read the YAML config at `path`, substituting `${…}` from `environ` (os.environ)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config: {exc.strerror}") from None
    return parse_config(text, environ, source=str(path))


def parse_config(
    text: str, environ: Mapping[str, str] | None = None, source: str = "<config>"
) -> dict[str, Any]:
    environ = os.environ if environ is None else environ
    loader_cls = _loader_for(environ, source)
    try:
        config = yaml.load(text, Loader=loader_cls)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from None
    if config is None:
        return {}
    if not isinstance(config, dict):
        raise ConfigError(f"{source}: the config must be a mapping of keys to values")
    return config


def substitute(text: str, environ: Mapping[str, str], source: str = "<config>") -> str:
    """Replace every `${VAR}` / `${VAR:-default}` in `text`."""

    def value_of(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        value = environ.get(name)
        if value:
            return value
        if default is not None:
            return default
        if value is not None:
            return value  # set but empty, and no default asked for
        raise ConfigError(f"{source}: environment variable {name} is not set and has no default")

    return REFERENCE.sub(value_of, text)


def _loader_for(environ: Mapping[str, str], source: str) -> type[yaml.SafeLoader]:
    # A fresh SafeLoader subclass per load: the resolver and constructors below touch no
    # other YAML reading in the process.
    class ConfigLoader(yaml.SafeLoader):
        pass

    def plain_reference(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
        raw = loader.construct_scalar(node)
        value = substitute(raw, environ, source)
        if REFERENCE.fullmatch(raw):
            typed = yaml.safe_load(value) if value.strip() else value
            if isinstance(typed, _TYPED):
                return typed
        return value

    def quoted(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> str:
        return substitute(loader.construct_scalar(node), environ, source)

    ConfigLoader.add_implicit_resolver("!env", re.compile(r".*\$\{[^}]*\}.*"), None)
    ConfigLoader.add_constructor("!env", plain_reference)
    ConfigLoader.add_constructor("tag:yaml.org,2002:str", quoted)
    return ConfigLoader
