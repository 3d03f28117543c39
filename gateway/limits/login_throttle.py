"""The domain's LoginThrottle on the rate limiter: attempts per account and per client IP."""

from __future__ import annotations

import hashlib

from domain.errors import RateLimitedError
from gateway.limits.rate_limit import Limiter, Quota, Strategy
from gateway.settings import RateLimitSettings

MESSAGE = "too many login attempts; try again later"


def _digest(account: str) -> str:
    # Keys stay short and carry no address, whatever the caller sent as an email.
    return hashlib.sha256(account.encode("utf-8", "surrogatepass")).hexdigest()[:32]


class RateLimitLoginThrottle:
    """Every attempt counts, right or wrong, so a concurrent burst cannot slip through."""

    def __init__(self, limiter: Limiter, *, per_account: Quota, per_ip: Quota) -> None:
        self._limiter = limiter
        self._per_account, self._per_ip = per_account, per_ip

    async def attempt(self, account: str, client: str | None) -> None:
        """Count one attempt; raises RateLimitedError when the client or the account is spent."""
        # The client first: an IP that is already refused does not use up its victim's
        # attempts as well.
        if client is not None:
            by_ip = await self._limiter.hit(
                self._per_ip, "login-ip", client, strategy=Strategy.MOVING
            )
            if not by_ip.allowed:
                raise RateLimitedError(by_ip.retry_after, MESSAGE)
        by_account = await self._limiter.hit(
            self._per_account, "login-account", _digest(account), strategy=Strategy.MOVING
        )
        if not by_account.allowed:
            raise RateLimitedError(by_account.retry_after, MESSAGE)


def login_throttle(settings: RateLimitSettings, limiter: Limiter) -> RateLimitLoginThrottle:
    """The throttle with the login quotas the settings give."""
    return RateLimitLoginThrottle(
        limiter,
        per_account=Quota.parse(settings.login_per_account),
        per_ip=Quota.parse(settings.login_per_ip),
    )
