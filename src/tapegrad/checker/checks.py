"""The grading of each exercise: what `tapegrad check` runs on a learner's code.

A check gets the namespace that the learner's code left behind (every name their file or
notebook defined; a name defined twice keeps its last definition) and either returns,
meaning passed, or raises:

- `Failed`: the first case that went wrong, as the code that shows it, what came out,
  what should have, and the likely mistake;
- `NotStarted`: what the exercise asks for is not there yet;
- `NotImplementedError`, from a stub the learner has not filled in yet.

Expected values come from tapegrad (exact against PyTorch), and gradients are also
compared with finite differences. Each check runs a few chosen cases first, because
their failures name the mistake best, then many random ones.
"""

import inspect
import math
import numbers
import random
import textwrap
import traceback
from dataclasses import dataclass
from typing import Callable

from ..engine import Value as Reference

# The labels under which the learner's code was compiled ("engine.py", "nb.ipynb, code
# cell 3"); the worker fills this in, so that errors can point at the learner's line.
learner_files = set()


class Failed(Exception):
    """A wrong answer: what went wrong, the code that shows it, and a hint."""

    def __init__(self, what, code=None, hint=None):
        super().__init__(what)
        self.what, self.code, self.hint = what, code, hint

    def __str__(self):
        text = textwrap.fill(self.what, 88)
        if self.code:
            text += '\n' + textwrap.indent(self.code, '    ')
        if self.hint:
            text += '\n' + textwrap.fill(self.hint, 88)
        return text


class NotStarted(Exception):
    """What the exercise asks for is not there yet."""


# ----------------------------------------------------------------------------------
# Running the learner's code and describing what happened


def num(x):
    """A number as a person writes it: 3.0, -0.125, 0.7615941559557649 as 0.761594156."""
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        return repr(x)
    text = repr(float(x))
    if len(text) > 12:
        text = f"{float(x):.9g}"
    return text if any(c in text for c in '.en') else text + '.0'  # 2.0, not 2


def show(x):
    """A learner's object, briefly: a Value by its data and grad, anything else by repr."""
    if hasattr(x, 'data') and hasattr(x, 'grad'):
        return f"Value(data={num(x.data)}, grad={num(x.grad)})"
    text = repr(x)
    return text if len(text) <= 80 else text[:77] + '...'


def describe(error):
    """`TypeError: ... (in __add__, engine.py, line 12)`: the error and the learner's line."""
    text = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename in learner_files]
    if frames:
        text += f" (in {frames[-1].name}, {frames[-1].filename}, line {frames[-1].lineno})"
    return text


def attempt(code, run, hint=None):
    """`run()`, with the learner's exceptions turned into Failed naming `code`.

    NotImplementedError passes through: it means a stub, which the caller sorts out.
    `hint` maps an exception type to the likely mistake.
    """
    try:
        return run()
    except (Failed, NotStarted, NotImplementedError):
        raise
    except RecursionError as error:
        raise Failed(f"This recursed too deep: {describe(error)}", code,
                     "Python allows about 1,000 nested calls; use a loop instead of "
                     "recursion.") from None
    except Exception as error:
        raise Failed(f"This raised {describe(error)}", code,
                     (hint or {}).get(type(error))) from None


def close(got, want, tolerance=1e-9):
    """|got - want| within `tolerance`, relative to |want| (absolute below 1)."""
    if isinstance(got, bool) or not isinstance(got, numbers.Real):
        return False
    if math.isnan(want):
        return math.isnan(got)
    return abs(got - want) <= tolerance * max(1.0, abs(want))


def run_parts(parts):
    """Run the parts of an exercise, `(name, function)` pairs, in order.

    The first wrong answer raises at once. A part that reaches a stub (NotImplementedError)
    is noted and the next part runs: if every part is a stub the exercise is not started,
    if only some are it is not finished, which is a failure.
    """
    stubs = []
    for name, part in parts:
        try:
            part()
        except NotImplementedError as error:
            stubs.append((name, error))
    if stubs and len(stubs) == len(parts):
        raise stubs[0][1]
    if stubs:
        name, error = stubs[0]
        raise Failed(f"Not finished: {name} still raises {describe(error)}.")


# ----------------------------------------------------------------------------------
# Snippets: a few lines of Value code, run with the learner's Value and with tapegrad's


@dataclass
class Snippet:
    """Lines of code over named leaves, whose last assignment is the output."""

    leaves: dict  # name -> float
    lines: list   # e.g. ["c = a * b", "d = c + a"]

    @property
    def output(self):
        return self.lines[-1].split(' = ')[0]

    def run(self, value_class, leaves=None):
        """The namespace after running the lines with `value_class` as Value."""
        env = {'Value': value_class}
        env.update({name: value_class(x) for name, x in (leaves or self.leaves).items()})
        exec('\n'.join(self.lines), env)
        return env

    def code(self, backward=False):
        names = ', '.join(self.leaves)
        values = ', '.join(f"Value({num(x)})" for x in self.leaves.values())
        lines = [f"{names} = {values}"] + self.lines
        if backward:
            lines.append(f"{self.output}.backward()")
        return '\n'.join(lines)

    def slope(self, leaf, h=1e-6):
        """d(output)/d(leaf) by central differences, from tapegrad's forward pass."""
        def output_at(x):
            return self.run(Reference, {**self.leaves, leaf: x})[self.output].data
        x = self.leaves[leaf]
        return (output_at(x + h) - output_at(x - h)) / (2 * h)


