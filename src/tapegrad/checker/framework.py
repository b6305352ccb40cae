"""What every exercise's check is written with: outcomes, the learner's code, snippets.

A check runs in the grader, never in the learner's process. It asks the learner's code
questions through a `Learner` (run these lines, tell me that number) and compares the
answers with tapegrad's own, computed here. It returns, meaning passed (optionally with
a note), or raises:

- `Failed`: the first case that went wrong, as the code that shows it, what came out,
  what should have, and the likely mistake;
- `NotStarted`: what the exercise asks for is not there yet, and why in a few words;
- `PartlyDone`: some parts pass, the others are not there yet;
- `Blocked`: something it relies on, from an earlier exercise, does not work.
"""

import math
import numbers
import textwrap
import time
from dataclasses import dataclass
from typing import Callable

from ..engine import Value as Reference


class Failed(Exception):
    """A wrong answer: what went wrong, the code that shows it, and a hint."""

    def __init__(self, what, code=None, hint=None, error=None):
        super().__init__(what)
        self.what, self.code, self.hint = what, code, hint
        self.error = error or {}  # what the learner's code raised, as the worker saw it

    def __str__(self):
        text = textwrap.fill(self.what, 88)
        if self.code:
            text += '\n' + textwrap.indent(self.code, '    ')
        if self.hint:
            text += '\n' + textwrap.fill(self.hint, 88)
        return text


class NotStarted(Exception):
    """What the exercise asks for is not there yet; the message says what is missing."""


class PartlyDone(Exception):
    """Some parts pass and the others are not there yet; the message says which."""


class Blocked(Exception):
    """Something the exercise relies on does not work; the message says what."""


class Fallback(str):
    """A note on a pass that the checker's own code helped to, named beside the status."""


class Stub(NotStarted):
    """The learner's code reached a stub: a NotImplementedError it has not replaced yet."""

    def __init__(self, error):
        where = error.get('where') or {}
        name = where.get('function') or 'a stub'
        place = f" ({where['label']}, line {where['line']})" if where else ''
        super().__init__(f"{name}{place} still raises NotImplementedError")
        self.function = where.get('function')


# ----------------------------------------------------------------------------------
# The learner's code, at arm's length


@dataclass(frozen=True)
class Exercise:
    number: int
    title: str
    names: tuple     # the names it grades: from a library, they are not the learner's work
    needs: tuple     # exercises that must pass (or be a library's) before this one is graded
    check: Callable  # check(learner) -> a note or None; raises an outcome above
    text: str        # the exercise notebook's explanation (markdown)
    stub: str        # the code cell a learner starts from
    solution: str    # the same cell, done


class Learner:
    """The grader's handle on the learner's code, which runs in a sandbox.

    `names` says what the names that the exercises grade are: {'Value': {'kind': 'class',
    'origin': 'learner', 'attributes': [...]}}; `losses` is what the learner's own
    training loop printed, round by round, when there is one.
    """

    def __init__(self, sandbox, loaded, loop, timeout):
        self.sandbox, self.loop, self.timeout = sandbox, loop, timeout
        self.names = loaded['names']
        self.losses = loaded['losses']
        self.deadline = time.monotonic() + timeout

    def restart_clock(self):
        self.deadline = time.monotonic() + self.timeout

    def has(self, name, kind):
        return self.names.get(name, {}).get('kind') == kind

    def has_method(self, class_name, method):
        return method in self.names.get(class_name, {}).get('attributes', ())

    def run(self, steps, observe='None', *, seed=0, shown=None, hints=None):
        """Run `steps` (lines of code) with the learner's names; the value of `observe`.

        An error in the learner's code raises Failed, showing `shown` (by default the
        steps up to the one that raised), with the hint that `hints` gives its type; a
        stub raises Stub.
        """
        steps = [steps] if isinstance(steps, str) else list(steps)
        reply = self.sandbox.probe(steps, observe, seed, self.deadline)
        if 'error' not in reply:
            return reply.get('result')
        error = reply['error']
        if error.get('stub'):
            raise Stub(error)
        code = shown if shown is not None else '\n'.join(steps[:(error.get('step') or 0) + 1])
        if error.get('recursion'):
            raise Failed(f"This recursed too deep: {error['text']}", code,
                         "Python allows about 1,000 nested calls; use a loop instead of "
                         "recursion.", error)
        raise Failed(f"This raised {error['text']}", code, (hints or {}).get(error['type']),
                     error)


def value_class(learner):
    """NotStarted unless the learner has a class Value."""
    if not learner.has('Value', 'class'):
        raise NotStarted("there is no class Value")


def need_value_ops(learner, *symbols):
    """Blocked (or not started) unless `a <symbol> b` of two Values gives a Value."""
    for symbol in symbols:
        try:
            seen = learner.run(f"c = Value(2.0) {symbol} Value(3.0)", "see(c)")
        except Stub as stub:
            raise NotStarted(f"exercise 2 comes first: {stub}") from None
        except Failed:
            seen = None
        if not seen or not seen['value']:
            raise Blocked(f"a {symbol} b of two Values does not work yet (exercise 2)")


def run_parts(parts):
    """Run the parts of an exercise, `(name, function)` pairs, in order.

    The first wrong answer raises at once. A part that is not there yet (a stub, or a
    missing method) is noted and the next part runs: if no part is there the exercise
    is not started, if some are it is partly done. Returns the parts' notes, joined.
    """
    missing, notes = [], []
    for name, part in parts:
        try:
            note = part()
        except NotStarted as reason:
            missing.append((name, reason))
        else:
            if note:
                notes.append(note)
    if missing and len(missing) == len(parts):
        raise NotStarted(_joined_reasons(missing))
    if missing:
        done = ', '.join(name for name, _ in parts if name not in dict(missing))
        raise PartlyDone(f"{_joined_reasons(missing)}; {done} pass")
    return '; '.join(notes) or None


