"""Bearer tokens for tests: the embedded local issuer in a test's own folder.

config = {**web_config, **auth_config(issuer)}
web.headers.update(bearer(issuer, role="unit_clerk", city="zhangjiakou", unit=unit_id))
"""

from __future__ import annotations

from pathlib import Path

from services.access.tokens import LocalIssuer


def make_issuer(folder: Path) -> LocalIssuer:
    issuer = LocalIssuer(folder / "auth")
    issuer.ensure()
    return issuer


def auth_config(issuer: LocalIssuer) -> dict:
    return {"AUTH_KEY_DIR": str(issuer.folder)}


def bearer(issuer: LocalIssuer, *, role: str = "unit_clerk", name: str = "王芳", **claims) -> dict:
    claims.setdefault("sub", f"{role}-{name}")
    return {"Authorization": f"Bearer {issuer.issue(name=name, role=role, **claims)}"}


def identity_context(role: str = "unit_clerk", name: str = "王芳", **scope) -> dict:
    """RPC context data as the edge puts it: a person calling through the bus."""
    return {
        "identity": {"sub": scope.pop("sub", f"{role}-{name}"), "name": name, "role": role, **scope}
    }