def check_snippet(value_class, snippet, hint=None, errors=None, tolerance=1e-7):
    """Compare the learner's output value, then every leaf's gradient, with tapegrad's.

    `hint(name, got, want, env)` may return the likely mistake for a wrong gradient of
    leaf `name`, given the learner's namespace `env` after backward(); `errors` maps an
    exception type raised by the code to its likely mistake.
    """
    code = snippet.code()
    mine = attempt(code, lambda: snippet.run(value_class), errors)
    ref = snippet.run(Reference)
    out, want = mine[snippet.output], ref[snippet.output]
    if not isinstance(out, value_class):
        raise Failed(f"{snippet.output} is {show(out)}, of type {type(out).__name__}; "
                     "expected a Value", code)
    if not close(out.data, want.data, 1e-9):
        raise Failed(f"{snippet.output}.data is {num(out.data)}; expected {num(want.data)}",
                     code)
    code = snippet.code(backward=True)
    attempt(code, out.backward, errors)
    want.backward()
    for name in snippet.leaves:
        got, expected = mine[name].grad, ref[name].grad
        if not close(got, expected, tolerance):
            text = (f"After {snippet.output}.backward(), {name}.grad is {num(got)}; "
                    f"expected {num(expected)} (finite differences give "
                    f"{num(snippet.slope(name))})")
            raise Failed(text, code, hint(name, got, expected, mine) if hint else None)


# The forms of the lines of random snippets: {} is an earlier value, {n} a plain number,
# {k} an integer exponent.
PLUS_TIMES = ['{} + {}', '{} * {}', '{} + {n}', '{n} + {}', '{} * {n}', '{n} * {}']
ALL_OPS = PLUS_TIMES + ['-{}', '{} - {}', '{n} - {}', '{} / {}', '{n} / {}', '{} / {n}',
                       '{} ** {k}', '{}.tanh()', '{}.relu()', '{}.exp()']


def random_snippet(rng, forms, steps=6):
    """A random expression of `steps` lines over leaves a, b, c; values get used again.

    Every intermediate value stays where the ops are smooth and finite differences are
    reliable: no division by near-zero, no relu near its kink, no huge exponentials.
    """
    leaves = {name: rng.choice((-1, 1)) * round(rng.uniform(0.5, 2.0), 2) for name in 'abc'}
    snippet = Snippet(leaves, [])
    values = dict(leaves)
    names = iter('defghijklmnopqrstuvwxyz')
    while len(snippet.lines) < steps:
        form = rng.choice(forms)
        arity = form.count('{}')
        operands = [rng.choice(list(values)[-4:] if rng.random() < 0.7 else list(values))
                    for _ in range(arity)]
        constant = rng.choice((2.0, 3.0, -1.5, 0.5))
        exponent = rng.choice((2, 3, -1)) if '**' in form else None
        text = form.format(*operands, k=exponent, n=constant)
        if not _smooth(form, [values[o] for o in operands], exponent):
            continue
        name = next(names)
        line = f"{name} = {text}"
        result = Snippet(leaves, snippet.lines + [line]).run(Reference)[name].data
        if abs(result) > 1e3:
            continue
        snippet.lines.append(line)
        values[name] = result
    return snippet


def _smooth(form, operands, exponent):
    if form in ('{} / {}', '{n} / {}'):
        return abs(operands[-1]) > 0.3
    if '**' in form:
        return exponent > 0 or abs(operands[0]) > 0.3
    if 'relu' in form:
        return abs(operands[0]) > 1e-2
    if 'exp' in form:
        return operands[0] < 4
    return True


def _pairs(rng, count):
    return [(round(rng.uniform(-3, 3), 2), round(rng.uniform(-3, 3), 2)) for _ in range(count)]


# ----------------------------------------------------------------------------------
# Exercise 0: numerical_derivative


def check_numerical_derivative(ns):
    nd = ns.get('numerical_derivative')
    if not callable(nd):
        raise NotStarted("there is no function numerical_derivative yet")
    functions = [
        ("3*x**2 - 4*x + 5", lambda x: 3 * x**2 - 4 * x + 5, lambda x: 6 * x - 4),
        ("x**3", lambda x: x**3, lambda x: 3 * x**2),
        ("math.sin(x)", math.sin, math.cos),
        ("math.exp(x) / 2", lambda x: math.exp(x) / 2, lambda x: math.exp(x) / 2),
    ]
    rng = random.Random(0)
    for text, f, slope in functions:
        for x in [3.0] + [round(rng.uniform(-3, 3), 2) for _ in range(4)]:
            code = f"def f(x):\n    return {text}\nnumerical_derivative(f, {num(x)})"
            got = attempt(code, lambda: nd(f, x),
                          {TypeError: "It is called as numerical_derivative(f, x): give h a "
                                      "default value, h=1e-6."})
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
                         f"is {num(want)}", code, hint)


