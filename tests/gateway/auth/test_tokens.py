from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from hypothesis import given, settings
from hypothesis import strategies as st
from joserfc import jwt
from joserfc.jwk import KeySet, OctKey, OKPKey, RSAKey

from domain.errors import UnauthenticatedError
from domain.tokens import TokenClaims, TokenKind
from gateway.auth.tokens import JwtTokenService, KeyConfigError, SigningKey

T0 = datetime(2026, 11, 3, 12, 0, 0, 123456, tzinfo=UTC)
SECRET = b"0123456789abcdef0123456789abcdef"
HS = SigningKey.hs256(SECRET)
RS = SigningKey.generate("RS256")
ED = SigningKey.generate("Ed25519")


class Clock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


def service(
    key: SigningKey = HS, clock: Clock | None = None, *, audience: str = "api", issuer: str = "gw"
) -> JwtTokenService:
    return JwtTokenService(key, issuer=issuer, audience=audience, now=clock or Clock())


def reason(svc: JwtTokenService, token: str, kind: TokenKind = TokenKind.ACCESS) -> str:
    with pytest.raises(UnauthenticatedError) as caught:
        svc.verify(token, kind)
    return str(caught.value)


def public_pem(key: SigningKey) -> bytes:
    assert isinstance(key.verifying, RSAKey | OKPKey)
    return key.verifying.as_pem(private=False)


def b64(data: dict[str, object] | bytes) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def payload(**overrides: object) -> dict[str, object]:
    base: dict[str, object] = {
        "iss": "gw",
        "aud": "api",
        "sub": "7",
        "jti": "j1",
        "iat": T0.timestamp(),
        "nbf": T0.timestamp(),
        "exp": (T0 + timedelta(minutes=30)).timestamp(),
        "typ": "access",
        "fam": "f1",
        "roles": ["customer"],
    }
    base.update(overrides)
    return base


def signed(claims: dict[str, object], *, typ: str = "at+jwt") -> str:
    return jwt.encode(
        {"alg": "HS256", "typ": typ}, claims, OctKey.import_key(SECRET), algorithms=["HS256"]
    )


# --- issuing and round trips -------------------------------------------------------------


def test_an_issued_pair_carries_every_claim() -> None:
    ids = iter(["fam", "a-jti", "r-jti"])
    svc = JwtTokenService(HS, issuer="gw", audience="api", now=Clock(), new_id=lambda: next(ids))
    issued = svc.issue_pair(7, ["staff", "customer"])
    assert issued.pair.expires_in == 1800
    assert issued.access == TokenClaims(
        subject=7,
        kind=TokenKind.ACCESS,
        jti="a-jti",
        family="fam",
        roles=frozenset({"staff", "customer"}),
        issuer="gw",
        audience="api",
        issued_at=T0,
        not_before=T0,
        expires_at=T0 + timedelta(minutes=30),
    )
    assert issued.refresh == TokenClaims(
        subject=7,
        kind=TokenKind.REFRESH,
        jti="r-jti",
        family="fam",
        roles=frozenset({"staff", "customer"}),
        issuer="gw",
        audience="api",
        issued_at=T0,
        not_before=T0,
        expires_at=T0 + timedelta(days=7),
    )
    assert svc.verify(issued.pair.access_token, TokenKind.ACCESS) == issued.access
    assert svc.verify(issued.pair.refresh_token, TokenKind.REFRESH) == issued.refresh


def test_the_payload_uses_the_registered_claim_names() -> None:
    svc = service()
    token, _ = svc.issue(TokenKind.REFRESH, 7, ["customer"], family="fam")
    decoded = jwt.decode(token, OctKey.import_key(SECRET), algorithms=["HS256"])
    assert decoded.header == {"alg": "HS256", "typ": "rt+jwt"}
    assert sorted(decoded.claims) == sorted(
        ["iss", "aud", "sub", "jti", "iat", "nbf", "exp", "typ", "fam", "roles"]
    )
    assert decoded.claims["sub"] == "7"
    assert decoded.claims["fam"] == "fam"
    assert decoded.claims["typ"] == "refresh"


