"""The scalar autograd engine: a Value wraps one float and remembers how it was made.

Every operation does two things:

1. forward: a method of Value computes the output's `data` and records its inputs
   (`_prev`), the op's name (`_op`) and any number the op takes (`_arg`, the k of x ** k);
2. backward: the op's rule, written right below its method, adds
   d(output)/d(input) * output.grad into each input's `.grad`.

`Value.backward()` orders the graph topologically (without recursion, so graphs of any
depth work) and applies the rules from the output back to the leaves: the chain rule.

Each primitive op is declared once, by `@primitive` on its rule: the op's name, the
method that computes it, how many Values it takes. `OPS` lists them, and everything else
that needs to know the ops (the tape, anomaly detection, the formula reader, the
pictures) reads that table. The other operators (`-`, `__radd__`, ...) are one-liners
built from the primitives. The rules live in a table rather than in a closure on every
node: a closure that refers to its own output makes each node a reference cycle, and
collecting those cycles is most of the cost of a training step in the closure style.

Standard library only. The end of the file holds the hooks that tools (the tape's
tracer, anomaly detection) watch the engine through; a learner can stop before them.
"""

import math
import numbers
import operator
import sys
import threading

from . import ieee


def _as_float(data):
    if isinstance(data, Value):
        raise TypeError(f"Value() takes a number, got a Value: {data!r}; "
                        "use that Value itself, or its .data")
    if not isinstance(data, numbers.Real) and not _is_numpy_real(data):
        raise TypeError(f"Value() takes a real number (int, float or NumPy scalar), "
                        f"got {type(data).__name__}: {data!r}")
    try:
        return float(data)
    except OverflowError:  # an int beyond float's range, about 1.8e308
        raise ValueError(f"Value() got an integer too large for a float: {str(data)[:20]}... "
                         f"({len(str(data))} digits)") from None


def _is_numpy_real(data):
    """A NumPy scalar of a real kind (np.bool_ is not a numbers.Real, yet True is)."""
    dtype = getattr(data, 'dtype', None)
    return getattr(data, 'ndim', None) == 0 and getattr(dtype, 'kind', '') in 'biuf'


def _two_inputs(children):
    """The inputs given as any sequence (micrograd's code passes a set), as a tuple."""
    children = tuple(children)
    if len(children) > 2:
        raise ValueError(f"Value() takes at most two inputs (_children), got {len(children)}: "
                         f"no op of the engine takes more")
    return children


def _lift(x):
    """A Value as it is; a plain number as a new constant leaf; NotImplemented otherwise."""
    if isinstance(x, Value):
        return x
    if isinstance(x, numbers.Real):
        return Value(x)
    return NotImplemented


# ----------------------------------------------------------------------------------
# The table of ops


class Op:
    """A primitive op: its name (a node's `_op`), the Value method that makes it, how many
    Values it takes, whether it also takes a number (the k of x ** k), and its rule."""

    def __init__(self, name, method, n_inputs, takes_number, rule):
        self.name, self.method, self.rule = name, method, rule
        self.n_inputs, self.takes_number = n_inputs, takes_number

    def call(self, *operands):
        """The op applied as Python code applies it: `a + b`, `x ** k`, `x.tanh()`.

        Works on anything with Value's operators and methods (PyTorch tensors too).
        """
        if self.method.startswith('__'):  # an operator: '__truediv__' is operator.truediv
            return getattr(operator, self.method.strip('_'))(*operands)
        return getattr(operands[0], self.method)(*operands[1:])

    def shown(self, arg=None):
        """The op as messages and drawings name a node of it: '*', or '** 2.0' for x ** 2."""
        return f"{self.name[:-1]} {arg}" if self.takes_number else self.name

    def __repr__(self):
        return f"<op {self.name!r}: Value.{self.method}, {self.n_inputs} input(s)>"


OPS = {}        # op name -> Op, in the order declared
_BACKWARD = {}  # op name -> its rule: what backward() runs for a node made by that op
_OP_CODE = set()  # the code of every op's method and rule (see WatchedValue)


