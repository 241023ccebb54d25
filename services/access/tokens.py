"""Bearer tokens: verified against the issuer's JWKS with PyJWT; the embedded local issuer.

Config keys (a service's YAML, deploy/config.yaml):
    AUTH_ISSUER     the `iss` every token must carry (default: the local issuer's)
    AUTH_AUDIENCE   the `aud` (default "mutual-aid"; Keycloak: the audience mapper's value)
    AUTH_JWKS_URL   the issuer's JWKS (Keycloak: <realm>/protocol/openid-connect/certs);
                    absent: embedded mode, the local issuer's JWKS file under AUTH_KEY_DIR
    AUTH_KEY_DIR    the local issuer's folder (default var/auth)
    AUTH_LEEWAY     seconds of clock skew allowed on exp/nbf/iat (default 30)

Only RS256 and ES256 are accepted: `alg: none` and HS* (a public key used as an HMAC
secret) are refused by PyJWT's algorithm list before any key is tried.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from services.access.identity import Identity, IdentityError

ALGORITHMS = ["RS256", "ES256"]
LOCAL_ISSUER = "urn:mutual-aid:local"
DEFAULT_AUDIENCE = "mutual-aid"
DEFAULT_KEY_DIR = "var/auth"
DEFAULT_LEEWAY = 30
KEY_FILE, JWKS_FILE = "signing-key.pem", "jwks.json"


class TokenRefused(Exception):
    """Missing, malformed, expired, of another issuer or audience, or badly signed."""


@dataclass(frozen=True)
class AuthSettings:
    issuer: str
    audience: str
    jwks_url: str | None
    key_dir: Path
    leeway: int

    @classmethod
    def from_config(cls, config: dict) -> AuthSettings:
        return cls(
            issuer=config.get("AUTH_ISSUER") or LOCAL_ISSUER,
            audience=config.get("AUTH_AUDIENCE") or DEFAULT_AUDIENCE,
            jwks_url=config.get("AUTH_JWKS_URL") or None,
            key_dir=Path(config.get("AUTH_KEY_DIR") or DEFAULT_KEY_DIR),
            leeway=int(config.get("AUTH_LEEWAY", DEFAULT_LEEWAY)),
        )


class LocalIssuer:
    """Embedded mode's identity provider: an ES256 key in `folder` (mode 0600, made on first
    use) and its public JWKS beside it, which the services read: no server needed."""

    def __init__(self, folder: str | Path, issuer: str = LOCAL_ISSUER):
        self.folder, self.issuer = Path(folder), issuer

    def ensure(self) -> None:
        key_path = self.folder / KEY_FILE
        if key_path.exists():
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        # created 0600 from the start: never a moment when others may read it
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
        public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
        public.update(kid=uuid.uuid4().hex[:16], use="sig", alg="ES256")
        (self.folder / JWKS_FILE).write_text(json.dumps({"keys": [public]}), encoding="utf-8")

    def jwks(self) -> dict:
        self.ensure()
        return json.loads((self.folder / JWKS_FILE).read_text(encoding="utf-8"))

    def issue(
        self,
        *,
        name: str,
        role: str,
        sub: str | None = None,
        city: str | None = None,
        district: str | None = None,
        unit: str | None = None,
        audience: str = DEFAULT_AUDIENCE,
        hours: float = 8,
        now: float | None = None,
    ) -> str:
        self.ensure()
        Identity.from_claims({"sub": sub or "x", "role": role})  # the role is one we know
        issued = int(time.time() if now is None else now)
        claims = {
            "iss": self.issuer,
            "aud": audience,
            "sub": sub or f"local:{uuid.uuid4()}",
            "name": name,
            "role": role,
            "iat": issued,
            "nbf": issued,
            "exp": issued + int(hours * 3600),
        }
        claims.update(
            {k: v for k, v in (("city", city), ("district", district), ("unit", unit)) if v}
        )
        key = (self.folder / KEY_FILE).read_bytes()
        kid = self.jwks()["keys"][0]["kid"]
        return jwt.encode(claims, key, algorithm="ES256", headers={"kid": kid})


class TokenVerifier:
    """Checks a bearer token and returns its Identity; raises TokenRefused."""

    def __init__(self, settings: AuthSettings):
        self.settings = settings
        self._keys: jwt.PyJWKSet | None = None
        self._client = (
            jwt.PyJWKClient(settings.jwks_url, cache_keys=True, lifespan=600)
            if settings.jwks_url
            else None
        )

    def _local_keys(self) -> jwt.PyJWKSet:
        # read when the first token arrives, never created here: a service does not make a
        # signing key as a side effect (`mutual-aid token issue` does, or `serve`)
        if self._keys is None:
            path = self.settings.key_dir / JWKS_FILE
            try:
                self._keys = jwt.PyJWKSet.from_dict(json.loads(path.read_text(encoding="utf-8")))
            except (OSError, ValueError, jwt.PyJWTError):
                raise TokenRefused("本地签发者尚未建立（mutual-aid token issue）") from None
        return self._keys

    def _key(self, token: str):
        if self._client is not None:
            return self._client.get_signing_key_from_jwt(token).key
        kid = jwt.get_unverified_header(token).get("kid")
        for key in self._local_keys().keys:
            if key.key_id == kid:
                return key.key
        raise TokenRefused("签名密钥未知")

    def verify(self, token: str) -> Identity:
        s = self.settings
        try:
            claims = jwt.decode(
                token,
                self._key(token),
                algorithms=ALGORITHMS,
                audience=s.audience,
                issuer=s.issuer,
                leeway=s.leeway,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
            return Identity.from_claims(claims)
        except TokenRefused:
            raise
        except (jwt.PyJWTError, IdentityError) as exc:
            raise TokenRefused(_reason(exc)) from None


def _reason(exc: Exception) -> str:
    if isinstance(exc, IdentityError):
        return str(exc)
    if isinstance(exc, jwt.ExpiredSignatureError):
        return "令牌已过期"
    if isinstance(exc, jwt.ImmatureSignatureError):
        return "令牌尚未生效"
    if isinstance(exc, jwt.InvalidIssuerError):
        return "令牌的签发者不被接受"
    if isinstance(exc, jwt.InvalidAudienceError):
        return "令牌的受众不是本系统"
    if isinstance(exc, jwt.InvalidAlgorithmError):
        return "令牌的签名算法不被接受"
    if isinstance(exc, jwt.InvalidSignatureError):
        return "令牌签名无效"
    return "令牌无效"
