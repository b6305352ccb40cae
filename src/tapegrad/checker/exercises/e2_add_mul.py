"""Exercise 2: + and *, also with a plain number on either side."""

import random

from ..framework import Exercise, Failed, close, num, pairs, run_parts, show, value_class

TEXT = """
## Exercise 2: `+` and `*`

Python turns `a + b` into the method call `a.__add__(b)`, and `a * b` into `a.__mul__(b)`.
Defining them lets us write formulas with Values as with plain numbers. Each returns a
**new** Value and leaves `a` and `b` as they were.

A plain number mixed in, as in `a + 1`, first becomes a Value. With the number on the
left, `2 + a`, Python first asks the number, which knows nothing of Values, and then calls
`a.__radd__(2)`: the *reflected* method. `sum([a, b, c])` needs it too, because it starts
from 0 and computes `0 + a` first.

**Task:** write `__add__`, `__radd__`, `__mul__` and `__rmul__`.
"""

STUB = '''
def __add__(self, other):
    """self + other, as a new Value. A plain number becomes a Value first, so a + 1 works."""
    other = other if isinstance(other, Value) else Value(other)
    ### YOUR CODE HERE: a new Value holding the sum.
    ### (Exercise 3 comes back to give it its inputs and op; exercise 4 its _backward.)
    raise NotImplementedError("Exercise 2: Value.__add__")


def __radd__(self, other):
    """other + self, for a plain number on the left: 2 + a."""
    ### YOUR CODE HERE
    raise NotImplementedError("Exercise 2: Value.__radd__")


def __mul__(self, other):
    """self * other, as a new Value."""
    other = other if isinstance(other, Value) else Value(other)
    ### YOUR CODE HERE (exercises 3 and 4 come back here too)
    raise NotImplementedError("Exercise 2: Value.__mul__")


def __rmul__(self, other):
    """other * self, for a plain number on the left: 3 * a."""
    ### YOUR CODE HERE
    raise NotImplementedError("Exercise 2: Value.__rmul__")


# Make the functions above methods of Value.
Value.__add__, Value.__radd__ = __add__, __radd__
Value.__mul__, Value.__rmul__ = __mul__, __rmul__

# Try it:
# a, b = Value(-4.0), Value(2.0)
# print(a + b, a * b, 2 + a, 3 * a, sum([a, b]))
'''

SOLUTION = '''
def __add__(self, other):
    """self + other, as a new Value. A plain number becomes a Value first, so a + 1 works."""
    other = other if isinstance(other, Value) else Value(other)
    return Value(self.data + other.data)


def __radd__(self, other):
    """other + self, for a plain number on the left: 2 + a."""
    return self + other  # addition does not care about order


def __mul__(self, other):
    """self * other, as a new Value."""
    other = other if isinstance(other, Value) else Value(other)
    return Value(self.data * other.data)


def __rmul__(self, other):
    """other * self, for a plain number on the left: 3 * a."""
    return self * other


Value.__add__, Value.__radd__ = __add__, __radd__
Value.__mul__, Value.__rmul__ = __mul__, __rmul__

a, b = Value(-4.0), Value(2.0)
print(a + b, a * b, 2 + a, 3 * a, sum([a, b]))
'''

_RADD_HINT = ("When a plain number n comes first, Python calls a.__radd__(n); sum() starts "
              "from 0, so sum([a, b]) needs it too: define __radd__.")
_RMUL_HINT = "When a plain number n comes first, Python calls a.__rmul__(n): define __rmul__."
_NUMBER_HINT = ("A plain number has no .data: turn it into a Value first, "
                "other = other if isinstance(other, Value) else Value(other).")


def expect_value(code, seen, want, inputs=()):
    """Failed unless the learner's result `seen` is a new Value holding `want`, and the
    inputs, (name, seen after, data before), are unchanged."""
    if not seen['value']:
        raise Failed(f"This gave {show(seen)}, of type {seen['type']}; expected a new Value",
                     code)
    if not close(seen.get('data'), want, 1e-12):
        raise Failed(f"This gave {show(seen)}; expected data {num(want)}", code)
    for name, after, data in inputs:
        if not close(after.get('data'), data, 0):
            raise Failed(f"This changed {name}: {name}.data is now {num(after.get('data'))}, "
                         f"was {num(data)}", code,
                         "An op returns a new Value and leaves its inputs as they were.")


def check(learner):
    value_class(learner)
    cases = pairs(random.Random(2), 20)

    def binary(symbol, op):
        def part():
            for x, y in cases:
                code = f"a, b = Value({num(x)}), Value({num(y)})\nc = a {symbol} b"
                seen = learner.run([f"a, b = Value({x!r}), Value({y!r})", f"c = a {symbol} b"],
                                   "[see(c), see(a), see(b)]", shown=code)
                expect_value(code, seen[0], op(x, y), [('a', seen[1], x), ('b', seen[2], y)])
        return part

    def with_numbers(symbol, op, hint):
        def part():
            for x, n in cases:
                for line in (f"c = a {symbol} {num(n)}", f"c = {num(n)} {symbol} a"):
                    code = f"a = Value({num(x)})\n{line}"
                    reflected = line.startswith('c = a') is False
                    seen = learner.run([f"a = Value({x!r})", line], "[see(c), see(a)]",
                                       shown=code, hints={
                                           'TypeError': hint if reflected else _NUMBER_HINT,
                                           'AttributeError': _NUMBER_HINT})
                    expect_value(code, seen[0], op(x, n), [('a', seen[1], x)])
        return part

    def summing():
        xs = [x for x, _ in cases[:4]]
        code = f"sum([{', '.join(f'Value({num(x)})' for x in xs)}])"
        seen = learner.run(f"c = sum([{', '.join(f'Value({x!r})' for x in xs)}])", "see(c)",
                           shown=code, hints={'TypeError': _RADD_HINT})
        expect_value(code, seen, sum(xs))

    run_parts([('a + b', binary('+', lambda a, b: a + b)),
               ('a * b', binary('*', lambda a, b: a * b)),
               ('a + 2 and 2 + a', with_numbers('+', lambda a, b: a + b, _RADD_HINT)),
               ('a * 3 and 3 * a', with_numbers('*', lambda a, b: a * b, _RMUL_HINT)),
               ('sum()', summing)])


EXERCISE = Exercise(2, "+ and *, also with a number on the left", ('Value',), (1,), check,
                    TEXT, STUB, SOLUTION)
