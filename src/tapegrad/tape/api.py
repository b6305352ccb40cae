"""The tape for users: `compile` for your own loss function, `TapeStep` for fit().

Both trace once, optimise the tape, and replay it at every call with the parameters'
current `.data`, leaving gradients in their `.grad` as the eager engine would.
"""

import numbers

import numpy as np

from ..engine import Value
from .backend import Backend
from .passes import optimize
from .trace import DataArgument, TapeError, differs_between_calls, same_tape, tape_of, traced

ONE_SAMPLE = np.zeros(1, dtype=np.int64)


def _check_params(params):
    params = list(params)
    for i, p in enumerate(params):
        if not isinstance(p, Value):
            raise TypeError(f"params must be Values; item {i} is a {type(p).__name__}: {p!r}")
    return params


def _read(params):
    """The parameters' current .data as an array."""
    return np.array([p.data for p in params], dtype=float)


def _write_grads(params, pgrad):
    for p, g in zip(params, pgrad.tolist()):
        p.grad = g


# ----------------------------------------------------------------------------------
# Data arguments: numbers or nested lists of numbers, flattened for the tape's inputs


def _flatten(data):
    """(shape, flat list of floats) of a number or a nested list of numbers."""
    if isinstance(data, numbers.Real):
        return (), [float(data)]
    if isinstance(data, (list, tuple, np.ndarray)):
        try:
            array = np.asarray(data, dtype=float)
            return array.shape, array.ravel().tolist()
        except (TypeError, ValueError):  # ragged, or not numbers: walk it
            parts = [_flatten(item) for item in data]
            return tuple(shape for shape, _ in parts), [x for _, flat in parts for x in flat]
    raise TapeError(f"data arguments must be numbers or (nested) lists of numbers; "
                    f"got {type(data).__name__}: {data!r}")


def _placeholders(data, inputs):
    """`data` with each number replaced by the next DataArgument from the iterator `inputs`."""
    if isinstance(data, (list, tuple, np.ndarray)):
        return [_placeholders(item, inputs) for item in data]
    return next(inputs)


def _values_in(result, what):
    """(template, Values) of a Value or a nested list of Values; numbers are refused."""
    if isinstance(result, Value):
        return None, [result]
    if isinstance(result, (list, tuple)):
        parts = [_values_in(item, what) for item in result]
        return [t for t, _ in parts], [v for _, vs in parts for v in vs]
    raise TapeError(f"{what} must be a Value or a list of Values, got "
                    f"{type(result).__name__}: {result!r}")


def _nest(template, items):
    """The next items of the iterator `items`, in the nesting of `template` (from _values_in)."""
    if template is None:
        return next(items)
    return [_nest(t, items) for t in template]


# ----------------------------------------------------------------------------------
# trace and compile


def trace(fn, params, *data):
    """The tape of `fn(*data)` as traced (no passes run): see `compile` for what fn may be."""
    parts = [_flatten(d) for d in data]
    return _trace(fn, _check_params(params), data, [x for _, f in parts for x in f])[0]


def _trace(fn, params, data, flat, twice=True):
    """(tape, template of the extra outputs, or None if fn returns only the loss).

    fn is traced twice and the tapes compared, constants bit for bit: a function that
    builds a different graph at each call (a random draw, a counter) cannot be replayed.
    """
    first = _trace_once(fn, params, data, flat)
    if twice and not same_tape(first[0], _trace_once(fn, params, data, flat)[0]):
        raise differs_between_calls(getattr(fn, '__name__', 'the traced function'))
    return first


def _trace_once(fn, params, data, flat):
    inputs = [DataArgument(x) for x in flat]
    placeholders = _placeholders(data, iter(inputs))
    with traced(params, inputs) as recorder:
        result = fn(*placeholders)
    loss, extras = (result[0], result[1:]) if isinstance(result, tuple) else (result, ())
    if not isinstance(loss, Value):
        raise TypeError(f"fn must return a Value (the loss) or a tuple (loss, ...); "
                        f"got {type(loss).__name__}: {loss!r}")
    template, values = _values_in(list(extras), 'extra outputs of fn')
    tape = tape_of([loss] + values, params, inputs, recorder.made)
    return tape, template if isinstance(result, tuple) else None