# ----------------------------------------------------------------------------------
# Exercise 1: a Value holding data and grad, with a readable repr


def _value_class(ns):
    value_class = ns.get('Value')
    if not isinstance(value_class, type):
        raise NotStarted("there is no class Value yet")
    return value_class


def check_value(ns):
    V = _value_class(ns)
    rng = random.Random(1)
    for x in [2.5, -3.0, 0.0, 7] + [round(rng.uniform(-10, 10), 3) for _ in range(5)]:
        code = f"v = Value({x!r})"
        v = attempt(code, lambda: V(x))
        if not hasattr(v, 'data'):
            raise Failed("v has no attribute data", code, "Keep the number in self.data.")
        if not close(v.data, x, 0):
            raise Failed(f"v.data is {show(v.data)}; expected {num(x)}", code)
        if not hasattr(v, 'grad'):
            raise Failed("v has no attribute grad", code, "Start every Value with self.grad = 0.0.")
        if v.grad != 0:
            raise Failed(f"v.grad is {show(v.grad)}; expected 0.0", code,
                         "A new Value's gradient starts at 0.0: nothing has been computed yet.")
    code = "repr(Value(2.5))"
    text = attempt(code, lambda: repr(V(2.5)))[:200]
    if ' object at 0x' in text:
        raise Failed(f"This gives {text!r}, which hides the number", code,
                     "Define __repr__ to return something like 'Value(data=2.5, grad=0.0)'.")
    if '2.5' not in text:
        raise Failed(f"This gives {text!r}, without the data 2.5", code,
                     "Show the data (and the grad), like 'Value(data=2.5, grad=0.0)'.")


# ----------------------------------------------------------------------------------
# Exercise 2: + and *, also with a plain number on either side

_RADD_HINT = ("When a plain number n comes first, Python calls a.__radd__(n); sum() starts "
              "from 0, so sum([a, b]) needs it too: define __radd__.")
_RMUL_HINT = "When a plain number n comes first, Python calls a.__rmul__(n): define __rmul__."


def _expect_value(V, code, result, want, inputs=()):
    if not isinstance(result, V):
        raise Failed(f"This gave {show(result)}, of type {type(result).__name__}; "
                     "expected a new Value", code)
    if not close(result.data, want, 1e-12):
        raise Failed(f"This gave {show(result)}; expected data {num(want)}", code)
    for name, value, data in inputs:
        if not close(value.data, data, 0):
            raise Failed(f"This changed {name}: {name}.data is now {num(value.data)}, "
                         f"was {num(data)}", code,
                         "An op returns a new Value and leaves its inputs as they were.")


def check_add_mul(ns):
    V = _value_class(ns)
    pairs = _pairs(random.Random(2), 20)

    def binary(symbol, op):
        def part():
            for x, y in pairs:
                a, b = V(x), V(y)
                code = f"a, b = Value({num(x)}), Value({num(y)})\na {symbol} b"
                result = attempt(code, lambda: op(a, b))
                _expect_value(V, code, result, op(x, y), [('a', a, x), ('b', b, y)])
        return part

    def with_numbers(symbol, op, hint):
        def part():
            for x, n in pairs:
                a = V(x)
                for code, run in [(f"a {symbol} {num(n)}", lambda: op(a, n)),
                                  (f"{num(n)} {symbol} a", lambda: op(n, a))]:
                    code = f"a = Value({num(x)})\n{code}"
                    result = attempt(code, run, {TypeError: hint})
                    _expect_value(V, code, result, op(x, n), [('a', a, x)])
        return part

    def summing():
        values = [V(x) for x, _ in pairs[:4]]
        code = f"sum([{', '.join(f'Value({num(x)})' for x, _ in pairs[:4])}])"
        result = attempt(code, lambda: sum(values), {TypeError: _RADD_HINT})
        _expect_value(V, code, result, sum(x for x, _ in pairs[:4]))

    run_parts([('a + b', binary('+', lambda a, b: a + b)),
               ('a * b', binary('*', lambda a, b: a * b)),
               ('a + 2 and 2 + a', with_numbers('+', lambda a, b: a + b, _RADD_HINT)),
               ('a * 3 and 3 * a', with_numbers('*', lambda a, b: a * b, _RMUL_HINT)),
               ('sum()', summing)])


# ----------------------------------------------------------------------------------
# Exercise 3: graph bookkeeping, _prev and _op


def _inputs(value):
    return list(value._prev)