def primitive(name, method, takes_number=False):
    """Declare the op `name`, made by `method`, with the decorated function as its rule.

    The rule takes the op's output node and adds each input's share of `out.grad` into
    that input's `.grad`. An op that also takes a number (kept in the node's `_arg`) ends
    its name with k: '**k' is x ** k.
    """
    def declare(rule):
        n_inputs = method.__code__.co_argcount - takes_number
        OPS[name] = Op(name, method.__name__, n_inputs, takes_number, rule)
        _BACKWARD[name] = rule
        _OP_CODE.update((method.__code__, rule.__code__))  # their reads of .data are the op's
        return staticmethod(rule)
    return declare


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

    __slots__ = ('data', 'grad', 'label', '_op', '_arg', '_a', '_b')

    def __init__(self, data, _children=(), _op='', label='', _arg=None):
        self.data = data if type(data) is float else _as_float(data)
        self.grad = 0.0
        self.label = label
        self._op = _op                 # name of the op that made this value; '' for a leaf
        self._arg = _arg               # the number the op takes (the k of x ** k)
        # the inputs, in order: no op takes more than two. Two slots rather than a tuple
        # make one object a node rather than two, which is what Python's cycle collector
        # spends its time on (see _prev for them as a tuple)
        if type(_children) is not tuple or len(_children) > 2:
            _children = _two_inputs(_children)
        self._a = _children[0] if _children else None
        self._b = _children[1] if len(_children) == 2 else None
        if _watchers:                  # a tool is watching some thread (end of this file)
            _tell_created(self)

    @property
    def _prev(self):
        """The Values this one was computed from, in order; () for a leaf."""
        if self._a is None:
            return ()
        return (self._a,) if self._b is None else (self._a, self._b)

    def __repr__(self):
        return f"Value(data={self.data}, grad={self.grad})"

    # -- primitive ops: each one's value, and below it its rule ------------------------
    # The rules' formulas are PyTorch's, term for term, so gradients agree to the last bit.

    def __add__(self, other):
        other = other if isinstance(other, Value) else _lift(other)
        if other is NotImplemented:
            return other
        return _node(self.data + other.data, '+', self, other)

    @primitive('+', __add__)
    def _add_backward(out):  # d(a+b)/da = d(a+b)/db = 1
        a, b = out._a, out._b
        a.grad += out.grad
        b.grad += out.grad

    def __mul__(self, other):
        other = other if isinstance(other, Value) else _lift(other)
        if other is NotImplemented:
            return other
        return _node(self.data * other.data, '*', self, other)

    @primitive('*', __mul__)
    def _mul_backward(out):  # d(ab)/da = b, d(ab)/db = a
        a, b = out._a, out._b
        a.grad += out.grad * b.data
        b.grad += out.grad * a.data

    def __truediv__(self, other):
        other = other if isinstance(other, Value) else _lift(other)
        if other is NotImplemented:
            return other
        return _node(ieee.div(self.data, other.data), '/', self, other)

    @primitive('/', __truediv__)
    def _div_backward(out):  # d(a/b)/da = 1/b, d(a/b)/db = -a/b^2
        a, b = out._a, out._b
        a.grad += ieee.div(out.grad, b.data)
        b.grad += -out.grad * ieee.div(ieee.div(a.data, b.data), b.data)

    def __pow__(self, other):
        if isinstance(other, Value):  # x ** w: both base and exponent get gradients
            return _node(ieee.pow(self.data, other.data), '**', self, other)
        if not isinstance(other, numbers.Real):
            return NotImplemented
        k = _as_float(other)  # x ** k for a number k: a constant exponent
        return _node(ieee.pow_number(self.data, k), '**k', self, arg=k)

    @primitive('**', __pow__)
    def _pow_backward(out):  # x^w: d/dx = w x^(w-1), d/dw = x^w log(x)
        x, w = out._a, out._b
        if w.data != 0:
            x.grad += out.grad * (w.data * ieee.pow(x.data, w.data - 1.0))
        # at x = 0 and w >= 0 the slope in w is taken as 0, not 0 * log(0) = nan
        w.grad += out.grad * (0.0 if x.data == 0 and w.data >= 0 else out.data * ieee.log(x.data))

    @primitive('**k', __pow__, takes_number=True)
    def _pow_number_backward(out):  # d(x^k)/dx = k x^(k-1); zero when k == 0, even at x = 0
        x, k = out._a, out._arg
        if k != 0:
            x.grad += out.grad * (k * ieee.pow_number(x.data, k - 1.0))

    def exp(self):
        return _node(ieee.exp(self.data), 'exp', self)

    @primitive('exp', exp)
    def _exp_backward(out):  # d exp(x)/dx = exp(x)
        x = out._a
        x.grad += out.grad * out.data

    def log(self):
        """Natural log; log(0) is -inf and log(x < 0) is nan, as in PyTorch."""
        return _node(ieee.log(self.data), 'log', self)

    @primitive('log', log)
    def _log_backward(out):  # d log(x)/dx = 1/x
        x = out._a
        x.grad += ieee.div(out.grad, x.data)

    def tanh(self):
        return _node(math.tanh(self.data), 'tanh', self)

    @primitive('tanh', tanh)
    def _tanh_backward(out):  # d tanh(x)/dx = 1 - tanh(x)^2
        x = out._a
        x.grad += out.grad * (1.0 - out.data * out.data)

    def sigmoid(self):
        return _node(ieee.sigmoid(self.data), 'sigmoid', self)

    @primitive('sigmoid', sigmoid)
    def _sigmoid_backward(out):  # d sigmoid(x)/dx = (1 - s) s
        x = out._a
        x.grad += out.grad * (1.0 - out.data) * out.data

    def relu(self):
        return _node(0.0 if self.data < 0 else self.data, 'relu', self)  # -0.0 and nan stay

    @primitive('relu', relu)
    def _relu_backward(out):  # 1 where x > 0, else 0
        x = out._a
        x.grad += 0.0 if out.data <= 0 else out.grad

    # -- built from the primitives -----------------------------------------------------

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
            if v._a is not None:  # made by an op
                v.grad = 0.0
        self.grad = self.grad + 1.0 if self._a is None else 1.0
        if _watchers:  # anomaly detection checks every rule (end of this file)
            _watched_backward(order)
            return
        for v in reversed(order):
            if v._a is not None:
                _BACKWARD[v._op](v)

    def _backward(self):
        """One step of the chain rule: pass this value's grad on to its inputs (a leaf has
        none). backward() does this for every value, from the output back."""
        if self._a is not None:
            _BACKWARD[self._op](self)


