"""Login throttling: the port that stops password guessing, per account and per client."""

from __future__ import annotations

from typing import Protocol


def account_key(email: str) -> str:
    """The key an account's attempts are counted under: the email, trimmed and case-folded.

    Case-folded rather than validated, so that an address the Email type refuses is
    still counted (an attacker gains nothing by sending malformed variants).
    """
    return email.strip().casefold()


class LoginThrottle(Protocol):
    async def attempt(self, account: str, client: str | None) -> None:
        """Count one login attempt for `account` (see `account_key`) from `client` (an IP).

        Raises RateLimitedError, with the seconds to wait, when either the account or the
        client has used up its attempts; a refused attempt is still refused when the
        password is right.
        """
        ...


class NoLoginThrottle:
    """Never refuses: for tests of other behaviour and for embedded tools."""

    async def attempt(self, account: str, client: str | None) -> None:
        return None