def check_graph(ns):
    V = _value_class(ns)
    leaf = attempt("Value(1.0)", lambda: V(1.0))
    if not hasattr(leaf, '_prev') and not hasattr(leaf, '_op'):
        raise NotStarted("Value has no _prev or _op yet")
    for attribute in ('_prev', '_op'):
        if not hasattr(leaf, attribute):
            raise Failed(f"Value(1.0) has no attribute {attribute}", "Value(1.0)",
                         "__init__ should store _children as self._prev and _op as self._op.")
    if len(_inputs(leaf)) or leaf._op:
        raise Failed(f"Value(1.0)._prev is {leaf._prev!r} and ._op is {leaf._op!r}; expected "
                     "no inputs and the op ''", "Value(1.0)",
                     "A value you create yourself was not computed from anything.")
    rng = random.Random(3)
    for symbol, op in [('+', lambda a, b: a + b), ('*', lambda a, b: a * b)]:
        for x, y in _pairs(rng, 5):
            a, b = V(x), V(y)
            code = f"a, b = Value({num(x)}), Value({num(y)})\nc = a {symbol} b"
            c = attempt(code, lambda: op(a, b))
            inputs = attempt(code + "\nc._prev", lambda: _inputs(c))
            if {id(v) for v in inputs} != {id(a), id(b)}:
                hint = (f"Pass the inputs to the new Value: Value(..., (self, other), '{symbol}')."
                        if not inputs else
                        "_prev should hold a and b themselves, not copies or numbers.")
                raise Failed(f"c._prev is {[show(v) for v in inputs]}; expected a and b", code,
                             hint)
            if c._op != symbol:
                raise Failed(f"c._op is {c._op!r}; expected {symbol!r}", code)
    a = V(2.0)
    for code, run in [("c = a + a", lambda: a + a), ("c = a * a", lambda: a * a)]:
        c = attempt(f"a = Value(2.0)\n{code}", run)
        if {id(v) for v in _inputs(c)} != {id(a)}:
            raise Failed(f"c._prev is {[show(v) for v in _inputs(c)]}; expected just a",
                         f"a = Value(2.0)\n{code}")
    for code, run in [("c = a + 5.0", lambda: a + 5.0), ("c = 5.0 * a", lambda: 5.0 * a)]:
        c = attempt(f"a = Value(2.0)\n{code}", run)
        inputs = _inputs(c)
        others = [v for v in inputs if v is not a]
        if (len({id(v) for v in inputs}) != 2 or len(others) != 1
                or not close(getattr(others[0], 'data', None), 5.0, 0)):
            raise Failed(f"c._prev is {[show(v) for v in inputs]}; expected a and a Value "
                         "holding 5.0", f"a = Value(2.0)\n{code}",
                         "A plain number becomes a Value first, and that Value is an input.")


# ----------------------------------------------------------------------------------
# Exercise 4: backward() for + and *


_NO_BACKWARD = {AttributeError: "Every Value needs a _backward: in __init__ one that does "
                               "nothing (lambda: None), and in each op one that sends the "
                               "gradient on to the op's inputs."}


def _backward_hint(op):
    def hint(name, got, want, env):
        leaf = env[name]
        other = env['b' if name == 'a' else 'a']
        if env['c'].grad != 1:
            return (f"c.grad is {num(env['c'].grad)}: backward() starts by setting the "
                    "output's own grad to 1.0 (dc/dc = 1).")
        if got == 0:
            return (f"No gradient reached {name}: does {op} give its output a _backward, "
                    "and does backward() call _backward on every node?")
        if op == '*' and close(got, leaf.data) and not close(want, leaf.data):
            return (f"That is {name}.data: the slope of a * b with respect to {name} is the "
                    f"other input ({num(other.data)}), so _backward should add "
                    "other.data * out.grad to self.grad, and self.data * out.grad to other.grad.")
        return None
    return hint


def _twice_hint(name, got, want, env):
    if close(2 * got, want):
        return (f"{name} is used twice, so both uses must add to its grad: did a _backward "
                "use = instead of +=?")
    if close(got, 2 * want):
        return ("Twice the right answer: did backward() run some node's _backward twice? "
                "Keep a set of visited nodes while building the order.")
    return None


def _random_hint(name, got, want, env):
    return _twice_hint(name, got, want, env) or (
        "Some values here are used more than once: each use must add its share to their "
        "grad (+=), and each node's _backward must run once, after every node computed "
        "from it.")


def _order_hint(name, got, want, env):
    if got == 0 and close(env['d'].grad, 1.0):
        return ("The gradient reached d but no further: backward() must call _backward "
                "from the output back towards the inputs, so walk the topological order "
                "in reverse (output first).")
    return None