@settings(max_examples=60, deadline=None)
@given(
    st.integers(0, 10**18),
    st.sampled_from(TokenKind),
    st.text(min_size=1, max_size=30),
    st.text(min_size=1, max_size=30),
    st.frozensets(st.text(max_size=12), max_size=4),
    st.datetimes(
        min_value=datetime(2001, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    ),
    st.timedeltas(min_value=timedelta(seconds=1), max_value=timedelta(days=30)),
    st.sampled_from([HS, RS, ED]),
)
def test_encoding_then_verifying_gives_the_same_claims(
    subject: int,
    kind: TokenKind,
    jti: str,
    family: str,
    roles: frozenset[str],
    issued_at: datetime,
    ttl: timedelta,
    key: SigningKey,
) -> None:
    svc = service(key, Clock(issued_at))
    claims = TokenClaims(
        subject=subject,
        kind=kind,
        jti=jti,
        family=family,
        roles=roles,
        issuer="gw",
        audience="api",
        issued_at=issued_at,
        not_before=issued_at,
        expires_at=issued_at + ttl,
    )
    assert svc.verify(svc.encode(claims), kind) == claims


TOKEN = service().issue(TokenKind.ACCESS, 7, ["customer"])[0]
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ é"


@settings(max_examples=300)
@given(st.integers(0, len(TOKEN) - 1), st.sampled_from(ALPHABET))
def test_changing_any_character_of_a_token_is_rejected(index: int, char: str) -> None:
    if TOKEN[index] == char:
        char = "A" if char != "A" else "B"
    tampered = TOKEN[:index] + char + TOKEN[index + 1 :]
    with pytest.raises(UnauthenticatedError):
        service().verify(tampered, TokenKind.ACCESS)


@given(st.integers(0, len(TOKEN.encode()) - 1), st.integers(1, 255))
def test_flipping_any_bits_of_any_byte_is_rejected(index: int, mask: int) -> None:
    raw = bytearray(TOKEN.encode())
    raw[index] ^= mask
    tampered = raw.decode("latin-1")
    with pytest.raises(UnauthenticatedError):
        service().verify(tampered, TokenKind.ACCESS)


@given(st.text(max_size=200))
def test_arbitrary_text_only_ever_raises_unauthenticated(text: str) -> None:
    with pytest.raises(UnauthenticatedError):
        service().verify(text, TokenKind.ACCESS)


# --- attacks and bad input ---------------------------------------------------------------


def test_an_alg_none_token_is_refused() -> None:
    header = b64({"alg": "none", "typ": "at+jwt"})
    body = b64(payload())
    svc = service()
    assert reason(svc, f"{header}.{body}.") == "malformed token"
    assert reason(svc, f"{header}.{body}.{b64(b'anything')}") == "unsupported algorithm"


def test_an_alg_none_token_is_refused_by_asymmetric_services_too() -> None:
    header = b64({"alg": "none", "typ": "at+jwt", "kid": ED.kid or ""})
    assert reason(service(ED), f"{header}.{b64(payload())}.{b64(b'x')}") == "unsupported algorithm"


def test_a_token_signed_with_another_key_is_refused() -> None:
    other = service(SigningKey.hs256(b"another-secret-of-32-bytes-or-more!"))
    token, _ = other.issue(TokenKind.ACCESS, 7, ["admin"])
    assert reason(service(), token) == "invalid signature"


def test_an_hmac_token_keyed_with_the_rsa_public_key_is_refused() -> None:
    # The classic confusion attack: HS256 "signed" with the server's public key.
    header = b64({"alg": "HS256", "typ": "at+jwt", "kid": RS.kid or ""})
    body = b64(payload())
    mac = hmac.new(public_pem(RS), f"{header}.{body}".encode(), hashlib.sha256).digest()
    assert reason(service(RS), f"{header}.{body}.{b64(mac)}") == "unsupported algorithm"


def test_tokens_of_another_asymmetric_key_are_refused() -> None:
    token, _ = service(SigningKey.generate("Ed25519")).issue(TokenKind.ACCESS, 7, [])
    assert reason(service(ED), token) == "unknown signing key"
    rs_token, _ = service(RS).issue(TokenKind.ACCESS, 7, [])
    assert reason(service(ED), rs_token) == "unsupported algorithm"


def test_a_kid_that_is_not_ours_is_refused() -> None:
    renamed = SigningKey("Ed25519", ED.signing, ED.verifying, "someone-else")
    token, _ = service(renamed).issue(TokenKind.ACCESS, 7, [])
    assert reason(service(ED), token) == "unknown signing key"


def test_expiry_is_enforced_after_the_leeway() -> None:
    clock = Clock()
    svc = service(clock=clock)
    token, claims = svc.issue(TokenKind.ACCESS, 7, [])
    clock.now = claims.expires_at + timedelta(seconds=29)
    assert svc.verify(token, TokenKind.ACCESS) == claims
    clock.now = claims.expires_at + timedelta(seconds=30)
    assert reason(svc, token) == "token expired"


def test_a_token_from_the_future_is_refused_beyond_the_leeway() -> None:
    clock = Clock()
    svc = service(clock=clock)
    token, claims = svc.issue(TokenKind.ACCESS, 7, [])
    clock.now = T0 - timedelta(seconds=30)
    assert svc.verify(token, TokenKind.ACCESS) == claims
    clock.now = T0 - timedelta(seconds=31)
    assert reason(svc, token) == "token not yet valid"


def test_a_later_nbf_is_honoured() -> None:
    token = signed(payload(nbf=(T0 + timedelta(minutes=5)).timestamp()))
    assert reason(service(), token) == "token not yet valid"


def test_the_wrong_audience_or_issuer_is_refused() -> None:
    token, _ = service().issue(TokenKind.ACCESS, 7, [])
    assert reason(service(audience="billing"), token) == "wrong audience"
    assert reason(service(issuer="someone"), token) == "wrong issuer"


def test_an_audience_list_containing_ours_is_accepted() -> None:
    claims = service().verify(signed(payload(aud=["other", "api"])), TokenKind.ACCESS)
    assert claims.audience == "api"


def test_a_refresh_token_cannot_be_used_as_an_access_token_nor_the_reverse() -> None:
    issued = service().issue_pair(7, ["customer"])
    assert reason(service(), issued.pair.refresh_token, TokenKind.ACCESS) == "wrong token kind"
    assert reason(service(), issued.pair.access_token, TokenKind.REFRESH) == "wrong token kind"


def test_the_kind_is_checked_in_both_header_and_claims() -> None:
    assert reason(service(), signed(payload(typ="refresh"))) == "wrong token kind"
    assert reason(service(), signed(payload(), typ="JWT")) == "wrong token kind"


@pytest.mark.parametrize("length", [0, 1, 10, 36, 37, 100])
def test_a_truncated_token_is_refused(length: int) -> None:
    with pytest.raises(UnauthenticatedError):
        service().verify(TOKEN[:length], TokenKind.ACCESS)


def test_dropping_the_last_character_is_refused() -> None:
    assert reason(service(), TOKEN[:-1]) == "invalid signature"


def test_a_100_kb_token_is_refused_before_parsing() -> None:
    huge = signed(payload(pad="x" * 100_000))
    assert reason(service(), huge) == "token too large"


@pytest.mark.parametrize(
    ("claims", "expected"),
    [
        (payload(sub="abc"), "malformed sub claim"),
        (payload(sub="007"), "malformed sub claim"),
        (payload(sub=7), "malformed sub claim"),
        (payload(exp="tomorrow"), "malformed exp claim"),
        (payload(exp=True), "malformed exp claim"),
        (payload(exp=1e300), "malformed exp claim"),
        (payload(iat=None), "malformed iat claim"),
        (payload(jti=""), "malformed jti claim"),
        (payload(fam=None), "malformed fam claim"),
        (payload(roles="admin"), "malformed roles claim"),
        (payload(roles=[1]), "malformed roles claim"),
    ],
)
def test_malformed_claims_are_refused_even_when_signed(
    claims: dict[str, object], expected: str
) -> None:
    assert reason(service(), signed(claims)) == expected


def test_a_non_finite_exp_is_refused() -> None:
    header = b64({"alg": "HS256", "typ": "at+jwt"})
    body = b64(json.dumps(payload(exp=float("nan"))).encode())
    mac = hmac.new(SECRET, f"{header}.{body}".encode(), hashlib.sha256).digest()
    assert reason(service(), f"{header}.{body}.{b64(mac)}") == "malformed exp claim"


def test_a_payload_that_is_not_an_object_is_refused() -> None:
    header = b64({"alg": "HS256", "typ": "at+jwt"})
    body = b64(b"[1, 2]")
    mac = hmac.new(SECRET, f"{header}.{body}".encode(), hashlib.sha256).digest()
    assert reason(service(), f"{header}.{body}.{b64(mac)}") == "malformed token"


# --- keys ----------------------------------------------------------------------------------


def test_a_short_hs256_secret_is_refused_with_a_clear_error() -> None:
    with pytest.raises(KeyConfigError) as caught:
        SigningKey.hs256("too-short")
    assert str(caught.value) == "the HS256 secret key must be at least 32 bytes, got 9"


def test_a_small_rsa_key_is_refused() -> None:
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505  # weak on purpose
    pem = small.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    with pytest.raises(KeyConfigError) as caught:
        SigningKey.from_pem("RS256", pem)
    assert str(caught.value) == "the RS256 key must be at least 2048 bits, got 1024"


def test_a_pem_of_the_wrong_type_is_refused() -> None:
    with pytest.raises(KeyConfigError, match="not a usable Ed25519 private key"):
        SigningKey.from_pem("Ed25519", RS.private_pem())
    with pytest.raises(KeyConfigError, match="not a usable RS256 private key"):
        SigningKey.from_pem("RS256", "not a pem")
    with pytest.raises(KeyConfigError, match="not a usable Ed25519 private key"):
        SigningKey.from_pem("Ed25519", public_pem(ED))
    with pytest.raises(KeyConfigError, match="HS256 is not an asymmetric algorithm"):
        SigningKey.from_pem("HS256", ED.private_pem())


@pytest.mark.parametrize("key", [RS, ED], ids=["RS256", "Ed25519"])
def test_a_key_loaded_from_pem_verifies_tokens_of_the_original(key: SigningKey) -> None:
    loaded = SigningKey.from_pem(key.algorithm, key.private_pem().decode())
    assert loaded.kid == key.kid
    issued = service(key).issue_pair(7, ["admin"])
    assert service(loaded).verify(issued.pair.access_token, TokenKind.ACCESS) == issued.access


def test_hs256_publishes_no_keys() -> None:
    assert service().jwks() == {"keys": []}


def test_rs256_jwks_publishes_the_public_key_only() -> None:
    jwks = service(RS).jwks()
    (jwk,) = jwks["keys"]
    assert sorted(jwk) == ["alg", "e", "kid", "kty", "n", "use"]
    assert (jwk["kty"], jwk["alg"], jwk["use"], jwk["kid"]) == ("RSA", "RS256", "sig", RS.kid)


def test_ed25519_jwks_publishes_the_public_key_only() -> None:
    jwks = service(ED).jwks()
    (jwk,) = jwks["keys"]
    assert sorted(jwk) == ["alg", "crv", "kid", "kty", "use", "x"]
    assert (jwk["kty"], jwk["crv"], jwk["alg"], jwk["kid"]) == ("OKP", "Ed25519", "Ed25519", ED.kid)


@pytest.mark.parametrize("key", [RS, ED], ids=["RS256", "Ed25519"])
def test_a_third_party_verifies_with_the_published_jwks(key: SigningKey) -> None:
    token, _ = service(key).issue(TokenKind.ACCESS, 7, ["customer"])
    keys = KeySet.import_key_set(service(key).jwks())  # type: ignore[arg-type]  # JWK dicts of str
    decoded = jwt.decode(token, keys, algorithms=[key.algorithm])
    assert decoded.header == {"alg": key.algorithm, "typ": "at+jwt", "kid": key.kid}
    assert decoded.claims["sub"] == "7"


def test_nonsensical_lifetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="token lifetimes must be positive"):
        JwtTokenService(HS, issuer="gw", audience="api", access_ttl=timedelta(0))
    with pytest.raises(ValueError, match="leeway must not be negative"):
        JwtTokenService(HS, issuer="gw", audience="api", leeway=timedelta(seconds=-1))