_new = object.__new__


def _node(data, op, a, b=None, arg=None):
    """An op's output: the Value that Value(data, (a, b), op) makes, without the checks
    Value() makes of what a user passes it (an op's own operands need none). Half of a
    training step is making nodes, and this makes one in half the time."""
    if type(data) is not float:  # ints a user set as .data (2 * 3 is 6): a float, as Value()
        data = _as_float(data)
    v = _new(Value)
    v.data, v.grad, v.label, v._op, v._arg, v._a, v._b = data, 0.0, '', op, arg, a, b
    if _watchers:  # a tool is watching some thread (end of this file)
        _tell_created(v)
    return v


def topological_order(*roots):
    """Every value the roots depend on, each after all of its inputs; the roots last.

    The seeds' recursive depth-first search, with the recursion replaced by a stack, so
    that a chain of a million values does not hit Python's recursion limit: the value on
    top descends into its first input not yet seen, and once all are seen it takes its
    place in the order. (Several roots: their graphs in turn, as one root over them.)
    """
    order, visited = [], set()
    seen, place = visited.add, order.append  # (bound once: this loop runs for every node)
    for root in roots:
        if root in visited:
            continue
        seen(root)
        stack = [root]
        descend, ascend = stack.append, stack.pop
        while stack:
            v = stack[-1]
            a = v._a
            if a is not None and a not in visited:
                seen(a)
                descend(a)
                continue
            b = v._b
            if b is not None and b not in visited:
                seen(b)
                descend(b)
                continue
            place(ascend())  # all inputs of v are in order: v can follow them
    return order


