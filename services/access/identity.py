"""Who is calling: an OpenID Connect token's subject, display name, role and scope.

The actor recorded on every change is ``"王芳 (sub)"``: the display name a person reads in a
history, with the token's subject kept beside it so two people of one name are never the
same person (four eyes compares subjects). The CLI, working on a database directly, records
the operator's own ``--actor`` as it is; such an actor is its own subject.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

UNIT_CLERK = "unit_clerk"
DISTRICT_CLERK = "district_clerk"
CITY_REVIEWER = "city_reviewer"
FINANCE = "finance"
PROVINCIAL_OPERATOR = "provincial_operator"
HELP_DESK = "help_desk"
ROLES = (UNIT_CLERK, DISTRICT_CLERK, CITY_REVIEWER, FINANCE, PROVINCIAL_OPERATOR, HELP_DESK)

# the claims the code reads from an access token (deploy/keycloak maps them; test_deploy checks)
CLAIM_NAMES = ("sub", "name", "role", "city", "district", "unit")

# actor columns hold 100 characters: a subject (a UUID in Keycloak) and a name fit
_NAME_LIMIT = 50
_ACTOR = re.compile(r"^(?P<name>.*) \((?P<sub>[^()]+)\)$")


class IdentityError(ValueError):
    """A token whose claims do not name a person we can act for."""


@dataclass(frozen=True)
class Identity:
    sub: str
    name: str
    role: str
    city: str | None = None
    district: str | None = None
    unit: str | None = None

    @property
    def actor(self) -> str:
        return f"{self.name[:_NAME_LIMIT]} ({self.sub})"

    @classmethod
    def from_claims(cls, claims: dict) -> Identity:
        sub = claims.get("sub")
        role = claims.get("role")
        if not isinstance(sub, str) or not sub.strip():
            raise IdentityError("令牌缺少 sub（用户标识）")
        if role not in ROLES:
            raise IdentityError("令牌的角色无效")
        name = claims.get("name") or claims.get("preferred_username") or sub
        scope = {k: claims.get(k) for k in ("city", "district", "unit")}
        if any(v is not None and not isinstance(v, str) for v in scope.values()):
            raise IdentityError("令牌的 city/district/unit 应为文本")
        return cls(sub=sub, name=str(name), role=role, **scope)

    def to_context(self) -> dict:
        """As nameko context data (an AMQP header table: text values only, no None)."""
        return {k: v for k, v in self.__dict__.items() if v is not None}

    @classmethod
    def from_context(cls, data: dict | None) -> Identity | None:
        if not data:
            return None
        return cls(**{k: data.get(k) for k in ("sub", "name", "role", "city", "district", "unit")})


def subject_of(actor: str) -> str:
    """The subject in ``"王芳 (sub)"``; an operator's plain ``--actor`` is its own subject."""
    match = _ACTOR.match(actor or "")
    return match.group("sub") if match else (actor or "").strip()


def same_person(actor: str, other: str) -> bool:
    """Four eyes: the same person by subject, whatever name each token carried."""
    return subject_of(actor) == subject_of(other)
