"""Tracing: run a function once on placeholder Values and write down the graph it built.

The function runs on the eager engine as usual; its data arguments are `DataArgument`
placeholders (Values that refuse to be compared or converted to numbers). Meanwhile a
`Recorder`, registered with the engine's `watching` hook for this thread only, notes
which Values the function made and where it read or set `.data`: a Python `if` on
`.data` is invisible in the graph, so a tape of it would silently replay the branch
taken while tracing. `tape_of` then lists the graph as a Tape.

A tape also freezes every number the function computes from anything other than its
parameters and data: a random draw, or a Python number that changes from call to call.
`traced` catches both: it refuses a function that draws from Python's or NumPy's global
random generator, and the callers trace twice and compare (`same_tape`).
"""

import gc
import random
import struct
import sys
from contextlib import contextmanager

from ..engine import OPS, Value, WatchedValue, topological_order, watching
from .tape import Instruction, Tape, make


class TapeError(RuntimeError):
    """A function cannot be traced into a tape, or a call does not fit its tape."""


class NotReplayable(TapeError):
    """The function's graph or constants are not the same at every call, so no tape can
    stand for it: fit(engine='auto') trains such code on the eager engine instead."""


class DataDependentError(NotReplayable):
    """The traced function used the numbers themselves (a comparison, float(), .data)."""


class DataArgument(WatchedValue):
    """A data argument (one number) as the traced function sees it: a Value leaf.

    Arithmetic works as on any Value. Comparing it, testing its truth or turning it into
    a Python number raises DataDependentError: such code would choose ops by the data.
    """

    __slots__ = ()
    __hash__ = Value.__hash__

    def _refuse(self, *_):
        raise DataDependentError(
            "the traced function compares a data argument or turns it into a Python number; "
            "the tape would freeze the result of that test. Compute with Value ops instead "
            "(for example relu rather than `if x > 0`), or call the function eagerly")

    __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = __bool__ = _refuse
    __index__ = __int__ = __float__ = __abs__ = __round__ = _refuse

    def __rpow__(self, base):
        if isinstance(base, Value):  # v ** x: the engine takes a number exponent as a constant
            raise DataDependentError(
                "the traced function raises a Value to the power of a data argument; the "
                "engine treats a number exponent as a constant, which the tape cannot feed "
                "new data into. Pass the exponent as a parameter or compute it from Values")
        return Value.__pow__(Value(base), self)  # 2 ** x

    def __repr__(self):
        return f"DataArgument(data={self.data})"


class Recorder:
    """The tracer's watcher (see engine.watching): what a traced function did besides
    building its graph."""

    reads = True  # make the Values of this thread report reads and writes of .data

    def __init__(self):
        self.made = set()  # ids of the Values made while tracing: constants, not inputs
        self.touched = []  # (Value, 'file:line') where the function read or set .data

    def created(self, value):
        self.made.add(id(value))

    def read(self, value):
        frame = sys._getframe(3)  # past the engine's hook and the .data property
        self.touched.append((value, f"{frame.f_code.co_filename}:{frame.f_lineno}"))

    written = read


@contextmanager
def traced(params, variables=()):
    """Run the body as a traced function; yield its Recorder.

    Afterwards `check_untouched` has vetted what the body did with `.data` (parameters
    and `variables` are the Values whose numbers change between calls), and the global
    random generators are as they were before: a tape replays no random draws, so the
    body's draws are undone, and a body that drew any cannot be replayed.
    """
    states = _random_states()
    recorder = Recorder()
    try:
        with watching(recorder, values=params):
            yield recorder
    except TypeError as error:  # code written for numbers met a Value: `if t < 1`, math.exp(x)
        raise DataDependentError(
            f"tracing failed with TypeError: {error}. While tracing, the data are Values, not "
            f"numbers: code that compares them or turns them into numbers cannot become a tape. "
            f"Compute with Value ops, or call the function eagerly") from error
    finally:
        drew = _random_states() != states
        _restore_random_states(states)
    if drew:
        raise NotReplayable(
            "the traced function draws random numbers (Python's random or NumPy's "
            "np.random), so each call computes something different; a tape would replay "
            "the first call's draws every time. Call it eagerly")
    check_untouched(recorder, {id(v) for v in list(params) + list(variables)})


def _random_states():
    numpy = sys.modules.get('numpy')
    return (random.getstate(),
            _comparable(numpy.random.get_state()) if numpy is not None else None)


def _comparable(state):
    name, keys, pos, has_gauss, cached = state
    return name, keys.tobytes(), pos, has_gauss, cached


def _restore_random_states(states):
    random.setstate(states[0])
    numpy = sys.modules.get('numpy')
    if numpy is not None and states[1] is not None:
        name, keys, pos, has_gauss, cached = states[1]
        numpy.random.set_state((name, numpy.frombuffer(keys, dtype=numpy.uint32), pos,
                                has_gauss, cached))


