"""Check backward() against finite differences: the independent referee of every gradient."""

import math
from dataclasses import dataclass

from .engine import Value


def numerical_derivative(f, x, h=1e-6):
    """The slope of `f` at `x` by central differences, (f(x+h) - f(x-h)) / 2h.

    The seeds' exercise 0 uses the one-sided (f(x+h) - f(x)) / h; the central form is as
    cheap and its error shrinks with h**2 instead of h.

    >>> round(numerical_derivative(lambda x: 3 * x**2 - 4 * x + 5, 3.0), 6)
    14.0
    """
    return (f(x + h) - f(x - h)) / (2 * h)


class GradcheckError(AssertionError):
    """backward() and finite differences disagree; the message holds the report."""


@dataclass
class GradcheckReport:
    """One row per input: its value, backward()'s gradient, the numerical one, agreement."""

    inputs: list
    analytic: list
    numeric: list
    ok: list

    @property
    def passed(self):
        return all(self.ok)

    def __str__(self):
        lines = [f"{'input':>5}  {'value':>12}  {'backward()':>14}  {'numerical':>14}  ok"]
        for i, (x, a, n, ok) in enumerate(zip(self.inputs, self.analytic, self.numeric, self.ok)):
            lines.append(f"{i:>5}  {x:>12.6g}  {a:>14.8g}  {n:>14.8g}  {'yes' if ok else 'NO'}")
        return '\n'.join(lines)


def _close(a, n, rtol, atol):
    if math.isnan(a) or math.isnan(n):
        return math.isnan(a) and math.isnan(n)
    if math.isinf(a) or math.isinf(n):
        return a == n
    return abs(a - n) <= atol + rtol * abs(n)


def gradcheck(f, inputs, h=1e-6, rtol=1e-4, atol=1e-6):
    """Compare `backward()` with central differences for each input of `f`.

    `f` takes one Value per number in `inputs` and returns a Value. Returns a
    GradcheckReport (print it for a table); raises GradcheckError if any gradient differs
    by more than `atol + rtol * |numerical|`.

    >>> print(gradcheck(lambda a, b: (a * b).tanh(), [0.5, -1.0]))
    input         value      backward()       numerical  ok
        0           0.5     -0.78644773     -0.78644773  yes
        1            -1      0.39322387      0.39322387  yes
    """
    inputs = [float(x) for x in inputs]

    def evaluate(xs):
        out = f(*[Value(x) for x in xs])
        if not isinstance(out, Value):
            raise TypeError(f"gradcheck: f must return a Value, got {type(out).__name__}: {out!r}")
        return out

    leaves = [Value(x) for x in inputs]
    out = f(*leaves)
    if not isinstance(out, Value):
        raise TypeError(f"gradcheck: f must return a Value, got {type(out).__name__}: {out!r}")
    out.backward()
    analytic = [v.grad for v in leaves]

    numeric = []
    for i in range(len(inputs)):
        def f_i(t, i=i):
            return evaluate(inputs[:i] + [t] + inputs[i + 1:]).data
        numeric.append(numerical_derivative(f_i, inputs[i], h))

    ok = [_close(a, n, rtol, atol) for a, n in zip(analytic, numeric)]
    report = GradcheckReport(inputs, analytic, numeric, ok)
    if not report.passed:
        raise GradcheckError(f"gradcheck: backward() disagrees with finite differences "
                             f"(rtol={rtol}, atol={atol}):\n{report}")
    return report
