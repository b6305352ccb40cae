"""Exercise 3: graph bookkeeping, each result remembers its inputs (_prev) and op (_op)."""

import random

from ..framework import Exercise, Failed, NotStarted, need_value_ops, num, pairs, show, value_class

TEXT = """
## Exercise 3: remembering how a value was made

To send gradients backwards through a calculation, each result must remember where it
came from. A Value made by an op keeps:

- `_prev`: its inputs, the Values the op read (for `c = a * b`, the Values `a` and `b`
  themselves, not copies), as a tuple or a set;
- `_op`: the op's symbol, `'+'` or `'*'`.

A Value you create yourself, like `Value(2.0)`, has no inputs: its `_prev` is empty and
its `_op` is `''`. Together these links form the **computation graph** of the result.

**Task:** in `__init__` (exercise 1's cell), keep `_children` as `self._prev` and `_op` as
`self._op`. In `__add__` and `__mul__` (exercise 2's cell), create the result with its
inputs and op: `Value(..., (self, other), '+')`. Then run all the cells again.
"""

STUB = '''
# Exercise 3's code goes into the cells of exercises 1 and 2. Then try it:
# a, b = Value(-4.0), Value(2.0)
# d = a * b + b
# print(d._op, [v.data for v in d._prev])  # + and the inputs -8.0 (that is a * b) and 2.0
'''

SOLUTION = '''
def __init__(self, data, _children=(), _op=''):
    self.data = float(data)
    self.grad = 0.0
    self._prev = tuple(_children)  # the inputs, in order
    self._op = _op                 # '' for a Value created directly


def __add__(self, other):
    other = other if isinstance(other, Value) else Value(other)
    return Value(self.data + other.data, (self, other), '+')


def __mul__(self, other):
    other = other if isinstance(other, Value) else Value(other)
    return Value(self.data * other.data, (self, other), '*')


Value.__init__, Value.__add__, Value.__mul__ = __init__, __add__, __mul__

a, b = Value(-4.0), Value(2.0)
d = a * b + b
print(d._op, [v.data for v in d._prev])
'''

# What the worker reports of c's inputs: which of a and b they are, and each one seen.
_INPUTS = ("[['a' if v is a else 'b' if v is b else '' for v in list(c._prev)], "
           "[see(v) for v in list(c._prev)], repr(c._op)]")


def check(learner):
    value_class(learner)
    leaf = learner.run("v = Value(1.0)", "[hasattr(v, '_prev'), hasattr(v, '_op')]")
    if not any(leaf):
        raise NotStarted("Value has no _prev or _op")
    for attribute, present in zip(('_prev', '_op'), leaf):
        if not present:
            raise Failed(f"Value(1.0) has no attribute {attribute}", "Value(1.0)",
                         "__init__ should store _children as self._prev and _op as self._op.")
    count, op = learner.run("v = Value(1.0)", "[len(list(v._prev)), repr(v._op)]",
                            shown="Value(1.0)")
    if count or op not in ("''", '""', 'None'):
        raise Failed(f"Value(1.0)._prev has {count} inputs and ._op is {op}; expected no "
                     "inputs and the op ''", "Value(1.0)",
                     "A value you create yourself was not computed from anything.")
    need_value_ops(learner, '+', '*')
    rng = random.Random(3)
    for symbol in ('+', '*'):
        for x, y in pairs(rng, 5):
            code = f"a, b = Value({num(x)}), Value({num(y)})\nc = a {symbol} b"
            which, seen, op = learner.run([f"a, b = Value({x!r}), Value({y!r})",
                                           f"c = a {symbol} b"], _INPUTS, shown=code + "\nc._prev")
            if sorted(which) != ['a', 'b']:
                hint = (f"Pass the inputs to the new Value: Value(..., (self, other), '{symbol}')."
                        if not which else
                        "_prev should hold a and b themselves, not copies or numbers.")
                raise Failed(f"c._prev is {[show(v) for v in seen]}; expected a and b", code, hint)
            if op != repr(symbol):
                raise Failed(f"c._op is {op}; expected {symbol!r}", code)
    for line in ("c = a + a", "c = a * a"):
        code = f"a = Value(2.0)\n{line}"
        which, seen, _ = learner.run(["a = Value(2.0)", "b = None", line], _INPUTS, shown=code)
        if set(which) != {'a'}:
            raise Failed(f"c._prev is {[show(v) for v in seen]}; expected just a", code)
    for line in ("c = a + 5.0", "c = 5.0 * a"):
        code = f"a = Value(2.0)\n{line}"
        try:
            which, seen, _ = learner.run(["a = Value(2.0)", "b = None", line], _INPUTS,
                                         shown=code)
        except Failed:  # numbers are exercise 2's to grade; here only the graph counts
            continue
        others = [s for w, s in zip(which, seen) if w != 'a']
        if which.count('a') != 1 or len(others) != 1 or others[0].get('data') != 5.0:
            raise Failed(f"c._prev is {[show(v) for v in seen]}; expected a and a Value "
                         "holding 5.0", code,
                         "A plain number becomes a Value first, and that Value is an input.")


EXERCISE = Exercise(3, "graph bookkeeping: _prev and _op", ('Value',), (1,), check,
                    TEXT, STUB, SOLUTION)
