"""Trace once, replay fast: a Value graph as a tape of instructions, replayed over arrays.

A training step builds the same graph every time: same ops, same wiring, new numbers.
`trace` records it once as a Tape, plain data you can print:

    >>> from tapegrad import Value
    >>> w, b = Value(0.5), Value(0.1)
    >>> tape = trace(lambda x: (b + w * x).relu(), [w, b], 2.0)
    >>> print(tape)
          0  param   p0
          1  param   p1
          2  input   x0
          3  *       0 2
          4  +       1 3
          5  relu    4
    loss: 5

Slots 0 and 1 hold the parameters w and b, slot 2 the data argument x; slot 3 is w * x,
and so on down to the loss. Replaying forward computes each slot from the slots it
names; backward walks the lines bottom up and adds each instruction's gradient into its
operands, exactly as the engine's backward() does. Passes rewrite the tape; fuse_dots
turns the chain `b + w * x` into one instruction:

    >>> print(fuse_dots(tape))
          0  param   p0
          1  param   p1
          2  input   x0
          3  dot     1 + 0*2
          4  relu    3
    loss: 4

`compile(fn, params)` does all of it and returns a function that replays the tape for
new data; `TapeStep` is fit()'s training step on the tape.

Modules: tape.py (the format), trace.py (Value graph -> Tape), passes.py (fusing dots,
grouping matvecs), replay.py (the NumPy replay, the reference), replay_numba.py (the
same as compiled loops), backend.py (which of the two runs), api.py (`compile`),
step.py (`TapeStep`, for fit()).
"""

from .api import CompiledFunction, compile, trace
from .backend import default_backend
from .passes import fuse_dots, group_matvecs, optimize
from .step import TapeStep
from .tape import Instruction, Tape
from .trace import DataArgument, DataDependentError, NotReplayable, TapeError

__all__ = ['trace', 'compile', 'CompiledFunction', 'TapeStep', 'Tape', 'Instruction', 'TapeError',
           'NotReplayable', 'DataDependentError', 'DataArgument', 'fuse_dots', 'group_matvecs', 'optimize',
           'default_backend']
