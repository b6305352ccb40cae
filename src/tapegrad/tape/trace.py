"""Tracing: run a function once on placeholder Values and write down the graph it built.

The function runs on the eager engine as usual; its data arguments are `DataArgument`
placeholders (Values that refuse to be compared or converted to numbers). Meanwhile
`watching()` notes which Values the function made and whether it read `.data`: a Python
`if` on `.data` is invisible in the graph, so a tape of it would silently replay the
branch taken while tracing. `tape_of` then lists the graph as a Tape.
"""

import sys
import threading
from contextlib import contextmanager

from .. import engine
from ..engine import Value, topological_order
from .tape import ENGINE_OPS, Instruction, Tape


class TapeError(RuntimeError):
    """A function cannot be traced into a tape, or a call does not fit its tape."""


class DataDependentError(TapeError):
    """The traced function used the numbers themselves (a comparison, float(), .data)."""


class DataArgument(Value):
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


class _Watch:
    """What a traced function did besides building its graph."""

    def __init__(self):
        self.created = set()  # ids of the Values made while tracing: constants, not inputs
        self.touched = []     # (Value, 'file:line') where the function read or set .data


@contextmanager
def watching():
    """Record, while the body runs, which Values are made and who reads or sets `.data`.

    `Value.data` is swapped for a property for the duration: the engine's own reads (in
    its ops) pass through, reads from anywhere else are noted with their source line.
    """
    slot = Value.__dict__['data']
    engine_globals = vars(engine)
    thread = threading.get_ident()
    watch = _Watch()

    def note(value):
        frame = sys._getframe(2)
        if frame.f_globals is engine_globals:
            return True
        watch.touched.append((value, f"{frame.f_code.co_filename}:{frame.f_lineno}"))
        return False

    def get(value):
        if threading.get_ident() == thread:
            note(value)
        return slot.__get__(value)

    def set_(value, number):
        if threading.get_ident() == thread and note(value):
            watch.created.add(id(value))  # the engine sets .data only in Value.__init__
        slot.__set__(value, number)

    Value.data = property(get, set_)
    try:
        yield watch
    finally:
        Value.data = slot


def check_untouched(watch, variables):
    """Raise if the traced function read or set `.data` of a Value that depends on `variables`.

    `variables` are the ids of the leaves whose numbers change between calls (parameters
    and data arguments); reading a constant's `.data` is harmless.
    """
    for value, where in watch.touched:
        if any(id(v) in variables or (not v._prev and id(v) not in watch.created)
               for v in topological_order(value)):
            raise DataDependentError(
                f"the traced function reads or sets .data of a Value computed from the data "
                f"or the parameters (at {where}); a Python branch on it would be frozen into "
                f"the tape and replayed wrongly for other numbers. Use Value ops instead "
                f"(relu rather than `if v.data > 0`), return the Value as an extra output and "
                f"read the float it gives back, or call the function eagerly")


def tape_of(outputs, params, inputs, created, grad_inputs=frozenset(), n_differentiated=1):
    """The Tape of the graph that computes `outputs` (Values; the first one is the loss).

    `params` and `inputs` become the param and input slots, in their order; every other
    leaf must be a constant the traced function made itself (`created` holds their ids).
    A node computed from constants alone is the same number at every call: it becomes a
    constant too. Backward runs through the graphs of the first `n_differentiated` outputs.
    """
    root = Value(0.0, outputs)  # one root over all outputs: their graphs in turn, in order
    order = topological_order(root)[:-1]
    position = {id(v): i for i, v in enumerate(order)}
    n_backward = max(position[id(v)] for v in outputs[:n_differentiated]) + 1

    instructions, slot_of = [], {}

    def add(op, value, args=(), arg=None):
        slot_of[id(value)] = len(instructions)
        instructions.append(Instruction(op, (len(instructions),), args, arg))

    for i, p in enumerate(params):
        if id(p) in slot_of:
            raise TapeError(f"params holds the same Value twice, at {slot_of[id(p)]} and {i}: "
                            f"{p!r}; list each parameter once")
        if p._prev:
            raise TapeError(f"parameter {i} is not a leaf but the result of a '{p._op}' op: "
                            f"{p!r}; parameters must be Values you created, like a model's weights")
        add('param', p, arg=i)
    variable = {id(v) for v in params + list(inputs)}  # and all that is computed from them
    computed, constants = [], []
    for v in order:
        if not v._prev and id(v) not in variable and id(v) not in created:
            raise TapeError(f"the graph uses a Value that is neither in params nor made by "
                            f"the traced function: {v!r}; add it to params (its .data is "
                            f"then read at each call and its .grad filled)")
        if v._prev and any(id(c) in variable for c in v._prev):
            variable.add(id(v))
            computed.append(v)
        elif id(v) not in variable:  # made from constants alone: a constant itself
            constants.append(v)
    read = {id(c) for v in computed for c in v._prev} | {id(v) for v in outputs}
    for v in constants:
        if id(v) in read:
            add('const', v, arg=v.data)
    computed_ids = {id(v) for v in computed}
    for i, v in enumerate(inputs):
        add('input', v, arg=i)
    n_leaves = len(instructions)
    for v in computed:
        if v._op not in ENGINE_OPS:
            raise TapeError(f"the graph has an op the tape does not know: {v._op!r} "
                            f"in {v!r}; known ops: {', '.join(ENGINE_OPS)}")
        add(v._op, v, tuple(slot_of[id(c)] for c in v._prev), v._arg)
    backward_end = n_leaves + sum(1 for v in order[:n_backward] if id(v) in computed_ids)
    return Tape(instructions, [slot_of[id(v)] for v in outputs], backward_end,
                frozenset(grad_inputs))
