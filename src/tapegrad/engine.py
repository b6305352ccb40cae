"""The scalar autograd engine: a Value wraps one float and remembers how it was made.

Every operation does two things:

1. forward: compute the output's `data` and record its inputs (`_prev`) and op (`_op`);
2. backward: a rule in `_BACKWARD` (bottom of this file) that, given the output's
   gradient, adds d(output)/d(input) * output.grad into each input's `.grad`.

`Value.backward()` orders the graph topologically (without recursion, so graphs of any
depth work) and applies the rules from the output back to the leaves: the chain rule.

The rules live in one table rather than in a closure on every node: a closure that
refers to its own output makes each node a reference cycle, and collecting those cycles
is most of the cost of a training step in the closure style. Standard library only.
"""

import math
import numbers

# ----------------------------------------------------------------------------------
# IEEE-754 arithmetic: Python raises where PyTorch (and C) return inf or nan.


def _exp(x):
    try:
        return math.exp(x)
    except OverflowError:  # exp(1000)
        return math.inf


def _log(x):
    if x > 0 or math.isnan(x):
        return math.log(x)
    return -math.inf if x == 0 else math.nan  # log(0), log(-1)


def _div(a, b):
    try:
        return a / b
    except ZeroDivisionError:  # a / ±0: ±inf, or nan for 0/0
        if a == 0 or math.isnan(a):
            return math.nan
        return math.copysign(math.inf, a) * math.copysign(1.0, b)


def _is_odd_integer(y):
    return y == int(y) and int(y) % 2 == 1 if math.isfinite(y) else False


def _pow(x, y):
    try:
        return math.pow(x, y)
    except OverflowError:  # too large: negative only for a negative base and odd power
        return -math.inf if x < 0 and _is_odd_integer(y) else math.inf
    except ValueError:
        if x == 0:  # ±0 to a negative power
            negative_zero = math.copysign(1.0, x) < 0
            return -math.inf if negative_zero and _is_odd_integer(y) else math.inf
        return math.nan  # a negative base to a fractional power


def _pow_number(x, k):
    # PyTorch computes x ** 0.5 as sqrt(x) and x ** -0.5 as 1 / sqrt(x); they differ from
    # pow only at -0 and -inf (sqrt(-inf) is nan where pow(-inf, 0.5) is inf).
    if k == 0.5:
        return math.sqrt(x) if x >= 0 or math.isnan(x) else math.nan
    if k == -0.5:
        return _div(1.0, _pow_number(x, 0.5))
    return _pow(x, k)


def _as_float(data):
    if isinstance(data, Value):
        raise TypeError(f"Value() takes a number, got a Value: {data!r}; "
                        "use that Value itself, or its .data")
    if not isinstance(data, numbers.Real):
        raise TypeError(f"Value() takes a real number (int, float or NumPy scalar), "
                        f"got {type(data).__name__}: {data!r}")
    try:
        return float(data)
    except OverflowError:  # an int beyond float's range, about 1.8e308
        raise ValueError(f"Value() got an integer too large for a float: {str(data)[:20]}... "
                         f"({len(str(data))} digits)") from None


def _lift(x):
    """A Value as it is; a plain number as a new constant leaf; NotImplemented otherwise."""
    if isinstance(x, Value):
        return x
    if isinstance(x, numbers.Real):
        return Value(x)
    return NotImplemented


# ----------------------------------------------------------------------------------
# Value


