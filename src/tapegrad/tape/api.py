"""The tape for users: `compile` for your own loss function, `TapeStep` for fit().

Both trace once, optimise the tape, and replay it at every call with the parameters'
current `.data`, leaving gradients in their `.grad` as the eager engine would.
"""

import math
import numbers
import operator

import numpy as np

from ..engine import Value
from . import batching
from .backend import Backend
from .passes import optimize
from .trace import (DataArgument, TapeError, collector_paused, differs_between_calls, same_tape,
                    tape_of, traced)

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
    _write(params, None, pgrad)


# ----------------------------------------------------------------------------------
# Data arguments: numbers or nested lists of numbers, flattened for the tape's inputs


def _flatten(data):
    """(shape, a flat array of its floats) of a number or a nested list of numbers."""
    if isinstance(data, numbers.Real):
        return (), np.array([float(data)])
    if isinstance(data, (list, tuple, np.ndarray)):
        try:
            array = np.asarray(data, dtype=float)
            return array.shape, array.ravel()
        except (TypeError, ValueError):  # ragged, or not numbers: walk it
            parts = [_flatten(item) for item in data]
            return (tuple(shape for shape, _ in parts),
                    np.concatenate([flat for _, flat in parts]) if parts else np.zeros(0))
    raise TapeError(f"data arguments must be numbers or (nested) lists of numbers; "
                    f"got {type(data).__name__}: {data!r}")


def _flat(parts):
    """All the data arguments' floats in one array, from their _flatten()s."""
    if len(parts) == 1:
        return parts[0][1]
    flat = np.concatenate([flat for _, flat in parts]) if parts else np.zeros(0)
    flat.flags.writeable = False  # (kept for the next call, as the parts are)
    return flat


def _sign(number):
    return math.copysign(1.0, number)


def _write(params, pvals, pgrad):
    """Each parameter's .data and .grad from the arrays (pvals None: only .grad)."""
    if pvals is None:
        for p, g in zip(params, pgrad.tolist()):
            p.grad = g
    else:
        for p, v, g in zip(params, pvals.tolist(), pgrad.tolist()):
            p.data, p.grad = v, g


def _snapshot(data, flat):
    """A copy of the list `data` (flattened to `flat`) that tells, by ==, whether a later
    call's list still holds the same numbers, so that it need not be converted again (a
    loop passes the same X at every call); None where == could not tell: anything but a
    list or tuple of ints and floats, or of such lists and tuples, and any zero (0.0 ==
    -0.0, but they are different numbers to the tape)."""
    if type(data) not in (list, tuple) or not flat.all():
        return None
    copy = []
    for item in data:
        if type(item) in (list, tuple) and all(type(v) in (float, int) for v in item):
            copy.append(list(item) if type(item) is list else item)
        elif type(item) in (float, int):
            copy.append(item)
        else:
            return None
    return copy if type(data) is list else tuple(copy)


def _same(data, snapshot):
    """data == snapshot, False where == cannot say (NumPy arrays in the list compare
    number by number, and refuse to be one bool)."""
    try:
        return bool(data == snapshot)
    except (ValueError, TypeError):
        return False


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
    return _trace(fn, _check_params(params), data, _flat([_flatten(d) for d in data]))[0]


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
    inputs = [DataArgument(x) for x in np.asarray(flat).tolist()]
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


