"""Exercise 5: - / ** tanh relu exp, each with its local derivative."""

import random

from ..framework import (ALL_OPS, Exercise, NotStarted, Snippet, check_snippet, close,
                         random_snippet, run_parts, value_class)

TEXT = """
## Exercise 5: more operations

Networks need more than `+` and `*`. Some ops are combinations of those we have, and need
no `_backward` of their own, because the ops they are made of already have one:

- `-a` is `a * -1`, and `a - b` is `a + (-b)`;
- `a / b` is `a * b**-1`.

The others are new, each with its own local derivative:

| op | value | derivative |
|---|---|---|
| `x ** k` (k a number) | x^k | `k * x**(k - 1)` |
| `x.tanh()` | tanh(x) | `1 - tanh(x)**2`, from the output |
| `x.relu()` | x if x > 0, else 0 | 1 if x > 0, else 0 |
| `x.exp()` | e^x | e^x, the output itself |

Reflected forms are needed again for a number on the left: `5 - a` calls `a.__rsub__(5)`,
and `3 / a` calls `a.__rtruediv__(3)`.

**Task:** write the methods below.
"""

STUB = '''
def __neg__(self):
    """-self"""
    ### YOUR CODE HERE
    raise NotImplementedError("Exercise 5: Value.__neg__")


def __sub__(self, other):
    """self - other"""
    ### YOUR CODE HERE
    raise NotImplementedError("Exercise 5: Value.__sub__")


def __rsub__(self, other):
    """other - self, for a plain number on the left: 5 - a."""
    ### YOUR CODE HERE
    raise NotImplementedError("Exercise 5: Value.__rsub__")


def __truediv__(self, other):
    """self / other"""
    ### YOUR CODE HERE
    raise NotImplementedError("Exercise 5: Value.__truediv__")


def __rtruediv__(self, other):
    """other / self, for a plain number on the left: 3 / a."""
    ### YOUR CODE HERE
    raise NotImplementedError("Exercise 5: Value.__rtruediv__")


def __pow__(self, k):
    """self ** k, for a plain number k."""
    ### YOUR CODE HERE
    raise NotImplementedError("Exercise 5: Value.__pow__")


def tanh(self):
    ### YOUR CODE HERE
    raise NotImplementedError("Exercise 5: Value.tanh")


def relu(self):
    ### YOUR CODE HERE
    raise NotImplementedError("Exercise 5: Value.relu")


def exp(self):
    ### YOUR CODE HERE
    raise NotImplementedError("Exercise 5: Value.exp")


Value.__neg__, Value.__sub__, Value.__rsub__ = __neg__, __sub__, __rsub__
Value.__truediv__, Value.__rtruediv__, Value.__pow__ = __truediv__, __rtruediv__, __pow__
Value.tanh, Value.relu, Value.exp = tanh, relu, exp

# Try it: 24.7041, then a.grad 138.8338 and b.grad 645.5773
# a, b = Value(-4.0), Value(2.0)
# c = a + b
# d = a * b + b**3
# c = c + c + 1
# c = c + 1 + c + (-a)
# d = d + d * 2 + (b + a).relu()
# d = d + 3 * d + (b - a).relu()
# e = c - d
# f = e**2
# g = f / 2.0
# g = g + 10.0 / f
# print(f"{g.data:.4f}")
# g.backward()
# print(f"{a.grad:.4f} {b.grad:.4f}")
'''

SOLUTION = '''
def __neg__(self):
    """-self"""
    return self * -1


def __sub__(self, other):
    """self - other"""
    return self + (-other)


def __rsub__(self, other):
    """other - self, for a plain number on the left: 5 - a."""
    return other + (-self)


def __truediv__(self, other):
    """self / other"""
    return self * other**-1


def __rtruediv__(self, other):
    """other / self, for a plain number on the left: 3 / a."""
    return other * self**-1


def __pow__(self, k):
    """self ** k, for a plain number k."""
    out = Value(self.data**k, (self,), f'**{k}')

    def _backward():
        self.grad += k * self.data ** (k - 1) * out.grad
    out._backward = _backward
    return out


def tanh(self):
    t = math.tanh(self.data)
    out = Value(t, (self,), 'tanh')

    def _backward():
        self.grad += (1 - t**2) * out.grad
    out._backward = _backward
    return out


def relu(self):
    out = Value(self.data if self.data > 0 else 0.0, (self,), 'relu')

    def _backward():
        self.grad += (1.0 if self.data > 0 else 0.0) * out.grad
    out._backward = _backward
    return out


def exp(self):
    out = Value(math.exp(self.data), (self,), 'exp')

    def _backward():
        self.grad += out.data * out.grad
    out._backward = _backward
    return out


Value.__neg__, Value.__sub__, Value.__rsub__ = __neg__, __sub__, __rsub__
Value.__truediv__, Value.__rtruediv__, Value.__pow__ = __truediv__, __rtruediv__, __pow__
Value.tanh, Value.relu, Value.exp = tanh, relu, exp

a, b = Value(-4.0), Value(2.0)
c = a + b
d = a * b + b**3
c = c + c + 1
c = c + 1 + c + (-a)
d = d + d * 2 + (b + a).relu()
d = d + 3 * d + (b - a).relu()
e = c - d
f = e**2
g = f / 2.0
g = g + 10.0 / f
print(f"{g.data:.4f}")
g.backward()
print(f"{a.grad:.4f} {b.grad:.4f}")
'''


