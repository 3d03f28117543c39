"""The development signing key: made once, kept in a file only its owner can read.

Without SECURITY__SECRET_KEY, `dev` used to sign with a key made per process, so every
worker of `gateway serve --workers N` refused the others' tokens and every restart
logged everyone out. The key now lives in SECURITY__DEV_KEY_FILE (`var/dev-secret-key`,
mode 0600): the first process makes it, every other worker and every restart reads it.
`prod` never gets here: it refuses to start without a configured key.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from gateway.auth.tokens import KeyConfigError

Algorithm = Literal["HS256", "RS256", "Ed25519"]
OWNER_ONLY = 0o600


@dataclass(frozen=True, slots=True)
class DevKey:
    text: str  # the HS256 secret, or the private key in PEM
    path: Path
    created: bool


def key_path(path: Path, algorithm: Algorithm) -> Path:
    """One file per algorithm: an RS256 PEM is no HS256 secret."""
    return path if algorithm == "HS256" else path.with_name(f"{path.name}-{algorithm.lower()}.pem")


def _new_key(algorithm: Algorithm) -> str:
    if algorithm == "HS256":
        return secrets.token_urlsafe(48)
    private: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if algorithm == "RS256"
        else ed25519.Ed25519PrivateKey.generate()
    )
    return private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def _read(path: Path) -> str:
    mode = path.stat().st_mode
    if stat.S_IMODE(mode) & 0o077:
        raise KeyConfigError(f"{path} is readable by other users: run `chmod 600 {path}`")
    text = path.read_text(encoding="utf-8").strip()
    if not text:
        raise KeyConfigError(f"{path} is empty: delete it to make a new development key")
    return text


def load_or_create(path: Path, algorithm: Algorithm) -> DevKey:
    """The key kept at `path` for `algorithm`, made (0600) when absent; raises KeyConfigError.

    Workers starting together race to make it: each writes a private temporary file and
    links it into place, which only one link can do; the others read the winner's key.
    """
    target = key_path(path, algorithm)
    if target.exists():
        return DevKey(_read(target), target, created=False)
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, OWNER_ONLY)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(_new_key(algorithm) + "\n")
            file.flush()
            os.fsync(file.fileno())
        try:
            os.link(temporary, target)
        except FileExistsError:
            return DevKey(_read(target), target, created=False)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
    return DevKey(_read(target), target, created=True)
