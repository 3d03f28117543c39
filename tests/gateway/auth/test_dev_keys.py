"""The dev signing key: made once (0600), shared by every worker and restart."""

from __future__ import annotations

import os
import stat
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from domain.tokens import TokenKind
from gateway.auth import dev_keys
from gateway.auth.tokens import KeyConfigError
from gateway.container import token_service
from gateway.settings import Settings


def settings_with_key_file(path: Path, algorithm: str = "HS256") -> Settings:
    return Settings(security={"dev_key_file": path, "jwt_algorithm": algorithm})


def test_the_key_is_made_once_owner_only_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "var" / "dev-secret-key"
    first = dev_keys.load_or_create(path, "HS256")
    again = dev_keys.load_or_create(path, "HS256")
    assert (first.created, again.created, again.text) == (True, False, first.text)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first.text.encode()) >= 32
    assert sorted(p.name for p in path.parent.iterdir()) == ["dev-secret-key"]


def _make(path: str) -> tuple[str, bool]:
    key = dev_keys.load_or_create(Path(path), "HS256")
    return key.text, key.created


def test_workers_starting_together_share_one_key(tmp_path: Path) -> None:
    path = tmp_path / "dev-secret-key"
    with ProcessPoolExecutor(4) as pool:
        results = list(pool.map(_make, [str(path)] * 8))
    assert {text for text, _ in results} == {path.read_text().strip()}
    assert sum(created for _, created in results) == 1


def test_a_key_others_can_read_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "dev-secret-key"
    dev_keys.load_or_create(path, "HS256")
    os.chmod(path, 0o644)
    with pytest.raises(KeyConfigError) as refused:
        dev_keys.load_or_create(path, "HS256")
    assert str(refused.value) == f"{path} is readable by other users: run `chmod 600 {path}`"


@pytest.mark.parametrize("algorithm", ["HS256", "RS256", "Ed25519"])
def test_a_token_from_one_process_verifies_in_a_restarted_one(
    tmp_path: Path, algorithm: str
) -> None:
    settings = settings_with_key_file(tmp_path / "dev-secret-key", algorithm)
    token, claims = token_service(settings).issue(TokenKind.ACCESS, 7, ["customer"])
    restarted = token_service(settings_with_key_file(tmp_path / "dev-secret-key", algorithm))
    assert restarted.verify(token, TokenKind.ACCESS) == claims
