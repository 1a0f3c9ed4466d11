"""Sprig's arithmetic: int64 math through spf13/cast, and float math through shopspring/decimal.

Integer functions convert every argument with cast.ToInt64 (strings parse, floats truncate,
anything unconvertible is 0) and wrap around at 64 bits. The ``...f`` functions turn each
float into its shortest decimal, compute exactly (division rounds half away from zero at 16
decimal places) and round the result back to the nearest float64.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable
from decimal import Decimal
from fractions import Fraction
from typing import Any

from .errors import GoFuncError
from .gotypes import INT64_MAX, INT64_MIN, Int64, int64, parse_int, to_float64, to_int64
from .values import format_value

_RANDOM = random.SystemRandom()


def atoi(s: str) -> int:
    # strconv.Atoi: plain decimal digits; out-of-range values come back clamped.
    if not re.fullmatch(r"[+-]?[0-9]+", s):
        return 0
    return max(INT64_MIN, min(INT64_MAX, int(s)))


def to_int64_fn(value: object) -> Int64:
    return Int64(to_int64(value))


def to_int_fn(value: object) -> int:
    return to_int64(value)


def to_float64_fn(value: object) -> float:
    return to_float64(value)


def to_decimal(value: object) -> Int64:
    """Sprig's toDecimal: the value's text read as an octal number (0 when it is not one)."""
    try:
        return Int64(parse_int(format_value(value), 8, 64))
    except ValueError:
        return Int64(0)


def add1(value: object) -> Int64:
    return int64(to_int64(value) + 1)


def add(*values: object) -> Int64:
    return int64(sum(to_int64(value) for value in values))


def sub(a: object, b: object) -> Int64:
    return int64(to_int64(a) - to_int64(b))


def mul(a: object, *values: object) -> Int64:
    product = to_int64(a)
    for value in values:
        product = int64(product * to_int64(value))
    return int64(product)


def _divmod(a: object, b: object) -> tuple[int, int]:
    dividend, divisor = to_int64(a), to_int64(b)
    if divisor == 0:
        raise GoFuncError("runtime error: integer divide by zero")
    # Go truncates toward zero where Python floors.
    quotient = abs(dividend) // abs(divisor)
    if (dividend < 0) != (divisor < 0):
        quotient = -quotient
    return quotient, dividend - quotient * divisor


def div(a: object, b: object) -> Int64:
    return int64(_divmod(a, b)[0])


def mod(a: object, b: object) -> Int64:
    return int64(_divmod(a, b)[1])


def rand_int(low: int, high: int) -> int:
    if high - low <= 0:
        raise GoFuncError("invalid argument to Intn")
    return low + _RANDOM.randrange(high - low)


def maximum(a: object, *values: object) -> Int64:
    return Int64(max(to_int64(value) for value in (a, *values)))


def minimum(a: object, *values: object) -> Int64:
    return Int64(min(to_int64(value) for value in (a, *values)))


def _go_max(x: float, y: float) -> float:
    if (math.isinf(x) and x > 0) or (math.isinf(y) and y > 0):
        return math.inf
    if math.isnan(x) or math.isnan(y):
        return math.nan
    if x == 0 and x == y:
        return y if math.copysign(1, x) < 0 else x
    return x if x > y else y


def _go_min(x: float, y: float) -> float:
    if (math.isinf(x) and x < 0) or (math.isinf(y) and y < 0):
        return -math.inf
    if math.isnan(x) or math.isnan(y):
        return math.nan
    if x == 0 and x == y:
        return x if math.copysign(1, x) < 0 else y
    return x if x < y else y


def maxf(a: object, *values: object) -> float:
    result = to_float64(a)
    for value in values:
        result = _go_max(result, to_float64(value))
    return result


def minf(a: object, *values: object) -> float:
    result = to_float64(a)
    for value in values:
        result = _go_min(result, to_float64(value))
    return result


def _integral(value: float, fn: Callable[[float], int]) -> float:
    if math.isnan(value) or math.isinf(value):
        return value
    result = float(fn(value))
    # math.Floor and math.Ceil keep the sign of a zero result (-0.5 rounds up to -0).
    return math.copysign(0.0, value) if result == 0 else result


def floor(value: object) -> float:
    return _integral(to_float64(value), math.floor)


def ceil(value: object) -> float:
    return _integral(to_float64(value), math.ceil)


def _go_pow10(exponent: float) -> float:
    """math.Pow(10, y) for integral y, with Go's own repeated-squaring algorithm."""
    if exponent == 0:
        return 1.0
    if exponent == 1:
        return 10.0
    if math.isnan(exponent):
        return math.nan
    if math.isinf(exponent):
        return math.inf if exponent > 0 else 0.0
    whole = abs(exponent)
    if whole >= 2**63:
        return math.inf if exponent > 0 else 0.0
    mantissa, power = 1.0, 0
    x1, xe = math.frexp(10.0)
    count = int(whole)
    while count:
        if xe < -(1 << 12) or xe > (1 << 12):
            power += xe
            break
        if count & 1:
            mantissa *= x1
            power += xe
        x1 *= x1
        xe <<= 1
        if x1 < 0.5:
            x1 += x1
            xe -= 1
        count >>= 1
    if exponent < 0:
        mantissa = 1 / mantissa
        power = -power
    try:
        return math.ldexp(mantissa, power)
    except OverflowError:
        return math.inf


