"""Argument checks shared by the modules: each error names the argument, the value and the fix.

Standard library only, so that the engine's neighbours (nn, optim) can use it. NumPy's
integers and floats count as numbers; a bool never does.
"""

import math
import numbers

SEED_LIMIT = 2 ** 32  # NumPy's RandomState takes seeds from 0 to 2**32 - 1


class DataError(ValueError):
    """A dataset that cannot be used: the message says where it is wrong and with what value."""


def whole_number(what, n, least=1):
    """n as an int, if it is a whole number >= least."""
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < least:
        raise ValueError(f"{what} must be a whole number >= {least}, got {n!r}")
    return int(n)


def real_number(what, x, low=0.0, high=math.inf):
    """x as a float, if it is a finite number with low <= x < high."""
    if isinstance(x, bool) or not isinstance(x, numbers.Real) or not math.isfinite(x) \
            or not low <= x < high:
        bounds = f">= {low:g}" if high == math.inf else f"in [{low:g}, {high:g})"
        raise ValueError(f"{what} must be a finite number {bounds}, got {x!r}")
    return float(x)


def one_of(what, value, choices):
    """value, if it is one of `choices`."""
    if isinstance(value, str) and value in choices:
        return value
    raise ValueError(f"{what} must be one of {', '.join(map(repr, choices))}; got {value!r}")


def seed(what, s):
    """s as an int, if NumPy's RandomState can take it as a seed."""
    if isinstance(s, bool) or not isinstance(s, numbers.Integral) or not 0 <= s < SEED_LIMIT:
        raise ValueError(f"{what} must be a whole number from 0 to 2**32 - 1 "
                         f"({SEED_LIMIT - 1}), got {s!r}")
    return int(s)


def batch_size(what, size):
    """None (the whole set) or a positive whole number of samples."""
    if size is None:
        return None
    if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 1:
        raise ValueError(f"{what} must be a whole number >= 1 or None (the whole set), "
                         f"got {size!r}")
    return int(size)


def data_value(where, value):
    """value, if a dataset may hold it: a finite int or float."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise DataError(f"{where} is not a number: {value!r}; datasets hold plain ints and floats")
    if not math.isfinite(value):
        raise DataError(f"{where} is not finite: {value!r}")
    return value
