"""Optimisation passes: Tape in, Tape out, same numbers out of the replay.

A replay's backward adds each instruction's gradient contributions into its operands at
the instruction's place in the tape. Moving or merging instructions is safe to the last
bit when every slot still receives its contributions in the same order; each pass checks
exactly that before it rewrites anything, and leaves alone what it cannot prove.

- `fuse_dots`: a neuron's `b + w0*x0 + w1*x1 + ...` is a chain of additions and
  multiplications; it becomes one 'dot' instruction that adds the same products in the same order.
- `group_matvecs`: dots that read the same inputs with their own parameters (a layer of
  neurons) become one 'matvec', so a replay can treat the weights as a matrix.
"""

from bisect import bisect_left, bisect_right

from ..engine import OPS
from .tape import Instruction, Tape, renumber


def _made_by(method):
    """The name of the engine's op that Value.<method> makes."""
    return next(op.name for op in OPS.values() if op.method == method)


ADD, MUL = _made_by('__add__'), _made_by('__mul__')  # the two ops a dot is made of


def optimize(tape):
    """Every pass, in order (the slots numbered afresh once, at the end)."""
    return group_matvecs(fuse_dots(tape, renumbered=False))


def _uses(tape):
    """Per slot: the indices of the instructions that read it (once per operand)."""
    uses = [[] for _ in range(tape.n_slots)]
    for i, ins in enumerate(tape.instructions):
        for s in ins.args:
            uses[s].append(i)
    return uses


def _made_by_slot(tape):
    """Per slot: the index of the instruction that writes it."""
    made_by = [0] * tape.n_slots
    for i, ins in enumerate(tape.instructions):
        for s in ins.out:
            made_by[s] = i
    return made_by


def _others_between(uses, slot, lo, hi, allowed):
    """Does an instruction outside `allowed` read `slot` strictly between `lo` and `hi`?"""
    readers = uses[slot]
    k = bisect_right(readers, lo)
    while k < len(readers) and readers[k] < hi:
        if readers[k] not in allowed:
            return True
        k += 1
    return False


def _rebuild(tape, placed, renumbered=True):
    """A tape from (original index, instruction) pairs; drops what is not placed. Its
    slots are numbered 0, 1, 2, ... afresh unless not `renumbered` (for another pass)."""
    placed.sort(key=lambda pair: pair[0])
    instructions = [ins for _, ins in placed]
    outputs = tape.outputs
    if renumbered:
        instructions, outputs = renumber(instructions, outputs)
    indices = [i for i, _ in placed]

    def moved(boundary):
        return bisect_left(indices, boundary)

    return Tape(instructions, outputs, moved(tape.backward_end), tape.grad_inputs,
                tuple(map(moved, tape.boundaries)))


# ----------------------------------------------------------------------------------
# fuse_dots


def fuse_dots(tape, renumbered=True):
    """Turn chains `((b + a0*x0) + a1*x1) + ...` into ('dot', b, a0, x0, a1, x1, ...).

    Only nodes read by nothing but the chain are absorbed. The dot replays the chain's
    backward in the engine's order (last term first; the base just before the first
    term), at the place of the chain's last addition; a chain is fused only if no other
    instruction reads one of its operands in between, so no slot's order changes.
    """
    ins, uses = tape.instructions, _uses(tape)
    outputs = set(tape.outputs)
    made_by = _made_by_slot(tape)

    def only_read_by(slot, reader, operand):
        return (slot not in outputs and uses[slot] == [reader]
                and ins[reader].args[operand] == slot)

    def is_product_of(add):  # the second operand of an addition is a product only it reads
        slot = ins[add].args[1]
        return ins[made_by[slot]].op == MUL and only_read_by(slot, add, 1)

    absorbed, placed = set(), []
    for root in reversed(range(len(ins))):
        if root in absorbed:
            continue
        if ins[root].op != ADD or not is_product_of(root):
            placed.append((root, ins[root]))
            continue
        chain = [root]  # the additions, last first
        while True:
            first = made_by[ins[chain[-1]].args[0]]
            if not (ins[first].op == ADD and only_read_by(ins[first].out[0], chain[-1], 0)
                    and is_product_of(first)):
                break
            chain.append(first)
        members = chain + [made_by[ins[add].args[1]] for add in chain]
        dot = _fused(ins, uses, made_by, chain)
        if dot is None or tape.section(min(members)) != tape.section(max(members)):
            placed.append((root, ins[root]))
            continue
        absorbed.update(members)
        placed.append((root, dot))
    return _rebuild(tape, placed, renumbered)


