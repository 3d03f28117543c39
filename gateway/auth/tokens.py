"""JWT access and refresh tokens on joserfc (authlib.jose is deprecated).

Verification only ever raises `UnauthenticatedError` with a short reason: a token is
attacker-controlled input, and no parse failure of it may surface as a 500.

An access token that verified is remembered, keyed by the whole token, until its `exp`
(a bounded LRU): a client sends the same token on every request, and the signature and
claims of the same bytes cannot become valid or invalid in between, except by expiring.
Revocation is not part of verification and is checked on every use by the caller.
"""

from __future__ import annotations

import base64
import json
import math
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from joserfc import jwt
from joserfc.errors import BadSignatureError, JoseError, UnsupportedAlgorithmError
from joserfc.jwk import OctKey, OKPKey, RSAKey

from domain.errors import UnauthenticatedError
from domain.tokens import IssuedTokens, TokenClaims, TokenKind, TokenPair

type Algorithm = Literal["HS256", "RS256", "Ed25519"]
type _Key = OctKey | RSAKey | OKPKey
type JWK = dict[str, str]

ALGORITHMS: tuple[Algorithm, ...] = ("HS256", "RS256", "Ed25519")
MIN_SECRET_BYTES = 32
MIN_RSA_BITS = 2048
DEFAULT_ACCESS_TTL = timedelta(minutes=30)
DEFAULT_REFRESH_TTL = timedelta(days=7)
DEFAULT_LEEWAY = timedelta(seconds=30)
DEFAULT_MAX_TOKEN_BYTES = 8 * 1024
# Access tokens remembered as verified (a few hundred bytes each, with their claims).
DEFAULT_VERIFIED_CACHE_SIZE = 10_000

# Header `typ` per RFC 9068 for access tokens; the `typ` claim says the same, so a
# refresh token cannot pass as an access token whichever one a verifier looks at.
_HEADER_TYP = {TokenKind.ACCESS: "at+jwt", TokenKind.REFRESH: "rt+jwt"}
_COMPACT = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$")
_SUBJECT = re.compile(r"^(0|[1-9][0-9]{0,18})$")


class KeyConfigError(ValueError):
    """The signing key in the settings is unusable (too short, wrong type, not PEM)."""


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _new_id() -> str:
    return secrets.token_urlsafe(16)