# --- verified tokens remembered until exp --------------------------------------------------


class CountingService(JwtTokenService):
    """Counts full verifications (signature and claims), the work the cache saves."""

    full_checks = 0

    def _verify(self, token: str, kind: TokenKind) -> TokenClaims:
        self.full_checks += 1
        return super()._verify(token, kind)


def counting(clock: Clock | None = None, cache: int = 10) -> CountingService:
    return CountingService(
        HS, issuer="gw", audience="api", now=clock or Clock(), verified_cache_size=cache
    )


def test_a_verified_access_token_is_not_verified_again_until_exp() -> None:
    clock = Clock()
    svc = counting(clock)
    token, claims = svc.issue(TokenKind.ACCESS, 7, ["customer"])
    answers = [svc.verify(token, TokenKind.ACCESS) for _ in range(5)]
    assert (answers, svc.full_checks) == ([claims] * 5, 1)
    clock.now = claims.expires_at - timedelta(microseconds=1)
    assert (svc.verify(token, TokenKind.ACCESS), svc.full_checks) == (claims, 1)
    # From exp on, never from memory: the full check (and its leeway) decides each time.
    clock.now = claims.expires_at
    assert (svc.verify(token, TokenKind.ACCESS), svc.full_checks) == (claims, 2)
    assert (svc.verify(token, TokenKind.ACCESS), svc.full_checks) == (claims, 3)
    clock.now = claims.expires_at + svc.leeway
    assert reason(svc, token) == "token expired"
    assert reason(svc, token) == "token expired"
    assert len(svc.verified) == 0