# ----------------------------------------------------------------------------------
# Watching: how tools see what the engine does, without changing it
#
# The tape's tracer must see every Value a traced function makes, and every read of
# `.data` by the function (a Python `if` on a number is invisible in the graph); anomaly
# detection checks every new value and every backward rule. Each registers a *watcher*
# for its own thread:
#
#     with watching(watcher, values=params): ...
#
# While it is registered, in that thread (and no other):
#   - Value.__init__ calls watcher.created(v) for every new Value;
#   - if the watcher has `reads = True`, new Values and `values` become WatchedValues,
#     whose `.data`, read or set from code outside this file, calls watcher.read(v) or
#     watcher.written(v) first (`values` turn back into plain Values at the end);
#   - backward() calls watcher.rule_applied(v, grads_before) after each node's rule.
# Other threads pay one dictionary lookup per new Value while some thread is watched,
# and see no other difference.

_watchers = {}     # thread id -> (its watchers, innermost last; does one of them read?)
_lock = threading.Lock()
_turned = {}       # id -> [value, count]: `values` made WatchedValues, and by how many
_thread = threading.get_ident
_read_slot, _write_slot = Value.data.__get__, Value.data.__set__  # .data past the watchers
_getframe = sys._getframe
_ENGINE = globals()


class watching:
    """Register `watcher` for the current thread while the `with` body runs."""

    def __init__(self, watcher, values=()):
        self.watcher, self.values = watcher, list(values) if _reads(watcher) else []

    def __enter__(self):
        with _lock:
            for v in self.values:
                entry = _turned.setdefault(id(v), [v, 0])
                entry[1] += 1
                if type(v) is Value:
                    v.__class__ = WatchedValue
            self._set(_watchers.get(_thread(), ((), False))[0] + (self.watcher,))
        return self.watcher

    def __exit__(self, *exc):
        with _lock:
            mine = list(_watchers[_thread()][0])
            mine.remove(self.watcher)
            self._set(tuple(mine))
            for v in self.values:
                entry = _turned[id(v)]
                entry[1] -= 1
                if entry[1] == 0:
                    del _turned[id(v)]
                    if type(v) is WatchedValue:
                        v.__class__ = Value
        return False

    @staticmethod
    def _set(watchers):
        if watchers:
            _watchers[_thread()] = watchers, any(map(_reads, watchers))
        else:
            del _watchers[_thread()]


def _reads(watcher):
    return getattr(watcher, 'reads', False)


def _tell_created(value):
    entry = _watchers.get(_thread())
    if entry is not None:
        watchers, reads = entry
        if reads and type(value) is Value:
            value.__class__ = WatchedValue
        for watcher in watchers:
            watcher.created(value)


def _tell_touched(event, value):
    entry = _watchers.get(_thread())
    if entry is not None:
        for watcher in entry[0]:
            tell = getattr(watcher, event, None)
            if tell is not None:
                tell(value)


def _watched_backward(order):
    entry = _watchers.get(_thread(), ((), False))
    watchers = [w for w in entry[0] if hasattr(w, 'rule_applied')]
    for v in reversed(order):
        if v._a is not None:
            before = [x.grad for x in v._prev]
            _BACKWARD[v._op](v)
            for watcher in watchers:
                watcher.rule_applied(v, before)


class WatchedValue(Value):
    """A Value made (or named) while a watcher that reads is registered: reading or setting
    its `.data` from outside this file and the ops' own code tells the current thread's
    watchers first."""

    __slots__ = ()

    @property
    def data(self):
        if _watchers and _outside_the_engine(_getframe(1)):
            _tell_touched('read', self)
        return _read_slot(self)

    @data.setter
    def data(self, number):
        if _watchers and _outside_the_engine(_getframe(1)):
            _tell_touched('written', self)
        _write_slot(self, number)


def _outside_the_engine(frame):
    return frame.f_globals is not _ENGINE and frame.f_code not in _OP_CODE