class Value:
    """One float in a computation graph, with the gradient of some output in `.grad`.

    >>> a, b = Value(2.0), Value(-3.0)
    >>> c = a * b + b ** 2
    >>> c.backward()
    >>> a.grad, b.grad        # dc/da = b, dc/db = a + 2b
    (-3.0, -4.0)
    """

    __slots__ = ('data', 'grad', 'label', '_prev', '_op', '_arg')

    def __init__(self, data, _children=(), _op='', label='', _arg=None):
        self.data = data if type(data) is float else _as_float(data)
        self.grad = 0.0
        self.label = label
        self._prev = _children if type(_children) is tuple else tuple(_children)  # in order
        self._op = _op                 # name of the op that made this value; '' for a leaf
        self._arg = _arg               # the op's constant argument (the k of x ** k)

    def __repr__(self):
        return f"Value(data={self.data}, grad={self.grad})"

    # -- arithmetic ----------------------------------------------------------------

    def __add__(self, other):
        other = _lift(other)
        if other is NotImplemented:
            return other
        return Value(self.data + other.data, (self, other), '+')

    def __mul__(self, other):
        other = _lift(other)
        if other is NotImplemented:
            return other
        return Value(self.data * other.data, (self, other), '*')

    def __truediv__(self, other):
        other = _lift(other)
        if other is NotImplemented:
            return other
        return Value(_div(self.data, other.data), (self, other), '/')

    def __pow__(self, other):
        if isinstance(other, Value):  # x ** w: both base and exponent get gradients
            return Value(_pow(self.data, other.data), (self, other), '**')
        if not isinstance(other, numbers.Real):
            return NotImplemented
        k = _as_float(other)
        return Value(_pow_number(self.data, k), (self,), '**k', _arg=k)

    def __neg__(self):  # -x, exact: flipping a sign never rounds
        return self * -1.0

    def __sub__(self, other):  # x - y = x + (-y)
        other = _lift(other)
        if other is NotImplemented:
            return other
        return self + (-other)

    # Reflected forms, for a plain number on the left: 2 + v, 2 - v, 2 * v, 2 / v, 2 ** v.
    # sum() starts from 0, so sum(values) needs __radd__.
    def __radd__(self, other):
        return self + other

    def __rmul__(self, other):
        return self * other

    def __rsub__(self, other):
        other = _lift(other)
        return other if other is NotImplemented else other - self

    def __rtruediv__(self, other):
        other = _lift(other)
        return other if other is NotImplemented else other / self

    def __rpow__(self, other):
        other = _lift(other)
        return other if other is NotImplemented else other ** self

    # -- functions -----------------------------------------------------------------

    def exp(self):
        return Value(_exp(self.data), (self,), 'exp')

    def log(self):
        """Natural log; log(0) is -inf and log(x < 0) is nan, as in PyTorch."""
        return Value(_log(self.data), (self,), 'log')

    def tanh(self):
        return Value(math.tanh(self.data), (self,), 'tanh')

    def sigmoid(self):
        # exp(-x) overflows to inf for x < -709, and 1 / (1 + inf) is the right 0.0.
        return Value(1.0 / (1.0 + _exp(-self.data)), (self,), 'sigmoid')

    def relu(self):
        return Value(0.0 if self.data < 0 else self.data, (self,), 'relu')  # -0.0 and nan stay

    # -- backpropagation -----------------------------------------------------------

    def backward(self):
        """Fill `.grad` of every value this one depends on with d(self)/d(value).

        Safe to call more than once. Interior values (made by an op) are recomputed from
        zero on every call. Leaves (values you created: parameters, inputs) *accumulate*,
        as in PyTorch, so two calls add two gradients: call `model.zero_grad()` (or set
        `p.grad = 0.0`) before each backward unless you mean to accumulate, say over the
        mini-batches of one step.
        """
        order = topological_order(self)
        for v in order:
            if v._prev:
                v.grad = 0.0
        self.grad = self.grad + 1.0 if not self._prev else 1.0
        for v in reversed(order):
            v._backward()

    def _backward(self):
        """One step of the chain rule: pass this value's grad on to its inputs (a leaf has
        none). backward() calls it on every value, from the output back."""
        if self._prev:
            _BACKWARD[self._op](self)


def topological_order(root):
    """Every value `root` depends on, each after all of its inputs; `root` last.

    The seeds' recursive depth-first search, with the recursion replaced by a stack of
    (value, iterator over its inputs), so that a chain of a million values does not hit
    Python's recursion limit.
    """
    order, visited = [], {root}
    stack = [(root, iter(root._prev))]
    while stack:
        v, inputs = stack[-1]
        for child in inputs:
            if child not in visited:  # descend into the first input not yet seen
                visited.add(child)
                stack.append((child, iter(child._prev)))
                break
        else:  # all inputs of v are in order: v can follow them
            stack.pop()
            order.append(v)
    return order


# ----------------------------------------------------------------------------------
# Backward rules: one per op. Each adds d(out)/d(input) * out.grad to its inputs' grads.
# The formulas are PyTorch's, term for term, so that gradients agree to the last bit.


def _add_backward(out):
    a, b = out._prev
    a.grad += out.grad
    b.grad += out.grad


def _mul_backward(out):
    a, b = out._prev
    a.grad += out.grad * b.data
    b.grad += out.grad * a.data


def _div_backward(out):  # d(a/b)/da = 1/b, d(a/b)/db = -a/b^2
    a, b = out._prev
    a.grad += _div(out.grad, b.data)
    b.grad += -out.grad * _div(_div(a.data, b.data), b.data)


def _pow_const_backward(out):  # d(x^k)/dx = k x^(k-1); zero when k == 0, even at x = 0
    (x,), k = out._prev, out._arg
    if k != 0:
        x.grad += out.grad * (k * _pow_number(x.data, k - 1.0))


def _pow_backward(out):  # x^w: d/dx = w x^(w-1), d/dw = x^w log(x)
    x, w = out._prev
    if w.data != 0:
        x.grad += out.grad * (w.data * _pow(x.data, w.data - 1.0))
    # at x = 0 and w >= 0 the slope in w is taken as 0, not 0 * log(0) = nan
    w.grad += out.grad * (0.0 if x.data == 0 and w.data >= 0 else out.data * _log(x.data))


def _exp_backward(out):
    (x,) = out._prev
    x.grad += out.grad * out.data


def _log_backward(out):
    (x,) = out._prev
    x.grad += _div(out.grad, x.data)


def _tanh_backward(out):
    (x,) = out._prev
    x.grad += out.grad * (1.0 - out.data * out.data)


def _sigmoid_backward(out):
    (x,) = out._prev
    x.grad += out.grad * (1.0 - out.data) * out.data


def _relu_backward(out):
    (x,) = out._prev
    x.grad += 0.0 if out.data <= 0 else out.grad


_BACKWARD = {
    '+': _add_backward,
    '*': _mul_backward,
    '/': _div_backward,
    '**k': _pow_const_backward,
    '**': _pow_backward,
    'exp': _exp_backward,
    'log': _log_backward,
    'tanh': _tanh_backward,
    'sigmoid': _sigmoid_backward,
    'relu': _relu_backward,
}