def test_a_clock_set_back_before_nbf_is_not_answered_from_memory() -> None:
    clock = Clock()
    svc = counting(clock)
    token, _ = svc.issue(TokenKind.ACCESS, 7, [])
    svc.verify(token, TokenKind.ACCESS)
    clock.now = T0 - timedelta(seconds=31)
    assert reason(svc, token) == "token not yet valid"


def test_the_memory_is_a_bounded_lru_keyed_by_the_whole_token() -> None:
    svc = counting(cache=2)
    a, b, c = (svc.issue(TokenKind.ACCESS, n, [])[0] for n in (1, 2, 3))
    for token in (a, b, a, c):  # b is the least recently used when c arrives
        svc.verify(token, TokenKind.ACCESS)
    assert (len(svc.verified), svc.full_checks) == (2, 3)
    svc.verify(a, TokenKind.ACCESS)
    svc.verify(c, TokenKind.ACCESS)
    assert svc.full_checks == 3
    svc.verify(b, TokenKind.ACCESS)
    assert svc.full_checks == 4


WARM = service()


@given(st.integers(0, len(TOKEN) - 1), st.sampled_from(ALPHABET))
def test_a_token_differing_from_a_remembered_one_is_checked_in_full(index: int, char: str) -> None:
    svc = WARM
    assert svc.verify(TOKEN, TokenKind.ACCESS).subject == 7
    if TOKEN[index] == char:
        char = "A" if char != "A" else "B"
    with pytest.raises(UnauthenticatedError):
        svc.verify(TOKEN[:index] + char + TOKEN[index + 1 :], TokenKind.ACCESS)