def _modf_fraction(value: float) -> float:
    if math.isinf(value):
        return math.nan
    return math.modf(value)[0]


def round_(value: object, places: int, *round_on: float) -> float:
    threshold = round_on[0] if round_on else 0.5
    number = to_float64(value)
    power = _go_pow10(float(places))
    digits = power * number
    if _modf_fraction(digits) >= threshold:
        rounded = _integral(digits, math.ceil)
    else:
        rounded = _integral(digits, math.floor)
    try:
        return rounded / power
    except ZeroDivisionError:
        return math.copysign(math.inf, rounded) if rounded else math.nan


def _exact(value: object) -> Fraction:
    number = to_float64(value)
    if math.isnan(number) or math.isinf(number):
        raise GoFuncError(f"Cannot create a Decimal from {format_value(number)}")
    # shopspring/decimal takes the shortest decimal that reads back as the same float.
    return Fraction(Decimal(repr(number)))


def _div_round(a: Fraction, b: Fraction) -> Fraction:
    if b == 0:
        raise GoFuncError("decimal division by 0")
    scale = 10**16
    exact = a / b
    truncated = math.trunc(exact * scale)
    remainder = exact * scale - truncated
    if abs(remainder) * 2 >= 1:
        truncated += 1 if exact > 0 else -1
    return Fraction(truncated, scale)


def _to_float(value: Fraction) -> float:
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def _decimal_op(first: object, rest: tuple[object, ...], op: Callable[..., Fraction]) -> float:
    result = _exact(first)
    for value in rest:
        result = op(result, _exact(value))
    return _to_float(result)


def add1f(value: object) -> float:
    return _decimal_op(value, (1,), lambda a, b: a + b)


def addf(*values: object) -> float:
    return _decimal_op(0.0, values, lambda a, b: a + b)


def subf(a: object, *values: object) -> float:
    return _decimal_op(a, values, lambda x, y: x - y)


def mulf(a: object, *values: object) -> float:
    return _decimal_op(a, values, lambda x, y: x * y)


def divf(a: object, *values: object) -> float:
    return _decimal_op(a, values, _div_round)


def seq(*params: int) -> str:
    def steps(start: int, stop: int, step: int) -> list[int]:
        if stop < start:
            return list(range(start, stop, step)) if step < 0 else []
        return list(range(start, stop, step)) if step > 0 else []

    if len(params) == 1:
        end = params[0]
        increment = -1 if end < 1 else 1
        numbers = steps(1, end + increment, increment)
    elif len(params) == 2:
        start, end = params
        step = -1 if end < start else 1
        numbers = steps(start, end + step, step)
    elif len(params) == 3:
        start, step, end = params
        increment = 1
        if end < start:
            increment = -1
            if step > 0:
                return ""
        numbers = steps(start, end + increment, step)
    else:
        return ""
    return " ".join(str(number) for number in numbers)


MATH_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "atoi": atoi,
    "int64": to_int64_fn,
    "int": to_int_fn,
    "float64": to_float64_fn,
    "seq": seq,
    "toDecimal": to_decimal,
    "add1": add1,
    "add": add,
    "sub": sub,
    "div": div,
    "mod": mod,
    "mul": mul,
    "randInt": rand_int,
    "add1f": add1f,
    "addf": addf,
    "subf": subf,
    "divf": divf,
    "mulf": mulf,
    "biggest": maximum,
    "max": maximum,
    "min": minimum,
    "maxf": maxf,
    "minf": minf,
    "ceil": ceil,
    "floor": floor,
    "round": round_,
}