def check_backward(ns):
    V = _value_class(ns)
    if not callable(getattr(V, 'backward', None)):
        raise NotStarted("Value has no backward() method yet")
    rng = random.Random(4)

    def simple(symbol):
        def part():
            for x, y in [(2.0, 3.0)] + _pairs(rng, 5):
                snippet = Snippet({'a': x, 'b': y}, [f"c = a {symbol} b"])
                check_snippet(V, snippet, _backward_hint(symbol), _NO_BACKWARD)
        return part

    def order():
        snippet = Snippet({'a': 2.0, 'b': -3.0, 'c': 1.5}, ["d = a * b", "e = d + c"])
        check_snippet(V, snippet, hint=_order_hint)

    def twice():
        for x, y in [(3.0, 0.5)] + _pairs(rng, 3):
            for lines in (["c = a + a"], ["c = a * a"], ["c = a * b + a"],
                          ["c = a + b", "d = c * c"]):
                check_snippet(V, Snippet({'a': x, 'b': y}, lines), hint=_twice_hint)

    def deep():
        code = "x = Value(0.5)\ny = x\nfor _ in range(2000):\n    y = y + 1.0\ny.backward()"
        x = V(0.5)
        y = x
        for _ in range(2000):
            y = attempt(code, lambda: y + 1.0)

        def backward():
            try:
                y.backward()
            except RecursionError as error:
                raise Failed(f"backward() recursed too deep on a 2,000-node chain: "
                             f"{describe(error)}", code,
                             "Python allows about 1,000 nested calls. Build the topological "
                             "order with a loop and a list of nodes still to visit, instead "
                             "of a function that calls itself.") from None
        attempt(code, backward)
        if not close(x.grad, 1.0):
            raise Failed(f"x.grad is {num(x.grad)}; expected 1.0", code)

    def random_expressions():
        for _ in range(30):
            check_snippet(V, random_snippet(rng, PLUS_TIMES), hint=_random_hint)

    run_parts([('the _backward of a * b', simple('*')), ('the _backward of a + b', simple('+')),
               ('a chain of two ops', order), ('a node used twice', twice),
               ('a deep chain', deep), ('random expressions', random_expressions)])


# ----------------------------------------------------------------------------------
# Exercise 5: - / ** tanh relu exp


def _pow_hint(k):
    def hint(name, got, want, env):
        x = env['a'].data
        if close(got, k * x ** k):
            return "That is k * x**k; the slope of x**k is k * x**(k - 1)."
        if close(got, x ** (k - 1)):
            return "The factor k is missing: the slope of x**k is k * x**(k - 1)."
        return "The slope of x**k is k * x**(k - 1)."
    return hint


def _tanh_hint(name, got, want, env):
    x = env['a'].data
    if close(got, 1 - x * x):
        return ("That is 1 - x**2 of the input x. The slope of tanh is 1 - tanh(x)**2: "
                "square the output t = tanh(x), not the input.")
    return "The slope of tanh is 1 - tanh(x)**2, where tanh(x) is the output."


def _relu_hint(name, got, want, env):
    if env['a'].data < 0:
        return "relu is flat (0) for negative inputs, so no gradient passes through."
    return "relu is the identity for positive inputs, so the gradient passes through unchanged."


def _exp_hint(name, got, want, env):
    if close(got, env['a'].data):
        return "That is x; the slope of exp(x) is exp(x) itself, the output."
    return "The slope of exp(x) is exp(x) itself, the output."


_REFLECTED = {TypeError: "A number on the left needs the reflected method: __rsub__ for "
                         "5.0 - a, __rtruediv__ for 3.0 / a."}
# (line, whether it reads the leaf b)
_SUBTRACTION = [("c = -a", False), ("c = a - b", True), ("c = a - 5.0", False),
                ("c = 5.0 - a", False)]
_DIVISION = [("c = a / b", True), ("c = a / 4.0", False), ("c = 3.0 / a", False)]


def check_more_ops(ns):
    V = _value_class(ns)
    rng = random.Random(5)

    def signed(count, low=0.3, high=2.5):
        return [rng.choice((-1, 1)) * round(rng.uniform(low, high), 2) for _ in range(count)]

    def binary(cases):
        def part():
            for x, y in zip(signed(4), signed(4)):
                for line, reads_b in cases:
                    leaves = {'a': x, 'b': y} if reads_b else {'a': x}
                    check_snippet(V, Snippet(leaves, [line]), errors=_REFLECTED)
        return part

    def powers():
        for x in [abs(v) for v in signed(3)] + signed(3):
            for k in (2, 3, -1, 0.5):
                if k != 0.5 or x > 0:
                    check_snippet(V, Snippet({'a': x}, [f"b = a ** {k}"]), hint=_pow_hint(k))

    def unary(method, hint, inputs):
        def part():
            for x in inputs:
                check_snippet(V, Snippet({'a': x}, [f"b = a.{method}()"]), hint=hint)
        return part

    def mixed():
        for _ in range(40):
            check_snippet(V, random_snippet(rng, ALL_OPS))

    run_parts([('-a and a - b', binary(_SUBTRACTION)), ('a / b', binary(_DIVISION)),
               ('a ** k', powers),
               ('tanh()', unary('tanh', _tanh_hint, [0.5, -1.3] + signed(4, 0.1, 2.0))),
               ('relu()', unary('relu', _relu_hint, [1.5, -0.7] + signed(4))),
               ('exp()', unary('exp', _exp_hint, [0.5, -1.2] + signed(4, 0.1, 2.0))),
               ('random expressions', mixed)])