@dataclass(frozen=True, slots=True)
class SigningKey:
    """The key tokens are signed with, and the key they are verified with."""

    algorithm: Algorithm
    signing: _Key
    verifying: _Key
    kid: str | None

    @classmethod
    def hs256(cls, secret: bytes | str) -> SigningKey:
        """A shared secret of at least 32 bytes; raises KeyConfigError."""
        raw = secret.encode() if isinstance(secret, str) else secret
        if len(raw) < MIN_SECRET_BYTES:
            raise KeyConfigError(
                f"the HS256 secret key must be at least {MIN_SECRET_BYTES} bytes, got {len(raw)}"
            )
        try:
            key = OctKey.import_key(raw)
        except (JoseError, ValueError) as error:
            raise KeyConfigError(f"unusable HS256 secret key: {error}") from error
        return cls("HS256", key, key, None)

    @classmethod
    def from_pem(
        cls, algorithm: Algorithm, private_pem: bytes | str, *, kid: str | None = None
    ) -> SigningKey:
        """An RS256 (>= 2048 bits) or Ed25519 private key in PEM; kid defaults to its thumbprint."""
        pem = private_pem.encode() if isinstance(private_pem, str) else private_pem
        if algorithm not in ("RS256", "Ed25519"):
            raise KeyConfigError(f"{algorithm} is not an asymmetric algorithm")
        try:
            # Loaded with cryptography first, so a weak RSA key is our clear error rather
            # than joserfc's SecurityWarning.
            native = serialization.load_pem_private_key(pem, password=None)
        except (ValueError, TypeError) as error:
            raise KeyConfigError(f"not a usable {algorithm} private key in PEM: {error}") from error
        key: RSAKey | OKPKey
        if algorithm == "RS256" and isinstance(native, rsa.RSAPrivateKey):
            if native.key_size < MIN_RSA_BITS:
                raise KeyConfigError(
                    f"the RS256 key must be at least {MIN_RSA_BITS} bits, got {native.key_size}"
                )
            key = RSAKey.import_key(native)
        elif algorithm == "Ed25519" and isinstance(native, ed25519.Ed25519PrivateKey):
            key = OKPKey.import_key(pem)
        else:
            raise KeyConfigError(f"not a usable {algorithm} private key in PEM: wrong key type")
        return cls._asymmetric(algorithm, key, kid)

    @classmethod
    def generate(cls, algorithm: Algorithm) -> SigningKey:
        """A fresh random key (development only: tokens die with the process)."""
        if algorithm == "HS256":
            return cls.hs256(secrets.token_bytes(MIN_SECRET_BYTES))
        if algorithm == "RS256":
            return cls._asymmetric(algorithm, RSAKey.generate_key(MIN_RSA_BITS), None)
        return cls._asymmetric(algorithm, OKPKey.generate_key("Ed25519"), None)

    @classmethod
    def _asymmetric(cls, algorithm: Algorithm, key: RSAKey | OKPKey, kid: str | None) -> SigningKey:
        if not key.is_private:
            raise KeyConfigError(f"the {algorithm} key must be a private key")
        public: RSAKey | OKPKey
        if isinstance(key, RSAKey):
            public = RSAKey.import_key(key.as_pem(private=False))
        else:
            public = OKPKey.import_key(key.as_pem(private=False))
        return cls(algorithm, key, public, kid or key.thumbprint())

    def private_pem(self) -> bytes:
        """The private key in PEM (to persist a generated dev key); asymmetric keys only."""
        if isinstance(self.signing, OctKey):
            raise KeyConfigError("an HS256 key has no PEM form")
        return self.signing.as_pem(private=True)

    def public_jwk(self) -> JWK | None:
        """The public key as a JWK with kid, use and alg; None for HS256."""
        if isinstance(self.verifying, OctKey) or self.kid is None:
            return None
        public = {k: str(v) for k, v in self.verifying.as_dict(private=False).items()}
        return {**public, "kid": self.kid, "use": "sig", "alg": self.algorithm}


def _b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _header(token: str) -> dict[str, object]:
    # Read before the signature is checked, only to refuse early with a precise reason;
    # nothing from it is trusted until joserfc has verified the signature over it.
    try:
        header = json.loads(_b64decode(token.partition(".")[0]))
    except ValueError as error:
        raise UnauthenticatedError("malformed token") from error
    if not isinstance(header, dict):
        raise UnauthenticatedError("malformed token")
    return header


def _timestamp(moment: datetime) -> float:
    # Fractional NumericDate (RFC 7519 allows it): a logout-all cutoff must separate
    # tokens issued a moment before it from those issued a moment after, within a second.
    return moment.timestamp()


def _moment(claims: dict[str, object], name: str) -> datetime:
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise UnauthenticatedError(f"malformed {name} claim")
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError) as error:
        raise UnauthenticatedError(f"malformed {name} claim") from error


def _text(claims: dict[str, object], name: str) -> str:
    value = claims.get(name)
    if not isinstance(value, str) or not value:
        raise UnauthenticatedError(f"malformed {name} claim")
    return value


