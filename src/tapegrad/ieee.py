"""IEEE-754 arithmetic on Python floats, as PyTorch (and C) computes it.

Python raises where C returns inf or nan: `math.exp(1000)` raises OverflowError, `1 / 0.0`
ZeroDivisionError, `math.log(0)` a domain error. The engine's ops use these functions
instead, so that `Value(1000).exp()` is inf and `Value(0).log()` is -inf, as in PyTorch.
Standard library only, like the engine.

    >>> exp(1000.0), log(0.0), div(1.0, -0.0), pow(-8.0, 1 / 3)
    (inf, -inf, -inf, nan)
"""

import math


def exp(x):
    try:
        return math.exp(x)
    except OverflowError:  # exp(1000)
        return math.inf


def log(x):
    if x > 0 or math.isnan(x):
        return math.log(x)
    return -math.inf if x == 0 else math.nan  # log(0), log(-1)


def div(a, b):
    try:
        return a / b
    except ZeroDivisionError:  # a / ±0: ±inf, or nan for 0/0
        if a == 0 or math.isnan(a):
            return math.nan
        return math.copysign(math.inf, a) * math.copysign(1.0, b)


def _is_odd_integer(y):
    return y == int(y) and int(y) % 2 == 1 if math.isfinite(y) else False


def pow(x, y):  # noqa: A001 - the IEEE version of the builtin, used as ieee.pow
    try:
        return math.pow(x, y)
    except OverflowError:  # too large: negative only for a negative base and odd power
        return -math.inf if x < 0 and _is_odd_integer(y) else math.inf
    except ValueError:
        if x == 0:  # ±0 to a negative power
            negative_zero = math.copysign(1.0, x) < 0
            return -math.inf if negative_zero and _is_odd_integer(y) else math.inf
        return math.nan  # a negative base to a fractional power


def pow_number(x, k):
    """x ** k for a constant k, as PyTorch computes it: x ** 0.5 is sqrt(x) and x ** -0.5 is
    1 / sqrt(x); they differ from pow only at -0 and -inf (sqrt(-inf) is nan where
    pow(-inf, 0.5) is inf)."""
    if k == 0.5:
        return math.sqrt(x) if x >= 0 or math.isnan(x) else math.nan
    if k == -0.5:
        return div(1.0, pow_number(x, 0.5))
    return pow(x, k)


def sigmoid(x):
    # exp(-x) overflows to inf for x < -709, and 1 / (1 + inf) is the right 0.0.
    return 1.0 / (1.0 + exp(-x))