# ----------------------------------------------------------------------------------
# Exercise 6: Module and Neuron


def _classes(ns, *names):
    found = [ns.get(name) for name in names]
    missing = [name for name, cls in zip(names, found) if not isinstance(cls, type)]
    if missing:
        raise NotStarted(f"there is no class {', '.join(missing)} yet")
    return found


def _parameters(code, module, V, count):
    params = attempt(code, lambda: list(module.parameters()))
    if len(params) != count or not all(isinstance(p, V) for p in params):
        raise Failed(f"This returned {len(params)} items, {[show(p) for p in params][:5]}; "
                     f"expected {count} Values", code)
    return params


def _activation(x, name):
    return {'relu': max(x, 0.0), 'tanh': math.tanh(x), 'linear': x}[name]


def check_neuron(ns):
    V = _value_class(ns)
    Module, Neuron = _classes(ns, 'Module', 'Neuron')
    takes_nonlin = 'nonlin' in inspect.signature(Neuron).parameters
    rng = random.Random(6)

    def module():
        got = attempt("Module().parameters()", lambda: list(Module().parameters()))
        if got:
            raise Failed(f"This returned {got!r}; expected []", "Module().parameters()",
                         "A plain Module has no parameters of its own.")

    def neuron(nonlin):
        def part():
            random.seed(6)
            code = "n = Neuron(3)" if nonlin else "n = Neuron(3, nonlin=False)"
            n = attempt(code, lambda: Neuron(3) if nonlin else Neuron(3, nonlin=False))
            if not hasattr(n, 'w') or not hasattr(n, 'b'):
                raise Failed("n has no attributes w and b", code,
                             "Keep the weights in self.w and the bias in self.b, as the "
                             "exercise's Neuron.__init__ does.")
            params = _parameters(code + "\nn.parameters()", n, V, 4)
            if [id(p) for p in params] != [id(p) for p in list(n.w) + [n.b]]:
                raise Failed("n.parameters() should be the weights, then the bias: n.w + [n.b]",
                             code + "\nn.parameters()")
            n.b.data = 0.25  # a bias of 0 would hide a forgotten bias
            w = [p.data for p in n.w]
            # Neuron(3) is relu in micrograd's convention; other conventions are accepted
            # when the class takes no `nonlin` (tanh, as in Karpathy's video, or linear).
            if takes_nonlin:
                acts = ['relu'] if nonlin else ['linear']
            else:
                acts = ['relu', 'tanh', 'linear']
            for _ in range(8):
                x = [round(rng.uniform(-2, 2), 2) for _ in range(3)]
                setup = (f"{code}   # weights {[num(v) for v in w]}\nn.b.data = 0.25\n"
                         f"out = n({x})")
                out = attempt(setup, lambda: n(x))
                if not isinstance(out, V):
                    raise Failed(f"out is {show(out)}; expected a Value", setup)
                z = n.b.data + sum(wi * xi for wi, xi in zip(w, x))
                matching = [act for act in acts if close(out.data, _activation(z, act))]
                if not matching:
                    hint = None
                    if any(close(out.data, _activation(z - n.b.data, act)) for act in acts):
                        hint = "The bias is missing: the neuron computes act(w . x + b)."
                    elif nonlin and close(out.data, z):
                        hint = "relu was not applied: with nonlin=True, return act.relu()."
                    elif not nonlin and close(out.data, max(z, 0.0)):
                        hint = "With nonlin=False the neuron is linear: return w . x + b as it is."
                    raise Failed(f"out.data is {num(out.data)}; expected "
                                 f"{num(_activation(z, acts[0]))}", setup, hint)
                acts = matching[:1]
                _check_slopes(V, n, list(n.w) + [n.b], x, setup)
        return part

    def zero_grad():
        random.seed(6)
        n = attempt("n = Neuron(3)", lambda: Neuron(3))
        params = attempt("n = Neuron(3)\nn.parameters()", lambda: list(n.parameters()))
        for p in params:
            p.grad = 1.0
        attempt("n.zero_grad()", n.zero_grad)
        if any(p.grad != 0 for p in params):
            raise Failed(f"After n.zero_grad() the grads are {[num(p.grad) for p in params]}; "
                         "expected all 0", "n = Neuron(3)\nn.zero_grad()")

    parts = [('Module.parameters()', module), ('Neuron', neuron(True))]
    if takes_nonlin:
        parts.append(('Neuron(nin, nonlin=False)', neuron(False)))
    run_parts(parts + [('zero_grad()', zero_grad)])


