"""Commercial rounding: half away from zero, on the decimal value a person sees."""

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation, localcontext


def round_half_up(value: float | str | Decimal, ndigits: int = 0) -> Decimal:
    """Round ``value`` to ``ndigits`` decimal places, ties away from zero."""
    try:
        number = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    except (InvalidOperation, ValueError, TypeError) as exc:
        raise ValueError(f"not a number: {value!r}") from exc
    if not number.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    exponent = Decimal(1).scaleb(-ndigits)
    with localcontext() as ctx:
        ctx.prec = max(28, abs(number.adjusted()) + abs(ndigits) + 2)
        return number.quantize(exponent, rounding=ROUND_HALF_UP)
