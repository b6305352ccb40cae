"""Anomaly detection: stop at the first op whose value or gradient is not finite.

    >>> from tapegrad import Value
    >>> from tapegrad.anomaly import detect_anomaly
    >>> x = Value(0.0, label='x')
    >>> with detect_anomaly():  # doctest: +ELLIPSIS
    ...     y = x.log()
    Traceback (most recent call last):
    ...
    tapegrad.anomaly.AnomalyError: 'log' of [x=0.0] gave -inf
      at <doctest ...>:2
          y = x.log()

Without it the engine follows IEEE-754 as PyTorch does: log(0) is -inf, 0/0 is nan, and
a nan spreads quietly through everything computed from it, so by the time a loss reads
nan the op that made it is long gone. Inside `with detect_anomaly():`

- forward: every op checks its inputs and its result. The first op whose result is inf or
  nan raises AnomalyError naming the op, its inputs (values and labels) and the line of
  your code that ran it. An op with a non-finite input raises too: that input was made
  outside the checked ops (a leaf created non-finite, a `.data` set by hand, or a value
  made before the `with`).
- backward: after each node's rule has run, an input whose `.grad` turned non-finite
  raises, naming the node's op and label, its inputs and gradient, and the line of your
  code that created the node, for example the slope of x ** 0.5 at x = 0.

How: the engine stays plain. `detect_anomaly()` registers a checker with the engine's
`watching` hook for the current thread: the engine tells it of every Value made and of
every backward rule it applies, and it raises at the first one that is not finite.
Other threads are not checked and not affected.

Cost and limits:
- Each op gets several times slower (it walks the call stack to find your line; a training
  step of a small MLP takes about 5 times as long); outside the `with` nothing changes.
  Switch it on to find a problem, then off again.
- The line where each node was made is kept, with the node alive, until the outermost
  `with` exits, so wrap one training step (as `fit(..., detect_anomaly=True)` does) rather
  than a whole run of them.
- Only work done inside the `with`, in its thread, is checked: run the forward pass and
  backward() in it. The creation line is known only for nodes made inside it. Only the
  eager engine is checked: the tape replays its own arrays, not Values.
"""

import linecache
import math
import os
import sys
import threading
from contextlib import contextmanager

from . import engine
from .engine import OPS, watching


class AnomalyError(FloatingPointError):
    """An op gave, or met, a value or gradient that is not finite.

    A FloatingPointError (an ArithmeticError) because it is arithmetic leaving the finite
    numbers, not a bad argument: NumPy raises the same class under
    `np.errstate(all='raise')`, so one `except FloatingPointError` catches both.
    """


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
_HIDDEN_FILES = (os.path.abspath(engine.__file__), os.path.abspath(__file__))  # never shown
_open = threading.local()  # .checker: the outermost `with`'s checker in this thread


@contextmanager
def detect_anomaly():
    """Raise AnomalyError at the first op whose value or gradient is inf or nan."""
    if getattr(_open, 'checker', None) is not None:  # nested: the outer one checks
        yield
        return
    _open.checker = _Checker()
    try:
        with watching(_open.checker):
            yield
    finally:
        _open.checker = None


class _Checker:
    """The watcher (see engine.watching) that checks each new value and each backward rule."""

    def __init__(self):
        self.created_at = {}  # node -> where it was created, for nodes made inside the `with`

    def created(self, out):
        if not out._prev:  # a leaf: checked where an op uses it
            return
        site = _user_site()
        inputs = [x.data for x in out._prev] + ([out._arg] if OPS[out._op].takes_number else [])
        if not all(map(math.isfinite, inputs)):
            raise AnomalyError(f"{_describe(out)} has a non-finite input; it was made outside "
                               f"the checked ops (a leaf created non-finite, a .data set by "
                               f"hand, or a value made before the with)\n{_format(site)}")
        if not math.isfinite(out.data):
            raise AnomalyError(f"{_describe(out)} gave {out.data!r}\n{_format(site)}")
        self.created_at[out] = site

    def rule_applied(self, out, before):
        for i, (x, grad) in enumerate(zip(out._prev, before)):
            if math.isfinite(grad) and not math.isfinite(x.grad):
                where = (_format(self.created_at[out]) if out in self.created_at
                         else '  outside detect_anomaly(): no line recorded')
                label = f" (label {out.label!r})" if out.label else ''
                raise AnomalyError(
                    f"backward of {_describe(out)}{label} gave input {i} the gradient "
                    f"{x.grad!r}; the op's value is {out.data!r}, its gradient {out.grad!r}; "
                    f"the op was made\n{where}")


# ----------------------------------------------------------------------------------
# Messages


def _describe(out):
    """The op and its inputs, such as "'log' of [x=0.0]"."""
    inputs = [f"{x.label}={x.data!r}" if x.label else repr(x.data) for x in out._prev]
    op = f"'{OPS[out._op].shown(out._arg)}'"
    return f"{op} of [{', '.join(inputs)}]"


def _user_site():
    """[(file, line, function), ...] from the op's caller out to the first frame outside tapegrad.

    Frames in the engine and in this module, and comprehensions, are left out; other
    tapegrad functions (nn, losses, train) stay, to show the way from your line to the op.
    """
    site = []
    frame = sys._getframe(1)
    while frame is not None:
        code = frame.f_code
        outside = not code.co_filename.startswith(_PACKAGE_DIR + os.sep)
        if outside or (code.co_filename not in _HIDDEN_FILES and not code.co_name.startswith('<')):
            site.append((code.co_filename, frame.f_lineno, code.co_qualname))
        if outside:
            break
        frame = frame.f_back
    return site


def _format(site):
    """The user's line of a site, with its source, and the tapegrad functions on the way."""
    if not site:
        return '  (no caller outside tapegrad)'
    filename, line, _ = site[-1]
    text = f"  at {filename}:{line}"
    source = linecache.getline(filename, line).strip()
    if source:
        text += f"\n      {source}"
    library = os.path.dirname(_PACKAGE_DIR)
    way = [f"{os.path.relpath(file, library)}:{n} ({function})"
           for file, n, function in reversed(site[:-1])]
    if way:
        text += '\n  through ' + ', '.join(way)
    return text