def compile(fn, params, *, backend=None):
    """fn's forward and backward as a tape: a callable that runs them for new data.

    `fn(*data)` takes numbers or nested lists of numbers and returns a loss Value built
    from `params`, or a tuple (loss, extra outputs...) with Values or lists of Values.
    The returned callable takes data of the same kind, reads each parameter's current
    `.data`, computes the loss, adds its gradient into each parameter's `.grad` (leaves
    accumulate, as with loss.backward(): zero them yourself) and returns the loss as a
    float, or a tuple with the extra outputs as floats.

    fn is traced once per shape of the data (twice, to check that two calls build the
    same graph). It must compute with Value ops only: if it reads `.data`, compares a
    data argument or turns one into a number (the ways Python code can choose ops by the
    numbers), tracing raises DataDependentError rather than replay the branch it saw for
    other data; if it draws random numbers, or builds a different graph at each call,
    NotReplayable. As with jax.jit, any other Python number fn reads (a loss weight, a
    setting) is frozen into the tape when it is traced: after changing one, call
    `refresh()`.

    `backend`: 'numba', 'numpy', or None for numba's compiled loops where numba is
    installed, replaying with NumPy until they are compiled (see backend.py).

        >>> from tapegrad import Value
        >>> w = Value(2.0)
        >>> step = compile(lambda x, y: (w * x - y) ** 2, [w])
        >>> step(3.0, 5.0), w.grad          # (2*3 - 5)^2, 2 (w x - y) x
        (1.0, 6.0)
    """
    return CompiledFunction(fn, params, backend)


class CompiledFunction:
    """What `compile` returns; `tape(*data)` shows the tape it replays for such data."""

    def __init__(self, fn, params, backend=None):
        self.fn, self.params = fn, _check_params(params)
        self.backend = Backend(backend)
        self._traced = {}  # shapes of the data -> (replay, template of the extra outputs)
        self._raw = {}     # shapes of the data -> (the tape as traced, the data it was traced on)

    def __call__(self, *data):
        (replay, template), flat = self._traced_for(data)
        return self._run(replay, template, flat)

    def tape(self, *data):
        """The (optimised) tape that calls with data shaped like `data` replay."""
        return self._traced_for(data)[0][0].tape

    def _traced_for(self, data):
        """((replay, template of the extra outputs), flat data), tracing on a new shape."""
        if self.backend.upgraded():  # numba's loops are ready: replay with them from now on
            for shapes, (replay, template) in self._traced.items():
                self._traced[shapes] = self.backend.replay(replay.tape, 1), template
        parts = [_flatten(d) for d in data]
        shapes = tuple(shape for shape, _ in parts)
        flat = [x for _, f in parts for x in f]
        if shapes not in self._traced:
            tape, template = _trace(self.fn, self.params, data, flat)
            self._traced[shapes] = self.backend.replay(optimize(tape), 1), template
            self._raw[shapes] = tape, data, flat
        return self._traced[shapes], flat

    def refresh(self):
        """Trace fn again for every shape of data seen so far; where the graph or its
        constants changed (a Python number fn reads was changed), replay the new one from
        the next call. True if anything changed."""
        changed = False
        for shapes, (tape, data, flat) in list(self._raw.items()):
            if not same_tape(tape, _trace(self.fn, self.params, data, flat, twice=False)[0]):
                del self._traced[shapes], self._raw[shapes]
                changed = True
        return changed

    def _run(self, replay, template, flat):
        pvals = _read(self.params)
        pgrad = np.array([p.grad for p in self.params], dtype=float)
        outputs = self._replay(replay, template, flat, pvals, pgrad)
        _write_grads(self.params, pgrad)
        return outputs

    def run_arrays(self, pvals, pgrad, *data):
        """A call on arrays: the parameters' numbers from pvals, their gradients added into
        pgrad; the Values are neither read nor written."""
        (replay, template), flat = self._traced_for(data)
        return self._replay(replay, template, flat, pvals, pgrad)

    @staticmethod
    def _replay(replay, template, flat, pvals, pgrad):
        replay.values[replay.inputs, 0] = flat
        replay.forward(pvals)
        _seed(replay, pgrad)
        replay.backward(pvals, pgrad, ONE_SAMPLE)
        outputs = [_value(replay, pvals, s) for s in replay.tape.outputs]
        if template is None:
            return outputs[0]
        return (outputs[0], *_nest(template, iter(outputs[1:])))

    def to_torch(self):
        """This loss as a function over PyTorch tensors, `loss = f(params_tensor, *data)`,
        its tape lowered to batched tensor ops: see tapegrad.interop.TorchLoss."""
        from ..interop import TorchLoss  # PyTorch only for those who ask for it
        return TorchLoss(self)


def _seed(replay, pgrad):
    """Zero a one-sample replay's gradients and start backward at the loss: d loss/d loss = 1."""
    replay.grads[:] = 0.0
    loss = replay.tape.outputs[0]
    if loss < replay.n_params:  # the loss is a parameter itself: a leaf accumulates
        pgrad[loss] += 1.0
    else:
        replay.grad_row(loss)[0] = 1.0


def _value(replay, pvals, slot):
    """A slot's value in a one-sample replay, as a float."""
    return float(pvals[slot] if slot < replay.n_params else replay.row(slot)[0])