def compile(fn, params, *, optimizer=None, backend=None):
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

    With an `optimizer` (SGD, Adam, ... built on the same params), a call is a whole
    training step, as `zero_grad(); loss.backward(); optimizer.step()`: the gradient is
    computed afresh, the optimizer updates the parameters on arrays in the same compiled
    call (the same bits as its step()), and the Values' .data and .grad and the
    optimizer's state hold the new numbers when it returns. A loss or gradient that is
    not finite raises FloatingPointError, and the parameters keep their numbers.

    A loss over a batch, such as `hinge([model(x) for x in X], y)`, is traced as one
    copy of the model's graph a sample; where the copies are the same instructions in
    the eager engine's order (batching.py), one of them replays over the whole batch.

    `backend`: 'numba', 'numpy', or None for numba's compiled loops where numba is
    installed, replaying with NumPy until they are compiled (see backend.py).

        >>> from tapegrad import Value
        >>> w = Value(2.0)
        >>> step = compile(lambda x, y: (w * x - y) ** 2, [w])
        >>> step(3.0, 5.0), w.grad          # (2*3 - 5)^2, 2 (w x - y) x
        (1.0, 6.0)
    """
    return CompiledFunction(fn, params, backend, optimizer)


class CompiledFunction:
    """What `compile` returns; `tape(*data)` shows the tape it replays for such data."""

    def __init__(self, fn, params, backend=None, optimizer=None):
        self.fn, self.params = fn, _check_params(params)
        from .training import holds_all
        if optimizer is not None and not holds_all(optimizer, self.params):
            raise ValueError("compile: the optimizer must be built on the same parameters, in "
                             "the same order, as compile's params (both model.parameters())")
        self.optimizer = optimizer
        self.backend = Backend(backend)
        self._runs = {}  # shapes of the data -> how calls with such data run (_AsTraced, ...)
        self._raw = {}   # shapes of the data -> (the tape as traced, the data it was traced on)
        self._seen = {}  # argument's position -> (_snapshot of its last list, its _flatten)
        self._last = [None], None  # the last call's _flatten()s, and their _flat()

    def __call__(self, *data):
        run, flat = self._run_for(data)
        if self.optimizer is None:
            pvals = _read(self.params)
            pgrad = np.array([p.grad for p in self.params], dtype=float)
            outputs = run(flat, pvals, pgrad)
            _write(self.params, None, pgrad)
            return outputs
        return self._train(run, flat)

    def _train(self, run, flat):
        """A training step: forward, backward, and the optimizer's update of the parameters."""
        from . import training
        # the parameters' numbers: the array the last step wrote them from, if they still
        # hold them all (== between floats, and the signs of the zeros, as 0.0 == -0.0)
        numbers, (wrote, pvals, zeros) = ([p.data for p in self.params],
                                          self.__dict__.pop('_wrote', (None, None, ())))
        if numbers != wrote or any(_sign(numbers[i]) != _sign(wrote[i]) for i in zeros):
            pvals = np.array(numbers, dtype=float)
        update = training.Update(self.optimizer, len(self.params))  # (its state, as it is now)
        pgrad = np.zeros(len(self.params))
        hyper = update.begin()
        try:
            result, problem = run.train(flat, pvals, pgrad, update, hyper,
                                        compiled=self.backend.active == 'numba')
        except BaseException:
            update.end(False)
            raise
        update.end(problem is None)
        if problem is not None:
            value = result[0] if isinstance(result, tuple) else result
            what = (f"the loss is {value}" if problem == -1 else
                    f"the gradient of parameter {problem} is {pgrad[problem]}")
            _write(self.params, None, pgrad)
            raise FloatingPointError(f"{what} (not finite): the optimizer did not update the "
                                     f"parameters. A smaller learning rate usually helps")
        if update.kind == training.PYTHON:  # an optimizer of the user's own: its own step()
            _write(self.params, None, pgrad)
            self.optimizer.step()
            return result
        numbers = pvals.tolist()
        for p, number, g in zip(self.params, numbers, pgrad.tolist()):
            p.data, p.grad = number, g
        self._wrote = numbers, pvals, () if pvals.all() else np.flatnonzero(pvals == 0).tolist()
        update.publish()
        return result

    def tape(self, *data):
        """The (optimised) tape of fn for data shaped like `data`, as one tape."""
        self._run_for(data)
        return optimize(self._raw[tuple(_flatten(d)[0] for d in data)][0])

    def run_arrays(self, pvals, pgrad, *data):
        """A call on arrays: the parameters' numbers from pvals, their gradients added into
        pgrad; the Values are neither read nor written."""
        run, flat = self._run_for(data)
        return run(flat, pvals, pgrad)

    def _run_for(self, data):
        """(how calls with data shaped like `data` run, the flat data), tracing on a new shape."""
        if self.backend.upgraded():  # numba's loops are ready: replay with them from now on
            for run in self._runs.values():
                run.rebuild(self.backend)
        parts = [self._flatten(i, d) for i, d in enumerate(data)]
        shapes = tuple(shape for shape, _ in parts)
        last_parts, flat = self._last
        if len(parts) != len(last_parts) or not all(map(operator.is_, parts, last_parts)):
            flat = _flat(parts)  # (else: the same arrays as at the last call)
            self._last = parts, flat
        if shapes not in self._runs:
            with collector_paused():
                tape, template = _trace(self.fn, self.params, data, flat)
                found = batching.split(tape, batching.samples_of_inputs(shapes, tape.n_inputs)) \
                    if template is None else None
                self._runs[shapes] = (_InBatches(found, self.backend) if found is not None
                                      else _AsTraced(optimize(tape), template, self.backend))
            self._raw[shapes] = tape, data, flat
            batch = len(found.sample_inputs) if found is not None else 1
            if self.backend.traced(len(self.params) * batch):  # (a big one: on numba's loops)
                for run in self._runs.values():
                    run.rebuild(self.backend)
        return self._runs[shapes], flat

    def _flatten(self, position, data):
        """_flatten(data), or its result at the last call if `data` is a list with the same
        numbers (most loops pass the same lists at every call)."""
        seen = self._seen.get(position)
        if seen is not None and type(data) is type(seen[0]) and _same(data, seen[0]):
            return seen[1]
        part = _flatten(data)
        part[1].flags.writeable = False  # (kept for the next call: nothing may change it)
        snapshot = _snapshot(data, part[1])
        if snapshot is not None:
            self._seen[position] = snapshot, part
        return part

    def refresh(self):
        """Trace fn again for every shape of data seen so far; where the graph or its
        constants changed (a Python number fn reads was changed), replay the new one from
        the next call. True if anything changed."""
        changed = False
        for shapes, (tape, data, flat) in list(self._raw.items()):
            if not same_tape(tape, _trace(self.fn, self.params, data, flat, twice=False)[0]):
                del self._runs[shapes], self._raw[shapes]
                changed = True
        return changed

    def to_torch(self):
        """This loss as a function over PyTorch tensors, `loss = f(params_tensor, *data)`,
        its tape lowered to batched tensor ops: see tapegrad.interop.TorchLoss."""
        from ..interop import TorchLoss  # PyTorch only for those who ask for it
        return TorchLoss(self)