def _check_slopes(V, model, params, x, setup, h=1e-6):
    """Each parameter's and input's grad after backward(), against central differences."""
    inputs = [V(v) for v in x]
    for p in params:
        p.grad = 0.0
    code = setup + "\nout.backward()"
    out = attempt(code, lambda: model(inputs))
    attempt(code, out.backward)
    named = [(f"the grad of parameter {i}", p) for i, p in enumerate(params)]
    named += [(f"the grad of input {i}", v) for i, v in enumerate(inputs)]
    for label, value in named:
        saved = value.data
        value.data = saved + h
        up = model(inputs).data
        value.data = saved - h
        down = model(inputs).data
        value.data = saved
        slope = (up - down) / (2 * h)
        if not close(value.grad, slope, 1e-5):
            raise Failed(f"After out.backward(), {label} is {num(value.grad)}; finite "
                         f"differences give {num(slope)}", code)


# ----------------------------------------------------------------------------------
# Exercise 7: Layer and MLP


def _as_list(out):
    return list(out) if isinstance(out, (list, tuple)) else [out]


def check_mlp(ns):
    V = _value_class(ns)
    Layer, MLP = _classes(ns, 'Layer', 'MLP')
    rng = random.Random(7)
    x = [round(rng.uniform(-2, 2), 2) for _ in range(3)]

    def layer():
        random.seed(7)
        code = "layer = Layer(3, 4)"
        lay = attempt(code, lambda: Layer(3, 4))
        neurons = getattr(lay, 'neurons', None)
        if neurons is None:
            raise Failed("layer has no attribute neurons", code,
                         "Keep the layer's neurons in a list, self.neurons.")
        if len(neurons) != 4:
            raise Failed(f"layer.neurons has {len(neurons)} neurons; expected 4", code)
        code += f"\nout = layer({x})"
        out = attempt(code, lambda: lay(x))
        outs = _as_list(out)
        if len(outs) != 4:
            raise Failed(f"out has {len(outs)} values; expected 4, one per neuron", code,
                         "Does __call__ skip a neuron, say with neurons[:-1] or range(len - 1)?"
                         if len(outs) == 3 else None)
        for i, (got, neuron) in enumerate(zip(outs, neurons)):
            want = attempt(code, lambda: neuron(x))
            if not isinstance(got, V) or not close(got.data, want.data):
                raise Failed(f"out[{i}] is {show(got)}; expected layer.neurons[{i}](x) = "
                             f"{num(want.data)}", code)
        params = _parameters("layer = Layer(3, 4)\nlayer.parameters()", lay, V, 16)
        expected = [p for neuron in neurons for p in neuron.parameters()]
        if [id(p) for p in params] != [id(p) for p in expected]:
            raise Failed("layer.parameters() is not the neurons' parameters, neuron by neuron",
                         "layer = Layer(3, 4)\nlayer.parameters()")
        code = f"one = Layer(3, 1)\none({x})"
        single = attempt(code, lambda: Layer(3, 1)(x))
        if not isinstance(single, V):
            raise Failed(f"This returned {show(single)}; expected the single Value itself", code,
                         "A layer of one neuron returns that neuron's Value, not a list, so an "
                         "MLP ending in one neuron gives a Value.")

    def mlp():
        random.seed(7)
        code = "model = MLP(3, [4, 4, 1])"
        model = attempt(code, lambda: MLP(3, [4, 4, 1]))
        layers = getattr(model, 'layers', None)
        if layers is None or [len(getattr(lay, 'neurons', ())) for lay in layers] != [4, 4, 1]:
            raise Failed("model.layers should be three layers of 4, 4 and 1 neurons", code)
        code += f"\nout = model({x})"
        out = attempt(code, lambda: model(x))
        if not isinstance(out, V):
            raise Failed(f"out is {show(out)}; expected a single Value", code)
        signal = x
        for lay in layers:
            signal = [neuron(signal) for neuron in lay.neurons]
        if not close(out.data, signal[0].data):
            raise Failed(f"out.data is {num(out.data)}; feeding x through the layers one "
                         f"after another gives {num(signal[0].data)}", code,
                         "Each layer's output is the next layer's input.")
        params = _parameters(code + "\nmodel.parameters()", model, V, 41)
        expected = [p for lay in layers for p in lay.parameters()]
        if [id(p) for p in params] != [id(p) for p in expected]:
            raise Failed("model.parameters() is not the layers' parameters, layer by layer",
                         code + "\nmodel.parameters()")
        _check_slopes(V, model, params, x, code)

    run_parts([('Layer', layer), ('MLP', mlp)])


# ----------------------------------------------------------------------------------
# Exercise 8: a training loop that lowers the loss

TRAIN_XS = [[2.0, 3.0], [1.0, -1.0], [-1.0, -2.0], [-2.0, 2.0], [0.5, 1.5], [1.5, -0.5]]
TRAIN_YS = [1.0, -1.0, -1.0, 1.0, 1.0, -1.0]
TRAIN_STEPS, TRAIN_RATE = 20, 0.05


