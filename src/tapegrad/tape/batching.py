"""Finding the samples in a traced batch: one tape of one sample, replayed over them all.

`compile(fn)` traces fn on a whole batch. A loss over a batch is usually the model's
graph once a sample, and the loss over their outputs: `[model(x) for x in X]`, then
`hinge(scores, y)`. Replayed as traced, that is one long tape of scalar instructions; but
the copies are the same instructions on other inputs, so one copy can be replayed over
the batch at once, a row of numbers a slot, as TapeStep does for fit() (see step.py).

`split` looks for the copies in a tape, and where it finds them in the shape that keeps
the eager engine's order of every sum, gives back the tapes for that replay; otherwise
None, and the tape is replayed as traced. Every instruction belongs to one sample (it
reads that sample's inputs, directly or not, and no other sample's), or to none, or to
several (it reads two samples: the loss); a sample's instructions are its block. Blocks
qualify when they are the same instructions, in the same order, on their own inputs and
the same parameters and constants, and the eager engine's backward visits them one
after the other, as described in step.py.
"""

import struct

import numpy as np

from .tape import LEAVES, Instruction, Tape

NONE, SEVERAL = -1, -2  # the owner of an instruction that reads no sample, or several


def samples_of_inputs(shapes, n_inputs):
    """For each input of a tape of data with these shapes (as compile flattens them), the
    sample (row of the batch) it belongs to, or NONE; None if the data has no batch."""
    if not all(isinstance(s, tuple) and all(isinstance(d, int) for d in s) for s in shapes):
        return None  # ragged data
    batch = next((s[0] for s in shapes if len(s) >= 1), 0)
    if batch < 2:
        return None
    owners = []
    for shape in shapes:
        size = int(np.prod(shape, dtype=np.int64))
        if len(shape) >= 1 and shape[0] == batch:
            owners += [k for k in range(batch) for _ in range(size // batch)]
        else:
            owners += [NONE] * size
    return owners if len(owners) == n_inputs else None


class Split:
    """What split() finds: the tapes of a batched replay, and where the data goes."""

    def __init__(self, sample_tape, loss_tape, n_out, order, sample_inputs, loss_inputs):
        self.sample_tape, self.loss_tape = sample_tape, loss_tape
        self.n_out, self.order = n_out, order
        self.sample_inputs = sample_inputs  # (batch, inputs a sample): flat data indices
        self.loss_inputs = loss_inputs      # flat data indices of the loss's other inputs


def split(tape, owners):
    """A Split of `tape` (as traced, one loss output) whose inputs belong to the samples
    `owners` (samples_of_inputs), or None where the tape is not a batch of equal blocks
    in the eager engine's order."""
    if len(tape.outputs) != 1 or owners is None:
        return None
    ins = tape.instructions
    batch = max(owners) + 1
    owner = [NONE] * tape.n_slots
    input_of_slot = {}  # input slot -> (sample, position among that sample's inputs)
    seen = [0] * batch
    for n, i in enumerate(ins):
        if i.op == 'input':
            k = owners[i.arg]
            owner[n] = k
            if k != NONE:
                input_of_slot[n] = (k, seen[k])
                seen[k] += 1
        elif i.op not in LEAVES:
            found = {owner[a] for a in i.args} - {NONE}
            owner[n] = found.pop() if len(found) == 1 else (SEVERAL if found else NONE)
    if owner[tape.outputs[0]] != SEVERAL:
        return None  # a loss that reads one sample, or none
    blocks = [[] for _ in range(batch)]
    for n, i in enumerate(ins):
        if i.op not in LEAVES and owner[n] >= 0:
            blocks[owner[n]].append(n)
    if not all(blocks) or len(set(seen)) != 1:
        return None
    for _ in range(3):
        read_outside = _read_outside(ins, owner, tape.outputs[0])
        shapes = [_shape(ins, block, k, owner, input_of_slot, read_outside)
                  for k, block in enumerate(blocks)]
        if None not in shapes and all(shape == shapes[0] for shape in shapes):
            break
        # a block longer than the others may end in the loss's first step on it: sum()
        # starts from 0, so the first sample's block ends with `+ 0`. Hand such a last
        # instruction, read only outside its block, to the loss, and compare again
        shortest = min(map(len, blocks))
        longer = [block for block in blocks if len(block) > shortest]
        if not longer or not all(block[-1] in read_outside for block in longer):
            return None
        for block in longer:
            owner[block.pop()] = SEVERAL
    else:
        return None
    spans = sorted((block[0], block[-1], k) for k, block in enumerate(blocks))
    if any(a[1] > b[0] for a, b in zip(spans, spans[1:])):
        return None
    first, last = spans[0][0], spans[-1][1]
    n_params = tape.n_params
    if any(owner[n] < 0 and ins[n].op not in LEAVES and any(a < n_params for a in ins[n].args)
           for n in range(first, last)):
        return None  # the loss reads a parameter between two samples
    sample_tape, outputs = _sample_tape(tape, blocks[0], input_of_slot, owner)
    if sample_tape is None:
        return None
    loss_tape, loss_inputs = _loss_tape(tape, blocks, outputs, owner)
    n_inputs = seen[0]
    by_sample = {}
    for n, (k, j) in input_of_slot.items():
        by_sample[k, j] = ins[n].arg
    sample_inputs = np.array([[by_sample[k, j] for j in range(n_inputs)] for k in range(batch)],
                             dtype=np.int64).reshape(batch, n_inputs)
    return Split(sample_tape, loss_tape, len(outputs), [k for _, _, k in reversed(spans)],
                 sample_inputs, np.array(loss_inputs, dtype=np.int64))


def _read_outside(ins, owner, loss):
    """The slots of the samples' blocks that something outside its block reads."""
    read = {loss}
    for n, i in enumerate(ins):
        if i.op not in LEAVES and owner[n] < 0:
            read.update(a for a in i.args if owner[a] >= 0 and ins[a].op not in LEAVES)
    return read


def _shape(ins, block, k, owner, input_of_slot, read_outside):
    """Block k as it reads its inputs, parameters and constants, independent of k (so that
    two blocks are the same computation exactly when their shapes are equal); None if it
    reads something else (a value computed outside it)."""
    position = {n: j for j, n in enumerate(block)}
    shape = []
    for n in block:
        i = ins[n]
        refs = []
        for a in i.args:
            if a in position:
                refs.append(('b', position[a]))
            elif a in input_of_slot and input_of_slot[a][0] == k:
                refs.append(('i', input_of_slot[a][1]))
            elif ins[a].op == 'param':
                refs.append(('p', a))
            elif ins[a].op == 'const':
                refs.append(('c', struct.pack('<d', ins[a].arg)))
            else:
                return None
        arg = struct.pack('<d', i.arg) if isinstance(i.arg, float) else i.arg
        shape.append((i.op, arg, tuple(refs), n in read_outside))
    return shape


def _sample_tape(tape, block, input_of_slot, owner):
    """(the tape of one sample, from block 0, and the slots of its outputs), or (None, None)
    where it cannot be replayed over the batch: a parameter read twice, or an output also
    read inside the block (their gradients' terms would come in another order)."""
    ins = tape.instructions
    n_params = tape.n_params
    reads = {}
    for n in block:
        for a in ins[n].args:
            reads[a] = reads.get(a, 0) + 1
    if any(reads.get(p, 0) > 1 for p in range(n_params)):
        return None, None
    read_outside = _read_outside(ins, owner, tape.outputs[0])
    outputs = [n for n in block if n in read_outside]
    if any(reads.get(n, 0) for n in outputs):
        return None, None
    new = {}
    instructions = [Instruction('param', (p,), (), p) for p in range(n_params)]
    new.update((p, p) for p in range(n_params))
    for a in sorted({a for n in block for a in ins[n].args if ins[a].op == 'const'}):
        new[a] = len(instructions)
        instructions.append(Instruction('const', (len(instructions),), (), ins[a].arg))
    own_inputs = sorted((j, a) for a, (k, j) in input_of_slot.items() if k == owner[block[0]])
    for j, a in own_inputs:
        new[a] = len(instructions)
        instructions.append(Instruction('input', (len(instructions),), (), j))
    n_leaves = len(instructions)
    for n in block:
        new[n] = len(instructions)
        instructions.append(Instruction(ins[n].op, (len(instructions),),
                                        tuple(new[a] for a in ins[n].args), ins[n].arg))
    sample = Tape(instructions, [new[n] for n in outputs], len(instructions))
    from .passes import optimize
    return optimize(sample) if n_leaves < len(instructions) else sample, outputs


def _loss_tape(tape, blocks, outputs, owner):
    """(the loss's tape, the flat data indices of its inputs after the predictions): its
    inputs are every sample's outputs (sample by sample) and then the data it reads."""
    ins = tape.instructions
    n_params = tape.n_params
    position = {n: j for j, n in enumerate(blocks[0])}
    where = {}  # a block's output slot -> (sample, which output)
    out_index = {position[n]: j for j, n in enumerate(outputs)}
    for k, block in enumerate(blocks):
        for j, n in enumerate(block):
            if j in out_index:
                where[n] = (k, out_index[j])
    rest = [n for n in range(len(ins)) if ins[n].op not in LEAVES and owner[n] < 0]
    new = {p: p for p in range(n_params)}
    instructions = [Instruction('param', (p,), (), p) for p in range(n_params)]
    read = {a for n in rest for a in ins[n].args} | set(tape.outputs)
    for a in sorted(read):
        if ins[a].op == 'const':
            new[a] = len(instructions)
            instructions.append(Instruction('const', (len(instructions),), (), ins[a].arg))
    n_out, batch = len(outputs), len(blocks)
    slots_of = {}
    for k in range(batch):
        for j in range(n_out):
            slots_of[k, j] = len(instructions)
            instructions.append(Instruction('input', (len(instructions),), (), k * n_out + j))
    for n, (k, j) in where.items():
        new[n] = slots_of[k, j]
    data = sorted(a for a in read if ins[a].op == 'input')
    for position, a in enumerate(data):
        new[a] = len(instructions)
        instructions.append(Instruction('input', (len(instructions),), (), batch * n_out + position))
    backward_end = len(instructions) + sum(1 for n in rest if n < tape.backward_end)
    for n in rest:
        new[n] = len(instructions)
        instructions.append(Instruction(ins[n].op, (len(instructions),),
                                        tuple(new[a] for a in ins[n].args), ins[n].arg))
    loss = Tape(instructions, [new[tape.outputs[0]]], backward_end,
                frozenset(range(batch * n_out)))
    return loss, [ins[a].arg for a in data]
