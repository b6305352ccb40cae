"""Exercise 0: a derivative is a slope, measured with `numerical_derivative(f, x, h)`."""

import math
import random

from ..framework import Exercise, Failed, NotStarted, close, num

TEXT = """
## Exercise 0: a derivative is a slope

The derivative of a function `f` at `x` says how fast `f(x)` changes when `x` changes a
little: nudge `x` by a tiny `h`, and `f(x)` moves by about `f'(x) * h`. So the slope can be
measured without any calculus, by comparing two nearby points:

    f'(x) ≈ (f(x + h) - f(x)) / h

For `f(x) = 3x² - 4x + 5` calculus gives `f'(x) = 6x - 4`, so the slope at `x = 3` is 14.

**Task:** write `numerical_derivative(f, x, h)` that estimates the slope this way.
"""

STUB = '''
import math
import random


def numerical_derivative(f, x, h=1e-6):
    """The slope of f at x, estimated from f(x) and f(x + h)."""
    ### YOUR CODE HERE
    raise NotImplementedError("Exercise 0: numerical_derivative")


# Try it: about 14.0
# print(numerical_derivative(lambda x: 3 * x**2 - 4 * x + 5, 3.0))
'''

SOLUTION = '''
import math
import random


def numerical_derivative(f, x, h=1e-6):
    """The slope of f at x, estimated from f(x) and f(x + h)."""
    return (f(x + h) - f(x)) / h


print(numerical_derivative(lambda x: 3 * x**2 - 4 * x + 5, 3.0))
'''

# (the function as the learner reads it, as code, its slope)
FUNCTIONS = [
    ("3*x**2 - 4*x + 5", "lambda x: 3 * x**2 - 4 * x + 5", lambda x: 6 * x - 4),
    ("x**3", "lambda x: x**3", lambda x: 3 * x**2),
    ("math.sin(x)", "math.sin", math.cos),
    ("math.exp(x) / 2", "lambda x: math.exp(x) / 2", lambda x: math.exp(x) / 2),
]
_NO_DEFAULT_H = {'TypeError': "It is called as numerical_derivative(f, x): give h a default "
                              "value, h=1e-6."}


def check(learner):
    if not learner.has('numerical_derivative', 'function'):
        raise NotStarted("there is no function numerical_derivative")
    rng = random.Random(0)
    for text, code, slope in FUNCTIONS:
        f = eval(code, {'math': math})
        for x in [3.0] + [round(rng.uniform(-3, 3), 2) for _ in range(4)]:
            shown = f"def f(x):\n    return {text}\nnumerical_derivative(f, {num(x)})"
            got = learner.run(f"f = {code}", f"data_of(numerical_derivative(f, {x!r}))",
                              shown=shown, hints=_NO_DEFAULT_H)
            want = slope(x)
            if close(got, want, 1e-4):
                continue
            hint = None
            if close(got, want * 1e-6, 1e-3):
                hint = "That is the slope times h: divide the rise f(x + h) - f(x) by the run h."
            elif close(got, -want, 1e-4):
                hint = "The sign is flipped: the rise is f(x + h) - f(x), not f(x) - f(x + h)."
            elif close(got, f(x), 1e-4):
                hint = "That is f(x) itself; the slope compares f at x + h with f at x."
            raise Failed(f"This returned {num(got)}; the slope of {text} at {num(x)} "
                         f"is {num(want)}", shown, hint)


EXERCISE = Exercise(0, "numerical_derivative", ('numerical_derivative',), (), check,
                    TEXT, STUB, SOLUTION)