def test_refresh_tokens_and_failures_are_not_remembered() -> None:
    svc = counting()
    refresh, _ = svc.issue(TokenKind.REFRESH, 7, [])
    for _ in range(2):
        svc.verify(refresh, TokenKind.REFRESH)
        assert reason(svc, refresh) == "wrong token kind"
    assert (len(svc.verified), svc.full_checks) == (0, 4)


def test_a_size_of_zero_verifies_every_time() -> None:
    svc = counting(cache=0)
    token, _ = svc.issue(TokenKind.ACCESS, 7, [])
    for _ in range(3):
        svc.verify(token, TokenKind.ACCESS)
    assert (len(svc.verified), svc.full_checks) == (0, 3)


def test_under_the_real_clock_a_remembered_token_is_refused_once_it_expires() -> None:
    # The default clock reads `time.time` for remembered tokens: no fake clock here.
    svc = CountingService(
        HS,
        issuer="gw",
        audience="api",
        access_ttl=timedelta(milliseconds=200),
        leeway=timedelta(0),
    )
    token, claims = svc.issue(TokenKind.ACCESS, 7, [])
    assert [svc.verify(token, TokenKind.ACCESS) for _ in range(3)] == [claims] * 3
    assert svc.full_checks == 1
    time.sleep(max(0.0, (claims.expires_at - datetime.now(UTC)).total_seconds()) + 0.01)
    assert reason(svc, token) == "token expired"
    assert (len(svc.verified), svc.full_checks) == (0, 2)
