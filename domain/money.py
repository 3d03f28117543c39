"""Money: an exact amount in one currency, stored as integer minor units."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

from domain.errors import FieldProblem, ValidationError

# Two minor digits covers the currencies the demo uses; a currency table can replace
# this without touching callers because everything goes through `minor_units`.
_MINOR_DIGITS = 2
_QUANTUM = Decimal(1).scaleb(-_MINOR_DIGITS)
# Amounts a client may state: a quadrillion minor units either way keeps any sum the
# service makes of them (an order's lines, a filter bound) inside a 64-bit column.
MAX_MINOR_UNITS = 10**15 - 1


class CurrencyMismatchError(ValidationError):
    def __init__(self, left: str, right: str) -> None:
        super().__init__(FieldProblem("currency", f"cannot combine {left} with {right}"))
        self.left, self.right = left, right


def _check_currency(code: str) -> str:
    if len(code) != 3 or not code.isascii() or not code.isalpha():
        raise ValidationError.single("currency", f"{code!r} is not an ISO 4217 code")
    return code.upper()


@dataclass(frozen=True, slots=True, order=False)
class Money:
    """An amount of money; arithmetic is exact and never mixes currencies."""

    cents: int
    currency: str = "USD"

    def __post_init__(self) -> None:
        object.__setattr__(self, "currency", _check_currency(self.currency))

    @classmethod
    def of(cls, amount: Decimal | str | int, currency: str = "USD") -> Money:
        """Build from a decimal amount; more than two decimals is a validation error."""
        try:
            value = Decimal(amount)
        except (InvalidOperation, ValueError):
            raise ValidationError.single("amount", f"{amount!r} is not a number") from None
        if not value.is_finite():
            raise ValidationError.single("amount", "must be a finite number")
        try:
            exact = value.quantize(_QUANTUM, rounding=ROUND_HALF_EVEN) == value
        except InvalidOperation:
            # Past the context precision (28 digits) quantize signals; "1e30" is bad input.
            raise ValidationError.single("amount", "is too large") from None
        if not exact:
            raise ValidationError.single(
                "amount", f"at most {_MINOR_DIGITS} decimal places are allowed"
            )
        cents = int(value.scaleb(_MINOR_DIGITS))
        if abs(cents) > MAX_MINOR_UNITS:
            limit = Decimal(MAX_MINOR_UNITS).scaleb(-_MINOR_DIGITS)
            raise ValidationError.single("amount", f"must be between -{limit} and {limit}")
        return cls(cents, currency)

    @classmethod
    def zero(cls, currency: str = "USD") -> Money:
        return cls(0, currency)

    @property
    def amount(self) -> Decimal:
        return Decimal(self.cents).scaleb(-_MINOR_DIGITS).quantize(_QUANTUM)

    def _same(self, other: Money) -> None:
        if self.currency != other.currency:
            raise CurrencyMismatchError(self.currency, other.currency)

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.cents + other.cents, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.cents - other.cents, self.currency)

    def __mul__(self, factor: int) -> Money:
        if not isinstance(factor, int) or isinstance(factor, bool):
            return NotImplemented
        return Money(self.cents * factor, self.currency)

    __rmul__ = __mul__

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.cents < other.cents

    def __le__(self, other: Money) -> bool:
        self._same(other)
        return self.cents <= other.cents

    def __gt__(self, other: Money) -> bool:
        self._same(other)
        return self.cents > other.cents

    def __ge__(self, other: Money) -> bool:
        self._same(other)
        return self.cents >= other.cents

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"


def total(amounts: list[Money], currency: str = "USD") -> Money:
    """Sum of amounts; an empty list is zero in `currency`."""
    result = Money.zero(amounts[0].currency if amounts else currency)
    for amount in amounts:
        result = result + amount
    return result
