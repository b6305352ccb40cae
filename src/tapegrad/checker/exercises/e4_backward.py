"""Exercise 4: backward() for + and *, in topological order."""

import random

from ..framework import (VALUES_ONLY, Exercise, Failed, NotStarted, Snippet, check_snippet, close,
                         need_value_ops, num, pairs, random_snippet, run_parts, value_class)

TEXT = """
## Exercise 4: backpropagation

`c.backward()` should fill in, for every Value `v` that `c` depends on,
`v.grad = dc/dv`. The **chain rule** breaks this into small steps. If `out = x * y` and we
already know `out.grad` (how the end result depends on `out`), then

- nudging `x` by `h` moves `out` by `y * h`, so `x.grad` gets `y.data * out.grad`;
- likewise `y.grad` gets `x.data * out.grad`.

For `out = x + y` both inputs get `1.0 * out.grad`. Each op's result gets a small function,
`_backward`, that does exactly this for its inputs. A Value you create has nothing to pass
on: its `_backward` does nothing.

Two details decide whether the answer is right:

1. **Add, don't overwrite.** In `b = a + a`, or whenever a Value is used twice, each use
   sends its share: `x.grad += ...`, never `x.grad = ...`.
2. **Order.** A Value may pass its gradient on only once it has received everything
   from the Values computed from it. Listing the graph so that every Value comes after
   its inputs (a *topological order*) and walking that list **backwards**, from the
   result to the inputs, guarantees this. A function that calls itself on each input
   builds that list in a few lines; a loop with a list of nodes still to visit does the
   same without Python's limit of about 1,000 nested calls, for very deep graphs.

**Task:** give every Value a `_backward` (in `__init__`, one that does nothing; in
`__add__` and `__mul__`, one that sends the gradient to the inputs as above), then write
`backward()` below: find the topological order, set the result's own `grad` to 1.0 (the
slope of `c` with respect to itself), then call `_backward()` on every Value, result first.
"""

STUB = '''
def backward(self):
    """Fill in the .grad of every Value that self depends on: d(self)/d(that Value)."""
    ### YOUR CODE HERE
    raise NotImplementedError("Exercise 4: Value.backward")


Value.backward = backward

# Exercise 4 also changes __init__, __add__ and __mul__ (the cells of exercises 1 and 2).
# Try it:
# a, b = Value(2.0), Value(3.0)
# c = a * b
# c.backward()
# print(a.grad, b.grad)  # 3.0 2.0
# a = Value(3.0)
# b = a + a
# b.backward()
# print(a.grad)  # 2.0: a is used twice
'''

SOLUTION = '''
def __init__(self, data, _children=(), _op=''):
    self.data = float(data)
    self.grad = 0.0
    self._prev = tuple(_children)
    self._op = _op
    self._backward = lambda: None  # a Value created directly has no inputs to update


def __add__(self, other):
    other = other if isinstance(other, Value) else Value(other)
    out = Value(self.data + other.data, (self, other), '+')

    def _backward():
        self.grad += out.grad   # d(x + y)/dx = 1
        other.grad += out.grad  # d(x + y)/dy = 1
    out._backward = _backward
    return out


def __mul__(self, other):
    other = other if isinstance(other, Value) else Value(other)
    out = Value(self.data * other.data, (self, other), '*')

    def _backward():
        self.grad += other.data * out.grad  # d(x * y)/dx = y
        other.grad += self.data * out.grad  # d(x * y)/dy = x
    out._backward = _backward
    return out


def backward(self):
    """Fill in the .grad of every Value that self depends on: d(self)/d(that Value)."""
    # Depth first with an explicit stack: a node goes into `order` once all of its
    # inputs are in, which the (node, True) entry marks.
    order, visited, stack = [], set(), [(self, False)]
    while stack:
        node, inputs_done = stack.pop()
        if inputs_done:
            order.append(node)
        elif node not in visited:
            visited.add(node)
            stack.append((node, True))
            stack.extend((child, False) for child in node._prev)
    self.grad = 1.0
    for node in reversed(order):
        node._backward()


Value.__init__, Value.__add__, Value.__mul__ = __init__, __add__, __mul__
Value.backward = backward

a, b = Value(2.0), Value(3.0)
c = a * b
c.backward()
print(a.grad, b.grad)
a = Value(3.0)
b = a + a
b.backward()
print(a.grad)
'''