def check_untouched(recorder, variables):
    """Raise if the traced function read or set `.data` of a Value that depends on `variables`.

    `variables` are the ids of the leaves whose numbers change between calls (parameters
    and data arguments); reading a constant's `.data` is harmless.
    """
    for value, where in recorder.touched:
        if any(id(v) in variables or (not v._prev and id(v) not in recorder.made)
               for v in topological_order(value)):
            raise DataDependentError(
                f"the traced function reads or sets .data of a Value computed from the data "
                f"or the parameters (at {where}); a Python branch on it would be frozen into "
                f"the tape and replayed wrongly for other numbers. Use Value ops instead "
                f"(relu rather than `if v.data > 0`), return the Value as an extra output and "
                f"read the float it gives back, or call the function eagerly")


def same_tape(first, second):
    """Do two traces of one function give the same tape, constants bit for bit?"""
    return _signature(first) == _signature(second)


def _signature(tape):
    def bits(arg):
        return struct.pack('<d', arg) if isinstance(arg, float) else arg
    return ([(i.op, i.out, i.args, bits(i.arg)) for i in tape.instructions],
            tape.outputs, tape.backward_end)


def differs_between_calls(what):
    return NotReplayable(
        f"{what} builds a different graph, or computes different constants, each time it "
        f"is called (a random draw, a counter, a number read from elsewhere), so a tape "
        f"of one call cannot stand for the next. Call it eagerly")


@contextmanager
def collector_paused():
    """Python's cycle collector off inside. The engine makes no reference cycles, and
    tracing or training a wide model makes millions of objects: the collector would walk
    them all again and again, for more time than the work itself, and free nothing."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def tape_of(outputs, params, inputs, made, grad_inputs=frozenset(), n_differentiated=1):
    """The Tape of the graph that computes `outputs` (Values; the first one is the loss).

    `params` and `inputs` become the param and input slots, in their order; every other
    leaf must be a constant the traced function made itself (`made` holds their ids).
    A node computed from constants alone is the same number at every call: it becomes a
    constant too. Backward runs through the graphs of the first `n_differentiated` outputs.

    (A wide layer's tape has hundreds of thousands of lines: the loops here do as little
    as they can per node.)
    """
    order = topological_order(*outputs)  # the outputs' graphs in turn, in the engine's order
    ends = set(outputs[:n_differentiated])  # (Values hash by identity: sets of the nodes)
    n_backward = len(order) - next(i for i, v in enumerate(reversed(order)) if v in ends)

    instructions, slot = [], {}
    for i, p in enumerate(params):
        if p in slot:
            raise TapeError(f"params holds the same Value twice, at {slot[p]} and {i}: "
                            f"{p!r}; list each parameter once")
        if p._a is not None:
            raise TapeError(f"parameter {i} is not a leaf but the result of a '{p._op}' op: "
                            f"{p!r}; parameters must be Values you created, like a model's weights")
        slot[p] = i
        instructions.append(Instruction('param', (i,), (), i))
    variable = set(slot).union(inputs)  # and all that is computed from them
    computed, constants, n_backward_computed = [], [], 0
    for position, v in enumerate(order):
        a, b = v._a, v._b
        if a is None:  # a leaf
            if v not in variable:
                if id(v) not in made:
                    raise NotReplayable(
                        f"the graph uses a Value that is neither in params nor made by the "
                        f"traced function: {v!r}; add it to params (its .data is then read "
                        f"at each call and its .grad filled)")
                constants.append(v)
        elif a in variable or (b is not None and b in variable):
            variable.add(v)
            computed.append(v)
            n_backward_computed += position < n_backward
        else:  # made from constants alone: a constant itself
            constants.append(v)
    if constants:
        read = set(outputs)
        for v in computed:
            read.add(v._a)
            read.add(v._b)
        for v in constants:
            if v in read:
                slot[v] = len(instructions)
                instructions.append(Instruction('const', (len(instructions),), (), v.data))
    for i, v in enumerate(inputs):
        slot[v] = len(instructions)
        instructions.append(Instruction('input', (len(instructions),), (), i))
    n_leaves = len(instructions)
    for v in computed:
        if v._op not in OPS:
            raise TapeError(f"the graph has an op the engine does not declare: {v._op!r} "
                            f"in {v!r}; known ops: {', '.join(OPS)} (see 'Adding an op' "
                            f"in the README)")
        n = len(instructions)
        b = v._b
        args = (slot[v._a],) if b is None else (slot[v._a], slot[b])
        slot[v] = n
        instructions.append(make(v._op, (n,), args, v._arg))
    return Tape(instructions, [slot[v] for v in outputs], n_leaves + n_backward_computed,
                frozenset(grad_inputs))