class VerifiedTokens:
    """Access tokens already verified, with their claims: an LRU of at most `size`.

    An entry answers only inside the window the full check would accept without its
    leeway on the late side: from `nbf`/`iat` minus the leeway until `exp` (never past
    it; from `exp` on, the full check decides every time). The window is kept as POSIX
    timestamps: comparing two floats is what every request pays, not two datetimes.
    """

    def __init__(self, size: int, leeway: timedelta) -> None:
        self.size, self._leeway = size, leeway
        self._entries: OrderedDict[str, tuple[TokenClaims, float, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, token: str, now: float) -> TokenClaims | None:
        """The claims `token` verified to, unless unknown or outside its window at `now`
        (a POSIX timestamp)."""
        entry = self._entries.get(token)
        if entry is None:
            return None
        claims, valid_from, expires_at = entry
        if now >= expires_at:
            del self._entries[token]
            return None
        if now < valid_from:
            return None
        self._entries.move_to_end(token)
        return claims

    def put(self, token: str, claims: TokenClaims) -> None:
        if self.size <= 0:
            return
        valid_from = max(claims.not_before, claims.issued_at) - self._leeway
        self._entries[token] = (claims, valid_from.timestamp(), claims.expires_at.timestamp())
        self._entries.move_to_end(token)
        if len(self._entries) > self.size:
            self._entries.popitem(last=False)


class JwtTokenService:
    """Issues and verifies access and refresh JWTs; implements `domain.tokens.TokenIssuer`."""

    def __init__(
        self,
        key: SigningKey,
        *,
        issuer: str,
        audience: str,
        access_ttl: timedelta = DEFAULT_ACCESS_TTL,
        refresh_ttl: timedelta = DEFAULT_REFRESH_TTL,
        leeway: timedelta = DEFAULT_LEEWAY,
        max_token_bytes: int = DEFAULT_MAX_TOKEN_BYTES,
        verified_cache_size: int = DEFAULT_VERIFIED_CACHE_SIZE,
        now: Callable[[], datetime] = _utcnow,
        new_id: Callable[[], str] = _new_id,
    ) -> None:
        if access_ttl <= timedelta(0) or refresh_ttl <= timedelta(0):
            raise ValueError("token lifetimes must be positive")
        if leeway < timedelta(0):
            raise ValueError("the token leeway must not be negative")
        if not issuer or not audience:
            raise ValueError("the token issuer and audience must not be empty")
        self.key = key
        self.issuer, self.audience = issuer, audience
        self._access_ttl, self._refresh_ttl = access_ttl, refresh_ttl
        self.leeway, self.max_token_bytes = leeway, max_token_bytes
        self._now, self._new_id = now, new_id
        # The remembered tokens' clock: `time.time` itself under the real clock (the same
        # instant `datetime.now` reads, a third of its cost on every request).
        self._timestamp: Callable[[], float] = (
            time.time if now is _utcnow else lambda: now().timestamp()
        )
        self.verified = VerifiedTokens(verified_cache_size, leeway)

    @property
    def access_ttl(self) -> timedelta:
        return self._access_ttl

    @property
    def refresh_ttl(self) -> timedelta:
        return self._refresh_ttl

    def new_claims(
        self, kind: TokenKind, subject: int, roles: Iterable[str], *, family: str | None = None
    ) -> TokenClaims:
        """Claims for a token issued now; a new family unless one is given."""
        issued_at = self._now()
        ttl = self._access_ttl if kind is TokenKind.ACCESS else self._refresh_ttl
        return TokenClaims(
            subject=subject,
            kind=kind,
            jti=self._new_id(),
            family=family or self._new_id(),
            roles=frozenset(roles),
            issuer=self.issuer,
            audience=self.audience,
            issued_at=issued_at,
            not_before=issued_at,
            expires_at=issued_at + ttl,
        )

    def encode(self, claims: TokenClaims) -> str:
        """Sign `claims` as a compact JWT."""
        header: dict[str, str] = {"alg": self.key.algorithm, "typ": _HEADER_TYP[claims.kind]}
        if self.key.kid is not None:
            header["kid"] = self.key.kid
        payload: dict[str, object] = {
            "iss": claims.issuer,
            "aud": claims.audience,
            "sub": str(claims.subject),
            "jti": claims.jti,
            "iat": _timestamp(claims.issued_at),
            "nbf": _timestamp(claims.not_before),
            "exp": _timestamp(claims.expires_at),
            "typ": claims.kind.value,
            "fam": claims.family,
            "roles": sorted(claims.roles),
        }
        return jwt.encode(header, payload, self.key.signing, algorithms=[self.key.algorithm])

    def issue(
        self, kind: TokenKind, subject: int, roles: Iterable[str], *, family: str | None = None
    ) -> tuple[str, TokenClaims]:
        claims = self.new_claims(kind, subject, roles, family=family)
        return self.encode(claims), claims

    def issue_pair(
        self, subject: int, roles: Iterable[str], *, family: str | None = None
    ) -> IssuedTokens:
        """A fresh access and refresh token sharing one family."""
        roles = frozenset(roles)
        family = family or self._new_id()
        access, access_claims = self.issue(TokenKind.ACCESS, subject, roles, family=family)
        refresh, refresh_claims = self.issue(TokenKind.REFRESH, subject, roles, family=family)
        expires_in = int(self._access_ttl.total_seconds())
        return IssuedTokens(TokenPair(access, refresh, expires_in), access_claims, refresh_claims)

    def verify(self, token: str, kind: TokenKind) -> TokenClaims:
        """The claims of a valid token of `kind`; raises UnauthenticatedError, nothing else."""
        if kind is TokenKind.ACCESS and isinstance(token, str):
            known = self.verified.get(token, self._timestamp())
            if known is not None:
                return known
        try:
            claims = self._verify(token, kind)
        except UnauthenticatedError:
            raise
        except Exception as error:  # the contract: a bad token is never a 500
            raise UnauthenticatedError("invalid token") from error
        if kind is TokenKind.ACCESS:
            self.verified.put(token, claims)
        return claims

    def jwks(self) -> dict[str, list[JWK]]:
        """The public JWK Set for /.well-known/jwks.json; empty for HS256."""
        public = self.key.public_jwk()
        return {"keys": [] if public is None else [public]}

    def _verify(self, token: str, kind: TokenKind) -> TokenClaims:
        if not isinstance(token, str):
            raise UnauthenticatedError("malformed token")
        if len(token) > self.max_token_bytes:
            raise UnauthenticatedError("token too large")
        if not _COMPACT.match(token):
            raise UnauthenticatedError("malformed token")
        header = _header(token)
        if header.get("alg") != self.key.algorithm:
            raise UnauthenticatedError("unsupported algorithm")
        if self.key.kid is not None and header.get("kid") != self.key.kid:
            raise UnauthenticatedError("unknown signing key")
        try:
            decoded = jwt.decode(token, self.key.verifying, algorithms=[self.key.algorithm])
        except UnsupportedAlgorithmError as error:
            raise UnauthenticatedError("unsupported algorithm") from error
        except BadSignatureError as error:
            raise UnauthenticatedError("invalid signature") from error
        except (JoseError, ValueError, TypeError) as error:
            raise UnauthenticatedError("malformed token") from error
        claims: dict[str, object] = decoded.claims
        if header.get("typ") != _HEADER_TYP[kind] or claims.get("typ") != kind.value:
            raise UnauthenticatedError("wrong token kind")
        return self._check_claims(claims, kind)

    def _check_claims(self, claims: dict[str, object], kind: TokenKind) -> TokenClaims:
        if claims.get("iss") != self.issuer:
            raise UnauthenticatedError("wrong issuer")
        audience = claims.get("aud")
        if not (
            audience == self.audience or (isinstance(audience, list) and self.audience in audience)
        ):
            raise UnauthenticatedError("wrong audience")
        issued_at = _moment(claims, "iat")
        not_before = _moment(claims, "nbf")
        expires_at = _moment(claims, "exp")
        now = self._now()
        if now >= expires_at + self.leeway:
            raise UnauthenticatedError("token expired")
        if now + self.leeway < not_before or now + self.leeway < issued_at:
            raise UnauthenticatedError("token not yet valid")
        subject = _text(claims, "sub")
        if not _SUBJECT.match(subject):
            raise UnauthenticatedError("malformed sub claim")
        roles = claims.get("roles")
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise UnauthenticatedError("malformed roles claim")
        return TokenClaims(
            subject=int(subject),
            kind=kind,
            jti=_text(claims, "jti"),
            family=_text(claims, "fam"),
            roles=frozenset(str(role) for role in roles),
            issuer=self.issuer,
            audience=self.audience,
            issued_at=issued_at,
            not_before=not_before,
            expires_at=expires_at,
        )