def _pow_hint(k):
    def hint(name, got, want, seen):
        x = seen['a'].get('data')
        if close(got, k * x ** k):
            return "That is k * x**k; the slope of x**k is k * x**(k - 1)."
        if close(got, x ** (k - 1)):
            return "The factor k is missing: the slope of x**k is k * x**(k - 1)."
        return "The slope of x**k is k * x**(k - 1)."
    return hint


def _tanh_hint(name, got, want, seen):
    x = seen['a'].get('data')
    if close(got, 1 - x * x):
        return ("That is 1 - x**2 of the input x. The slope of tanh is 1 - tanh(x)**2: "
                "square the output t = tanh(x), not the input.")
    return "The slope of tanh is 1 - tanh(x)**2, where tanh(x) is the output."


def _relu_hint(name, got, want, seen):
    if seen['a'].get('data') < 0:
        return "relu is flat (0) for negative inputs, so no gradient passes through."
    return "relu is the identity for positive inputs, so the gradient passes through unchanged."


def _exp_hint(name, got, want, seen):
    if close(got, seen['a'].get('data')):
        return "That is x; the slope of exp(x) is exp(x) itself, the output."
    return "The slope of exp(x) is exp(x) itself, the output."


_REFLECTED = {'TypeError': "A number on the left needs the reflected method: __rsub__ for "
                           "5.0 - a, __rtruediv__ for 3.0 / a."}
# (line, whether it reads the leaf b)
_SUBTRACTION = [("c = -a", False), ("c = a - b", True), ("c = a - 5.0", False),
                ("c = 5.0 - a", False)]
_DIVISION = [("c = a / b", True), ("c = a / 4.0", False), ("c = 3.0 / a", False)]


def check(learner):
    value_class(learner)
    rng = random.Random(5)

    def present(*methods):
        """NotStarted if Value has none of `methods`."""
        if not any(learner.has_method('Value', m) for m in methods):
            raise NotStarted(f"there is no {' or '.join(methods)}")

    def signed(count, low=0.3, high=2.5):
        return [rng.choice((-1, 1)) * round(rng.uniform(low, high), 2) for _ in range(count)]

    def binary(methods, cases):
        def part():
            present(*methods)
            for x, y in zip(signed(4), signed(4)):
                for line, reads_b in cases:
                    leaves = {'a': x, 'b': y} if reads_b else {'a': x}
                    check_snippet(learner, Snippet(leaves, [line]), errors=_REFLECTED)
        return part

    def powers():
        present('__pow__')
        for x in [abs(v) for v in signed(3)] + signed(3):
            for k in (2, 3, -1, 0.5):
                if k != 0.5 or x > 0:
                    check_snippet(learner, Snippet({'a': x}, [f"b = a ** {k}"]),
                                  hint=_pow_hint(k))

    def unary(method, hint, inputs):
        def part():
            present(method)
            for x in inputs:
                check_snippet(learner, Snippet({'a': x}, [f"b = a.{method}()"]), hint=hint)
        return part

    def mixed():
        methods = ('__neg__', '__sub__', '__rsub__', '__truediv__', '__rtruediv__', '__pow__',
                   'tanh', 'relu', 'exp')
        missing = [m for m in methods if not learner.has_method('Value', m)]
        if missing:  # named by the parts above already
            raise NotStarted(f"there is no {' or '.join(missing)}")
        for _ in range(40):
            check_snippet(learner, random_snippet(rng, ALL_OPS))

    return run_parts([
        ('-a and a - b', binary(('__neg__', '__sub__'), _SUBTRACTION)),
        ('a / b', binary(('__truediv__',), _DIVISION)),
        ('a ** k', powers),
        ('tanh()', unary('tanh', _tanh_hint, [0.5, -1.3] + signed(4, 0.1, 2.0))),
        ('relu()', unary('relu', _relu_hint, [1.5, -0.7] + signed(4))),
        ('exp()', unary('exp', _exp_hint, [0.5, -1.2] + signed(4, 0.1, 2.0))),
        ('random expressions', mixed)])


EXERCISE = Exercise(5, "- / ** tanh relu exp", ('Value',), (2, 4), check, TEXT, STUB, SOLUTION)