RECURSION_NOTE = (
    "backward() builds its order by recursion. That is how the course writes it, and it "
    "is right for graphs like the course's; but Python stops at about 1,000 nested calls, "
    "and on a chain 2,000 Values deep it raised RecursionError. To go deeper, build the "
    "order with a loop and a stack of nodes still to visit: push (node, False); when you "
    "pop (node, False) for a node not yet visited, mark it visited, push (node, True) and "
    "then (child, False) for each child; when you pop (node, True), append the node.")

_NO_BACKWARD = {'AttributeError': "Every Value needs a _backward: in __init__ one that does "
                                  "nothing (lambda: None), and in each op one that sends the "
                                  "gradient on to the op's inputs."}


def _backward_hint(op):
    def hint(name, got, want, seen):
        other = seen['b' if name == 'a' else 'a']
        if seen['c'].get('grad') != 1:
            return (f"c.grad is {num(seen['c'].get('grad'))}: backward() starts by setting "
                    "the output's own grad to 1.0 (dc/dc = 1).")
        if got == 0:
            return (f"No gradient reached {name}: does {op} give its output a _backward, "
                    "and does backward() call _backward on every node?")
        leaf = seen[name].get('data')
        if op == '*' and close(got, leaf) and not close(want, leaf):
            return (f"That is {name}.data: the slope of a * b with respect to {name} is the "
                    f"other input ({num(other.get('data'))}), so _backward should add "
                    "other.data * out.grad to self.grad, and self.data * out.grad to other.grad.")
        return None
    return hint


def _twice_hint(name, got, want, seen):
    if close(2 * got, want):
        return (f"{name} is used twice, so both uses must add to its grad: did a _backward "
                "use = instead of +=?")
    if close(got, 2 * want):
        return ("Twice the right answer: did backward() run some node's _backward twice? "
                "Keep a set of visited nodes while building the order.")
    return None


def _random_hint(name, got, want, seen):
    return _twice_hint(name, got, want, seen) or (
        "Some values here are used more than once: each use must add its share to their "
        "grad (+=), and each node's _backward must run once, after every node computed "
        "from it.")


def _order_hint(name, got, want, seen):
    if got == 0 and close(seen['d'].get('grad'), 1.0):
        return ("The gradient reached d but no further: backward() must call _backward "
                "from the output back towards the inputs, so walk the topological order "
                "in reverse (output first).")
    return None


DEEP_CHAIN = "x, one = Value(0.5), Value(1.0)\ny = x\nfor _ in range(2000):\n    y = y + one"


def check(learner):
    value_class(learner)
    if not learner.has_method('Value', 'backward'):
        raise NotStarted("Value has no backward() method")
    need_value_ops(learner, '+', '*')
    rng = random.Random(4)

    def simple(symbol):
        def part():
            for x, y in [(2.0, 3.0)] + pairs(rng, 5):
                snippet = Snippet({'a': x, 'b': y}, [f"c = a {symbol} b"])
                check_snippet(learner, snippet, _backward_hint(symbol), _NO_BACKWARD)
        return part

    def order():
        snippet = Snippet({'a': 2.0, 'b': -3.0, 'c': 1.5}, ["d = a * b", "e = d + c"])
        check_snippet(learner, snippet, hint=_order_hint)

    def twice():
        for x, y in [(3.0, 0.5)] + pairs(rng, 3):
            for lines in (["c = a + a"], ["c = a * a"], ["c = a * b + a"],
                          ["c = a + b", "d = c * c"]):
                check_snippet(learner, Snippet({'a': x, 'b': y}, lines), hint=_twice_hint)

    def deep():
        code = DEEP_CHAIN + "\ny.backward()"
        try:
            grads = learner.run([DEEP_CHAIN, "y.backward()"],
                                "[data_of(x.grad), data_of(one.grad)]", shown=code)
        except Failed as failure:
            if failure.error.get('recursion') and failure.error.get('step') == 1:
                return RECURSION_NOTE
            raise
        if not close(grads[0], 1.0) or not close(grads[1], 2000.0):
            raise Failed(f"x.grad is {num(grads[0])} and one.grad {num(grads[1])}; expected "
                         "1.0 and 2000.0", code)
        return None

    def random_expressions():
        for _ in range(30):
            check_snippet(learner, random_snippet(rng, VALUES_ONLY), hint=_random_hint)

    return run_parts([('the _backward of a * b', simple('*')),
                      ('the _backward of a + b', simple('+')),
                      ('a chain of two ops', order), ('a node used twice', twice),
                      ('a deep chain', deep), ('random expressions', random_expressions)])


EXERCISE = Exercise(4, "backward() for + and *, in topological order", ('Value',), (1,), check,
                    TEXT, STUB, SOLUTION)
