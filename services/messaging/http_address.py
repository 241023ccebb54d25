"""The HTTP bind address (`WEB_SERVER_ADDRESS`, `serve --http`): `HOST:PORT` or `PORT`.

Plain (no nameko, no eventlet), so the command line can check `--http` before eventlet is
patched in; services.messaging.web listens on what this returns.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from services.messaging.errors import ConfigError

_ADDRESS = re.compile(r"(?:(?P<host>[^:\s\[\]]+|\[[0-9A-Fa-f:.]+\]):)?(?P<port>\d{1,5})")


class HttpAddressError(ConfigError):
    """An HTTP address that is nonsense, or that cannot be listened on."""


class AddressInUse(HttpAddressError):
    """Something else (another mutual-aid?) already listens on the address."""


class BindAddress(NamedTuple):
    address: str  # "" for every interface
    port: int  # 0: any free port (tests)

    def __str__(self) -> str:
        return f"{self.address or '0.0.0.0'}:{self.port}"


def parse_address(text: object) -> BindAddress:
    match = _ADDRESS.fullmatch(str(text).strip())
    if not match or int(match["port"]) > 65535:
        raise HttpAddressError(
            f"HTTP address {text!r}: expected HOST:PORT (or PORT) with a port 0-65535"
        )
    return BindAddress((match["host"] or "").strip("[]"), int(match["port"]))
