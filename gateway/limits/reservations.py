"""Local reservations: quota units taken from Redis in batches and spent in process.

A busy caller costs one Redis round trip per batch instead of one per request. For
each key this replica keeps the units it has counted in Redis and not yet spent
(`held`). A hit that `held` covers is admitted here, without a round trip; otherwise
the hit asks Redis for what it needs plus an extra batch, in the same atomic script
call that counts it in the shared sliding window (taking less when that is all the
window has room for, and nothing when it cannot pay for the hit itself).

The extra batch adapts: nothing for a key with at most one hit per lease here (a
quiet caller is counted in Redis exactly as without reservations), otherwise about
what the key spent here in the last lease, capped at `cap` units (a fraction of the
quota, a setting). Held units lapse `lease` seconds after Redis counted them, so no
unit is spent more than a lease after it was counted; lapsed units are given back to
the window they were counted in with the key's next call.

Bounds, with R replicas and a cap of C units per key:

- Overshoot at most R x C: every admitted unit was counted in Redis first, so what
  the replicas admit, weighed as the shared counter weighs it (the current window's,
  plus the previous window's by its share still within the last window length), is
  the quota at most, except units counted before a roll and spent after it: at most C
  a replica are held at a roll. So in each window of the shared counter, and at each
  moment weighed so, the replicas admit at most the quota plus R x C (0 without
  reservations; tests/gateway/redis/test_quota_across_replicas.py).
- Refused early by at most 2 x R x C: what Redis counted and nobody spent is what the
  replicas hold (at most C each) and what lapsed and goes back with their next call.

Only one hit at a time per key asks for an extra batch; the key's hits arriving while
it is on its way wait for it (once; then they ask for what they need), and units given
back are held only up to C, so `held` never exceeds C.
"""

from __future__ import annotations

import asyncio
import math
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

# Keys followed at most; past it the least recently hit go first. Their held units stay
# counted in Redis until their window passes (only ever refusing early).
MAX_KEYS = 100_000


@dataclass(slots=True)
class KeyState:
    """One key's reservation on this replica, and its recent local rate."""

    held: int = 0
    expires_at: float = 0.0
    window_end: int = 0
    # Units of a lease that lapsed, given back with the next call, and their window.
    lapsed: int = 0
    lapsed_window_end: int = 0
    # Of those, the units this process's memory counted too (Limiter's mirror).
    lapsed_counted: int = 0
    # An extra batch is being asked for: done when Redis has answered.
    refill: asyncio.Future[None] | None = None
    # Hits and units in the current rate period (a lease long) and the one before.
    period_start: float = -math.inf
    hits: int = 0
    units: int = 0
    previous_hits: int = 0
    previous_units: int = 0
    # The quota's `remaining` at the last call, held units counted as spent; its reset.
    remaining: int = 0
    reset_at: float = 0.0


@dataclass(slots=True)
class Claim:
    """What one hit takes: from `held`, and (`remote`) from Redis."""

    state: KeyState
    cost: int
    # Units taken from `held` (all of `cost` for a hit admitted here).
    claimed: int
    claimed_window_end: int
    remote: bool
    # The most this replica holds for the key (C).
    cap: int = 0
    # Asked of Redis: at least `minimum`, at most `want`; `refund` given back first.
    want: int = 0
    minimum: int = 0
    refund: int = 0
    refund_window_end: int = 0
    # Of `refund`, the units this process's memory counted too.
    refund_counted: int = 0
    extra: bool = field(default=False)
    # Not taken: a batch for this key is on its way; claim again once it has come.
    wait: asyncio.Future[None] | None = None