class _AsTraced:
    """Calls replay the tape as traced: one sample, every instruction of the batch."""

    def __init__(self, tape, template, backend):
        self.template, self.replay = template, backend.replay(tape, 1)

    def rebuild(self, backend):
        self.replay = backend.replay(self.replay.tape, 1)

    def __call__(self, flat, pvals, pgrad):
        replay, template = self.replay, self.template
        replay.values[replay.inputs, 0] = flat
        replay.forward(pvals)
        _seed(replay, pgrad)
        replay.backward(pvals, pgrad, ONE_SAMPLE)
        outputs = [_value(replay, pvals, s) for s in replay.tape.outputs]
        if template is None:
            return outputs[0]
        return (outputs[0], *_nest(template, iter(outputs[1:])))

    def train(self, flat, pvals, pgrad, update, hyper, compiled):
        """(what a call returns: the loss, or the loss and the extra outputs; None, or
        what was not finite)."""
        from . import training
        result = self(flat, pvals, pgrad)
        value = result[0] if isinstance(result, tuple) else result
        return result, training.update_unless_not_finite(value, pvals, pgrad, update, hyper,
                                                         compiled)


class _InBatches:
    """Calls replay one sample's tape over the batch, and the loss's over its outputs
    (batching.split found the samples in the traced tape)."""

    def __init__(self, found, backend):
        from .step import _Batched
        self.found = found
        batch = len(found.sample_inputs)
        self.plan = _Batched(backend, found.sample_tape, found.loss_tape, found.n_out,
                             tuple(range(found.n_out)), found.order, batch)
        self._for = self._parts = None  # the last call's flat data, and _split of it

    def rebuild(self, backend):
        self.plan.rebuild(backend)

    def __call__(self, flat, pvals, pgrad):
        value, _ = self.plan.forward_backward(*self._split(flat), pvals, pgrad, accumulate=True)
        return value

    def train(self, flat, pvals, pgrad, update, hyper, compiled):
        value, _, problem = self.plan.train(None, *self._split(flat), pvals, pgrad, update,
                                            hyper)
        return value, problem

    def _split(self, flat):
        """(the samples' inputs, the loss's): the last call's, for the same array."""
        if self._for is not flat:
            self._for, self._parts = flat, (flat[self.found.sample_inputs],
                                            flat[self.found.loss_inputs])
        return self._parts


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
