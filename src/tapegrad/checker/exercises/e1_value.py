"""Exercise 1: a Value holding data and grad, with a readable repr."""

import random

from ..framework import Exercise, Failed, close, num, show, value_class

TEXT = """
## Exercise 1: a number that can hold its gradient

A neural network is a long calculation that ends in one number, the loss. To improve the
network we need, for every number in it, the **gradient**: how much the loss changes when
that number is nudged. So we wrap each number in a `Value` with two fields:

- `data`: the number itself (a float);
- `grad`: the gradient of the final result with respect to it, 0.0 until computed.

A readable `repr` (what the notebook shows for a Value) makes everything after this easier
to debug: `Value(data=2.5, grad=0.0)`.

`__init__` also takes `_children` and `_op`: ignore them until exercise 3.

**Task:** write `__init__` and `__repr__`.
"""

STUB = '''
class Value:
    """One number in a calculation, and the slope of the final result with respect to it."""

    def __init__(self, data, _children=(), _op=''):
        # Exercise 1: keep data (as a float) in self.data, and start self.grad at 0.0.
        # Exercise 3 comes back here to keep _children and _op, and exercise 4 to give
        # every Value a _backward.
        ### YOUR CODE HERE
        raise NotImplementedError("Exercise 1: Value.__init__")

    def __repr__(self):
        """Such as Value(data=2.5, grad=0.0)."""
        ### YOUR CODE HERE
        raise NotImplementedError("Exercise 1: Value.__repr__")


# Try it:
# Value(2.5)
'''

SOLUTION = '''
class Value:
    """One number in a calculation, and the slope of the final result with respect to it."""

    def __init__(self, data, _children=(), _op=''):
        self.data = float(data)
        self.grad = 0.0

    def __repr__(self):
        """Such as Value(data=2.5, grad=0.0)."""
        return f"Value(data={self.data}, grad={self.grad})"


Value(2.5)
'''


def check(learner):
    value_class(learner)
    rng = random.Random(1)
    for x in [2.5, -3.0, 0.0, 7] + [round(rng.uniform(-10, 10), 3) for _ in range(5)]:
        code = f"v = Value({x!r})"
        v = learner.run(code, "see(v)")
        if 'data' not in v:
            raise Failed("v has no attribute data", code, "Keep the number in self.data.")
        if not close(v['data'], x, 0):
            raise Failed(f"v.data is {num(v['data'])}; expected {num(x)}", code)
        if 'grad' not in v:
            raise Failed("v has no attribute grad", code, "Start every Value with self.grad = 0.0.")
        if v['grad'] != 0:
            raise Failed(f"v.grad is {show({'repr': num(v['grad'])})}; expected 0.0", code,
                         "A new Value's gradient starts at 0.0: nothing has been computed yet.")
    code = "repr(Value(2.5))"
    text = learner.run("text = repr(Value(2.5))", "text[:200]", shown=code)
    if ' object at 0x' in text:
        raise Failed(f"This gives {text!r}, which hides the number", code,
                     "Define __repr__ to return something like 'Value(data=2.5, grad=0.0)'.")
    if '2.5' not in text:
        raise Failed(f"This gives {text!r}, without the data 2.5", code,
                     "Show the data (and the grad), like 'Value(data=2.5, grad=0.0)'.")


EXERCISE = Exercise(1, "Value: data, grad and a readable repr", ('Value',), (), check,
                    TEXT, STUB, SOLUTION)