def reference_training(model, xs, ys, steps, learning_rate, zero_grad=True, sign=-1.0):
    """The losses of plain gradient descent on the mean squared error, step by step.

    `zero_grad=False` and `sign=+1.0` give two classic mistakes, to recognise them.
    """
    losses = []
    for _ in range(steps):
        predictions = [model(x) for x in xs]
        loss = sum((p - y) ** 2 for p, y in zip(predictions, ys)) * (1.0 / len(ys))
        if zero_grad:
            model.zero_grad()
        loss.backward()
        for p in model.parameters():
            p.data += sign * learning_rate * p.grad
        losses.append(loss.data)
    return losses


def _fresh_model(MLP):
    random.seed(8)
    model = MLP(2, [4, 4, 1])
    return model, [p.data for p in model.parameters()]


def _restore(model, start):
    for p, data in zip(model.parameters(), start):
        p.data, p.grad = data, 0.0


def check_training(ns):
    (MLP,) = _classes(ns, 'MLP')
    train = ns.get('train')
    code = (f"random.seed(8)\nmodel = MLP(2, [4, 4, 1])\nxs = {TRAIN_XS}\nys = {TRAIN_YS}\n"
            f"losses = train(model, xs, ys, {TRAIN_STEPS}, {TRAIN_RATE})")
    model, start = _fresh_model(MLP)
    if not callable(train):
        code = code.replace("losses = train(", "losses = reference_training(")
        losses = attempt(code, lambda: reference_training(model, TRAIN_XS, TRAIN_YS,
                                                          TRAIN_STEPS, TRAIN_RATE))
        _expect_lower(losses, code)
        return ("no train() function found: trained your MLP with the checker's own loop, "
                f"loss {num(losses[0])} -> {num(losses[-1])}")
    got = attempt(code, lambda: train(model, TRAIN_XS, TRAIN_YS, TRAIN_STEPS, TRAIN_RATE))
    try:
        got = [float(_loss_data(v)) for v in got]
    except (TypeError, ValueError):
        raise Failed(f"train() returned {show(got)}; expected the list of losses, one float "
                     "per step", code) from None
    if len(got) != TRAIN_STEPS:
        raise Failed(f"train() returned {len(got)} losses; expected {TRAIN_STEPS}, one per step",
                     code)
    _restore(model, start)
    want = reference_training(model, TRAIN_XS, TRAIN_YS, TRAIN_STEPS, TRAIN_RATE)
    step = next((i for i, (g, w) in enumerate(zip(got, want)) if not close(g, w, 1e-6)), None)
    if step is not None:
        hint = None
        if _same_losses(got, model, start, zero_grad=False):
            hint = ("Gradients piled up from step to step: call model.zero_grad() before "
                    "loss.backward().")
        elif _same_losses(got, model, start, sign=1.0):
            hint = ("The loss grows: step against the gradient, p.data -= learning_rate * "
                    "p.grad.")
        elif step == 0:
            hint = "The loss is the mean of (prediction - target)**2 over the data."
        elif all(close(g, got[0], 1e-12) for g in got):
            hint = "The loss never changes: update p.data for every p in model.parameters()."
        raise Failed(f"At step {step} the loss is {num(got[step])}; expected "
                     f"{num(want[step])}", code, hint)
    _expect_lower(got, code)
    return None


def _same_losses(losses, model, start, **mistake):
    """Whether `losses` are those of the reference training with `mistake` made."""
    _restore(model, start)
    try:
        wrong = reference_training(model, TRAIN_XS, TRAIN_YS, TRAIN_STEPS, TRAIN_RATE, **mistake)
    except ArithmeticError:  # the mistake made the numbers blow up: not what the learner did
        return False
    return all(close(g, w, 1e-6) for g, w in zip(losses, wrong))


def _loss_data(v):
    return v.data if hasattr(v, 'data') else v


def _expect_lower(losses, code):
    if not losses[-1] < losses[0]:
        raise Failed(f"Training did not lower the loss: {num(losses[0])} at the start, "
                     f"{num(losses[-1])} after {len(losses)} steps", code)


# ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Exercise:
    number: int
    title: str
    needs: tuple  # exercises that must pass first
    check: Callable


EXERCISES = [
    Exercise(0, "numerical_derivative", (), check_numerical_derivative),
    Exercise(1, "Value: data, grad and a readable repr", (), check_value),
    Exercise(2, "+ and *, also with a number on the left", (1,), check_add_mul),
    Exercise(3, "graph bookkeeping: _prev and _op", (2,), check_graph),
    Exercise(4, "backward() for + and *, in topological order", (3,), check_backward),
    Exercise(5, "- / ** tanh relu exp", (4,), check_more_ops),
    Exercise(6, "Module and Neuron", (5,), check_neuron),
    Exercise(7, "Layer and MLP", (6,), check_mlp),
    Exercise(8, "a training loop that lowers the loss", (7,), check_training),
]
