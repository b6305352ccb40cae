"""The Tape: a traced graph as plain data, one instruction per line.

Every instruction writes the slot(s) named by `out` from the slots in `args`:

    op        args, arg                           writes
    param     (), the parameter's index           its value, read at every call
    input     (), the number's index in the data  a number from the data arguments
    const     (), the value                       a number fixed by the function itself
    + tanh .. (a,) or (a, b), the number it takes  the engine's op (any name in engine.OPS)
                                                  on its inputs; `arg` is the k of x ** k
    dot       (b, a0, x0, a1, x1, ...)            ((b + a0*x0) + a1*x1) + ...  [fuse_dots]
    matvec    (x..., W row by row, b...), (m, n)  m dots that read the same n x's, into
                                                  m slots in a row             [group_matvecs]

Leaves (param, const, input) come first, parameters in the order they were given, so
slot p holds parameter p. The rest is in the order of the eager engine's topological
sort, which is also the order in which backward() adds gradients: replaying the tape
backwards adds the same numbers in the same order and gets the same bits.
"""

from bisect import bisect_right
from dataclasses import dataclass
from typing import NamedTuple

from ..engine import OPS

LEAVES = ('param', 'input', 'const')


class Instruction(NamedTuple):
    """One line of a tape: `op` writes the slots in `out` from the slots in `args`.

    (A named tuple rather than a dataclass: a tape of a wide layer has hundreds of
    thousands of lines, and a tuple is several times quicker to make.)
    """

    op: str
    out: tuple
    args: tuple = ()
    arg: object = None  # param/input: an index; const: the value; x ** k: k; matvec: (m, n)

    def __str__(self):
        where = f"{self.out[0]}" if len(self.out) == 1 else f"{self.out[0]}:{self.out[-1] + 1}"
        return f"{where:>7}  {self.op:<8}{_describe(self)}"


def _describe(ins):
    op, args, arg = ins.op, ins.args, ins.arg
    if op == 'param':
        return f"p{arg}"
    if op == 'input':
        return f"x{arg}"
    if op == 'const':
        return repr(arg)
    if op == 'dot':
        terms = [f"{a}*{x}" for a, x in zip(args[1::2], args[2::2])]
        return ' + '.join([str(args[0])] + terms)
    if op == 'matvec':
        m, n = arg
        x, W, b = args[:n], args[n:n + n * m], args[n + n * m:]
        rows = ' '.join(_runs(W[j * n:(j + 1) * n]) for j in range(m))
        return f"{m}x{n}  x={_runs(x)}  W={_shorten(rows)}  b={_runs(b)}"
    takes_number = op in OPS and OPS[op].takes_number
    return ' '.join(map(str, args)) + (f"  k={arg!r}" if takes_number else '')


def _runs(slots):
    """Slots as ranges where they run on: (3, 4, 5, 9) -> '3:6,9'."""
    parts, i = [], 0
    while i < len(slots):
        j = i
        while j + 1 < len(slots) and slots[j + 1] == slots[j] + 1:
            j += 1
        parts.append(str(slots[i]) if j == i else f"{slots[i]}:{slots[j] + 1}")
        i = j + 1
    return _shorten(','.join(parts))


def _shorten(text, width=60):
    return text if len(text) <= width else text[:width - 3] + '...'


@dataclass
class Tape:
    """A traced graph: instructions, which slots are the outputs, how far backward goes.

    `outputs[0]` is the differentiated output (the loss); any other outputs are computed
    forward only. `backward_end`: instructions[:backward_end] are the loss's graph, in the
    eager engine's order; the rest only feed the other outputs. `grad_inputs` are the
    input indices whose gradients a caller reads (the predictions fed to a loss).
    `boundaries`: instruction indices that passes move nothing across (backward_end is
    always one), for a caller that replays the sections separately.
    """

    instructions: list
    outputs: list
    backward_end: int
    grad_inputs: frozenset = frozenset()
    boundaries: tuple = ()

    def __str__(self):
        lines = [str(ins) for ins in self.instructions]
        names = ['loss'] + [f"output {i}" for i in range(1, len(self.outputs))]
        lines += [f"{name}: {slot}" for name, slot in zip(names, self.outputs)]
        return '\n'.join(lines)

    @property
    def n_slots(self):
        return self.instructions[-1].out[-1] + 1 if self.instructions else 0

    def count(self, op):
        return sum(ins.op == op for ins in self.instructions)

    @property
    def n_params(self):
        return self.count('param')

    @property
    def n_inputs(self):
        return self.count('input')

    def section(self, i):
        """Which section instruction i lies in: how many boundaries are at or before it."""
        return bisect_right(sorted(self.boundaries + (self.backward_end,)), i)

    def needs_grad(self):
        """Per slot: does a gradient flow through it to a parameter or a grad input?

        Slots that only depend on data and constants never pass a gradient on to anything
        a caller reads, so the replay skips them (the engine computes them and drops them).
        """
        needs = [False] * self.n_slots
        for ins in self.instructions:
            if ins.op == 'param' or (ins.op == 'input' and ins.arg in self.grad_inputs):
                needs[ins.out[0]] = True
            elif ins.op not in LEAVES and any(needs[s] for s in ins.args):
                for s in ins.out:
                    needs[s] = True
        return needs


def make(op, out, args, arg):
    """Instruction(op, out, args, arg), made the quickest way (a tape can have a million)."""
    return _new_tuple(Instruction, (op, out, args, arg))


_new_tuple = tuple.__new__


def renumber(instructions, outputs):
    """Give the slots of `instructions` the numbers 0, 1, 2, ... in order of definition.

    Passes move and merge instructions; afterwards every instruction's outputs are
    consecutive again, and args and outputs refer to the new numbers.
    """
    highest = max((s for ins in instructions for s in ins.out), default=-1)
    new = [None] * (highest + 1)  # old slot -> new slot
    renumbered, n = [], 0
    for ins in instructions:
        out = tuple(range(n, n + len(ins.out)))
        args = tuple(map(new.__getitem__, ins.args))
        for old, slot in zip(ins.out, out):
            new[old] = slot
        n += len(out)
        renumbered.append(make(ins.op, out, args, ins.arg))
    return renumbered, [new[s] for s in outputs]