def _joined_reasons(missing):
    """The reasons, each once: "there is no tanh" and "there is no exp" make one."""
    absent, reasons = [], []
    for _, reason in missing:
        text = str(reason)
        if text.startswith('there is no '):
            absent += [n for n in text[len('there is no '):].split(' or ') if n not in absent]
        elif text not in reasons:
            reasons.append(text)
    if len(reasons) > 1:  # a few words: the first stub, and how many more
        reasons = [f"{reasons[0]} (and {len(reasons) - 1} more like it)"]
    if absent:
        names = ', '.join(absent[:-1]) + ' or ' + absent[-1] if len(absent) > 1 else absent[0]
        reasons.insert(0, f"there is no {names}")
    return '; '.join(reasons)


# ----------------------------------------------------------------------------------
# Numbers, as a person reads them


def num(x):
    """A number as a person writes it: 3.0, -0.125, 0.7615941559557649 as 0.761594156."""
    if isinstance(x, dict):  # a learner's non-number, as the worker saw it
        return x.get('repr', '?')
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        return repr(x)
    text = repr(float(x))
    if len(text) > 12:
        text = f"{float(x):.9g}"
    return text if any(c in text for c in '.en') else text + '.0'  # 2.0, not 2


def show(seen):
    """A learner's object as the worker saw it: a Value by data and grad, else by repr."""
    if isinstance(seen, dict) and 'data' in seen and 'grad' in seen:
        return f"Value(data={num(seen['data'])}, grad={num(seen['grad'])})"
    text = seen.get('repr', '?') if isinstance(seen, dict) else repr(seen)
    return text if len(text) <= 80 else text[:77] + '...'


def close(got, want, tolerance=1e-9):
    """|got - want| within `tolerance`, relative to |want| (absolute below 1)."""
    if isinstance(got, bool) or not isinstance(got, numbers.Real):
        return False
    if math.isnan(want):
        return math.isnan(got)
    return abs(got - want) <= tolerance * max(1.0, abs(want))


def pairs(rng, count):
    return [(round(rng.uniform(-3, 3), 2), round(rng.uniform(-3, 3), 2)) for _ in range(count)]


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

    def setup(self, leaves=None):
        leaves = leaves or self.leaves
        names = ', '.join(leaves)
        values = ', '.join(f"Value({float(x)!r})" for x in leaves.values())
        return f"{names} = {values}"

    def run(self, leaves=None):
        """tapegrad's namespace after running the lines."""
        env = {'Value': Reference}
        env.update({name: Reference(x) for name, x in (leaves or self.leaves).items()})
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
            return self.run({**self.leaves, leaf: x})[self.output].data
        x = self.leaves[leaf]
        return (output_at(x + h) - output_at(x - h)) / (2 * h)


def check_snippet(learner, snippet, hint=None, errors=None, tolerance=1e-7):
    """Compare the learner's output value, then every leaf's gradient, with tapegrad's.

    `hint(name, got, want, seen)` may return the likely mistake for a wrong gradient of
    leaf `name`, given what the learner's Values hold after backward() (`seen`: name ->
    {'data', 'grad'}); `errors` maps an exception type's name to its likely mistake.
    """
    setup = snippet.setup()
    names = list(snippet.leaves) + [line.split(' = ')[0] for line in snippet.lines]
    observe = '{' + ', '.join(f"{n!r}: see({n})" for n in dict.fromkeys(names)) + '}'
    forward = [setup] + snippet.lines
    mine = learner.run(forward, observe, shown=snippet.code(), hints=errors)
    ref = snippet.run()
    out, want = mine[snippet.output], ref[snippet.output]
    if not out['value']:
        raise Failed(f"{snippet.output} is {show(out)}, of type {out['type']}; expected a "
                     "Value", snippet.code())
    if not close(out.get('data'), want.data, 1e-9):
        raise Failed(f"{snippet.output}.data is {num(out.get('data'))}; expected "
                     f"{num(want.data)}", snippet.code())
    code = snippet.code(backward=True)
    mine = learner.run(forward + [f"{snippet.output}.backward()"], observe, shown=code,
                       hints=errors)
    want.backward()
    for name in snippet.leaves:
        got, expected = mine[name].get('grad'), ref[name].grad
        if not close(got, expected, tolerance):
            text = (f"After {snippet.output}.backward(), {name}.grad is {num(got)}; "
                    f"expected {num(expected)} (finite differences give "
                    f"{num(snippet.slope(name))})")
            raise Failed(text, code, hint(name, got, expected, mine) if hint else None)


# The forms of the lines of random snippets: {} is an earlier value, {n} a plain number,
# {k} an integer exponent.
VALUES_ONLY = ['{} + {}', '{} * {}']
ALL_OPS = VALUES_ONLY + ['{} + {n}', '{n} + {}', '{} * {n}', '{n} * {}', '-{}', '{} - {}',
                         '{n} - {}', '{} / {}', '{n} / {}', '{} / {n}', '{} ** {k}',
                         '{}.tanh()', '{}.relu()', '{}.exp()']


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
        result = Snippet(leaves, snippet.lines + [line]).run()[name].data
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