def _fused(ins, uses, made_by, chain):
    """The dot that replaces `chain` (additions, last first), or None if order would change."""
    chain = chain[::-1]
    products = [made_by[ins[add].args[1]] for add in chain]
    members = set(chain) | set(products)
    root = chain[-1]
    base = ins[chain[0]].args[0]
    # (operand, where the engine adds its gradient): the base at the first addition,
    # each term's operands at its product
    moved = [(base, chain[0])] + [(s, p) for p in products for s in ins[p].args]
    # per slot, only its earliest place matters: (earliest, root) covers the later ones,
    # and checking each slot once keeps a wide sum (one weight read N times) linear
    earliest = {}
    for s, at in moved:
        earliest[s] = min(at, earliest.get(s, at))
    if any(_others_between(uses, s, at, root, members) for s, at in earliest.items()):
        return None
    args = (base,) + tuple(s for p in products for s in ins[p].args)
    return Instruction('dot', ins[root].out, args)


# ----------------------------------------------------------------------------------
# group_matvecs


def group_matvecs(tape):
    """Group dots that read the same distinct non-parameter inputs into 'matvec' instructions.

    Each dot in a group must take its bias and weights from parameters, none shared
    within the group. The group runs at the place of its first dot; a dot joins only if
    no other instruction reads one of its operands between that place and its own.
    """
    ins, uses = tape.instructions, _uses(tape)
    is_param = [False] * tape.n_slots
    for i in ins:
        if i.op == 'param':
            is_param[i.out[0]] = True

    def key(dot):
        # a matvec's replays treat W and b as distinct parameters (a gradient each), so
        # a dot that reads one parameter twice (w + 0.5 * w) stays a dot
        a, x = dot.args[1::2], dot.args[2::2]
        params = (dot.args[0],) + a
        if (not all(is_param[s] for s in params) or len(set(params)) < len(params)
                or any(is_param[s] for s in x) or len(set(x)) < len(x)):
            return None
        return x

    groups, open_group = [], {}  # open_group: inputs -> the group dots with them may join
    for i, dot in enumerate(ins):
        x = key(dot) if dot.op == 'dot' else None
        if x is None:
            continue
        group = open_group.get(x)
        if group is None or not _may_join(tape, uses, group, i, x):
            group = {'dots': [], 'params': set()}
            groups.append(group)
            open_group[x] = group
        group['dots'].append(i)
        group['params'].update((dot.args[0],) + dot.args[1::2])

    grouped = {i for g in groups for i in g['dots']}
    placed = [(i, x) for i, x in enumerate(ins) if i not in grouped]
    placed += [(g['dots'][0], _matvec(ins, g['dots'])) for g in groups]
    return _rebuild(tape, placed)


def _may_join(tape, uses, group, i, x):
    dots = group['dots']
    first = dots[0]
    dot = tape.instructions[i]
    params = (dot.args[0],) + dot.args[1::2]
    if len(set(params)) < len(params) or group['params'] & set(params):
        return False
    if tape.section(first) != tape.section(i):
        return False
    # every dot of the group reads each input once: an input is read by nothing else in
    # between exactly when its readers there are as many as the group's dots there
    for s in x:
        readers = uses[s]
        if bisect_left(readers, i) - bisect_right(readers, first) != len(dots) - 1:
            return False
    members = set(dots)
    members.add(i)
    return not any(_others_between(uses, s, first, i, members) for s in params)


def _matvec(ins, dots):
    first = ins[dots[0]]
    x = first.args[2::2]
    W = tuple(s for d in dots for s in ins[d].args[1::2])
    b = tuple(ins[d].args[0] for d in dots)
    out = tuple(ins[d].out[0] for d in dots)
    return Instruction('matvec', out, x + W + b, (len(dots), len(x)))