class Reservations:
    """Per-key reservations of one replica (one event loop: no locks, no awaits)."""

    def __init__(self, *, fraction: float, lease: float, max_keys: int = MAX_KEYS) -> None:
        self._fraction, self._lease, self._max_keys = fraction, lease, max_keys
        self._keys: OrderedDict[str, KeyState] = OrderedDict()

    def cap(self, amount: int) -> int:
        """Units reserved ahead at most for a quota of `amount` (0: none, exact)."""
        return math.floor(self._fraction * amount)

    def held(self, key: str) -> int:
        """Units this replica holds for `key`, counted in Redis and not yet spent."""
        state = self._keys.get(key)
        return 0 if state is None else state.held

    def clear(self) -> None:
        """Forget every reservation (Redis failed: what it counted is unknown)."""
        self._keys.clear()

    def claim(self, key: str, amount: int, cost: int, now: float, *, again: bool = False) -> Claim:
        """Take `cost` from what is held, or plan the call to Redis that takes it, or
        (`wait`) wait for the batch already asked for. `again`: a claim retried after
        waiting (its hit is already counted in the key's rate)."""
        state = self._keys.get(key)
        if state is None:
            state = self._keys[key] = KeyState()
            if len(self._keys) > self._max_keys:
                self._keys.popitem(last=False)
        else:
            self._keys.move_to_end(key)
        if cost <= 0:
            return Claim(state, cost, 0, 0, remote=True)
        if not again:
            self._count(state, cost, now)
        if state.held and now >= state.expires_at:
            self._lapse(state, state.held, state.window_end)
            state.held = 0
        cap = self.cap(amount)
        if state.held >= cost:
            state.held -= cost
            return Claim(state, cost, cost, state.window_end, remote=False, cap=cap)
        if state.refill is not None and not again:
            # One batch at a time a key: the hits arriving meanwhile are paid from it
            # rather than each asking Redis (and being refused while it is on its way).
            return Claim(state, cost, 0, 0, remote=False, cap=cap, wait=state.refill)
        claimed, state.held = state.held, 0
        need = cost - claimed
        extra = 0
        if state.refill is None and max(state.hits, state.previous_hits) >= 2:
            extra = min(cap, max(state.units, state.previous_units))
        refund, state.lapsed = state.lapsed, 0
        refund_counted, state.lapsed_counted = state.lapsed_counted, 0
        if extra:
            state.refill = asyncio.get_running_loop().create_future()
        return Claim(
            state,
            cost,
            claimed,
            state.window_end,
            remote=True,
            cap=cap,
            want=need + extra,
            minimum=need,
            refund=refund,
            refund_window_end=state.lapsed_window_end,
            refund_counted=refund_counted,
            extra=extra > 0,
        )

    def spend_held(self, spends: Sequence[tuple[str, int]], now: float) -> list[KeyState] | None:
        """Each (key, cost) taken from what is held for the key, when the unexpired held
        units cover every one of them (distinct keys, positive costs); otherwise None and
        nothing is taken. What `claim` does for hits admitted here, without a `Claim`."""
        entries = self._keys
        states: list[KeyState] = []
        for key, cost in spends:
            state = entries.get(key)
            if state is None or not 0 < cost <= state.held or now >= state.expires_at:
                return None
            states.append(state)
        # Distinct keys are distinct states (one per key): one key's hits add up, and
        # are claimed one after the other instead. Compared by identity, no set for two.
        count = len(states)
        if count == 2:
            if states[0] is states[1]:
                return None
        elif count > 2 and len({id(state) for state in states}) < count:
            return None
        lease = self._lease
        for (key, cost), state in zip(spends, states, strict=True):
            entries.move_to_end(key)
            if now - state.period_start >= lease:
                self._next_period(state, now)
            state.hits += 1
            state.units += cost
            state.held -= cost
        return states

    def _count(self, state: KeyState, cost: int, now: float) -> None:
        """The hit in the key's recent rate, which sizes its next extra batch."""
        if now - state.period_start >= self._lease:
            self._next_period(state, now)
        state.hits += 1
        state.units += cost

    def _next_period(self, state: KeyState, now: float) -> None:
        recent = now - state.period_start < 2 * self._lease
        state.previous_hits = state.hits if recent else 0
        state.previous_units = state.units if recent else 0
        state.hits = state.units = 0
        state.period_start = now

    def settle(
        self,
        claim: Claim,
        taken: int,
        window_end: int,
        remaining: int,
        reset_at: float,
        now: float,
        *,
        kept: int | None = None,
    ) -> None:
        """Redis's answer to a remote claim: what it took beyond the hit is held.

        `kept`: of the units Redis took, those to keep (default: all); the rest lapse and
        are given back with the key's next call.
        """
        state = claim.state
        self._refilled(claim)
        kept = taken if kept is None else kept
        if taken > kept:
            self._lapse(state, taken - kept, window_end, counted=False)
        if claim.cost > 0 and kept >= claim.minimum:
            surplus = kept - claim.minimum
            if surplus:
                if state.held and state.window_end != window_end:
                    self._lapse(state, state.held, state.window_end)
                    state.held = 0
                if not state.held:
                    state.expires_at, state.window_end = now + self._lease, window_end
                state.held += surplus
        else:
            self.give_back(claim, now)
        state.remaining, state.reset_at = remaining, reset_at

    def give_back(self, claim: Claim, now: float) -> None:
        """A claim not admitted after all (a hit before it was refused): held again, as
        far as the lease, the window and the cap allow (the rest lapses)."""
        state, units = claim.state, claim.claimed
        claim.claimed = 0
        if not units:
            return
        same_window = not state.held or state.window_end == claim.claimed_window_end
        back = min(units, max(0, claim.cap - state.held)) if same_window else 0
        if now >= state.expires_at:
            back = 0
        if back:
            state.held += back
            state.window_end = claim.claimed_window_end
        if units - back:
            self._lapse(state, units - back, claim.claimed_window_end)

    def failed(self, claim: Claim) -> None:
        """The call to Redis failed: its refund and its extra batch are forgotten."""
        self._refilled(claim)

    def cancel(self, claim: Claim, now: float) -> None:
        """A claim not sent after all (another hit of its request has to wait)."""
        self.give_back(claim, now)
        self._refilled(claim)
        if claim.refund:
            self._lapse(claim.state, claim.refund, claim.refund_window_end, counted=False)
            claim.state.lapsed_counted += claim.refund_counted
            claim.refund = claim.refund_counted = 0

    def _refilled(self, claim: Claim) -> None:
        state = claim.state
        if claim.extra and state.refill is not None:
            state.refill.set_result(None)
            state.refill = None
        claim.extra = False

    def remaining(self, state: KeyState, amount: int) -> int:
        """The quota left as the shared count says, less what this replica spent since."""
        return min(amount, state.remaining + state.held)

    def _lapse(self, state: KeyState, units: int, window_end: int, *, counted: bool = True) -> None:
        """`counted`: the units were kept (counted in memory as well as in Redis)."""
        if state.lapsed and state.lapsed_window_end != window_end:
            # Two windows' leftovers: the older is dropped (it has rolled out, or
            # weighs little), which only ever refuses early.
            state.lapsed = state.lapsed_counted = 0
        state.lapsed += units
        state.lapsed_counted += units if counted else 0
        state.lapsed_window_end = window_end
