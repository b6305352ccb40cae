"""The numba backend: the same replay as replay.NumpyReplay, as compiled loops.

The tape is lowered to flat arrays (an op code, the first output slot and the shape of
each instruction; all operands in one array, instruction n's at args[start[n]:start[n+1]])
which compiled loops walk: forward in order, backward in reverse. Every formula is the
engine's, in the engine's order of operations, and there is no fast-math (no fused
multiply-adds, no reordered sums), so the bits are the engine's.

Two pairs of loops: for one sample (compile(), a loss over a batch's predictions) every
slot is one number in a flat array, parameters first; for a batch, every slot is a row
with one number per sample, and the inner loops run over the row, which the compiler
vectorises without changing any single sum.

`cache=True` compiles once per machine; later processes load the machine code from
numba's cache. Compiling is slow (seconds; the cost grows with every function and every
loop), so the loops are few: four kernels, and helpers that are compiled into the
kernels that call them, with no Python entry point and no cache entry of their own.
"""

import hashlib
import inspect
import math
import os
import sys


def _wide_vectors():
    """Have numba use the processor's 512-bit vectors (AVX-512), where it has them.

    LLVM holds back to 256-bit vectors on such processors unless told otherwise, and the
    dense loops below run up to twice as fast with 512. It only changes how many numbers
    an instruction works on, never an operation or its order, so the numbers are the same.
    numba reads its CPU features once, at its import: this is done only if numba is not
    imported yet and NUMBA_CPU_FEATURES is not set (set it, or TAPEGRAD_WIDE_VECTORS=0,
    to decide yourself). It applies to all of the program's numba code, and numba keeps
    its cache apart for each set of features.
    """
    if ('numba' in sys.modules or 'NUMBA_CPU_FEATURES' in os.environ
            or os.environ.get('TAPEGRAD_WIDE_VECTORS') == '0'):
        return
    import llvmlite.binding as llvm
    features = llvm.get_host_cpu_features().flatten()
    if '+avx512f' in features.split(','):
        os.environ['NUMBA_CPU_FEATURES'] = features + ',-prefer-256-bit'


_wide_vectors()

import numpy as np  # noqa: E402 - numba must see NUMBA_CPU_FEATURES as it is imported
from llvmlite import ir  # noqa: E402
from numba import njit, types  # noqa: E402
from numba.extending import intrinsic, overload  # noqa: E402

from .. import optim
from ..engine import OPS
from .replay import Replay
from .tape import LEAVES, Instruction, Tape
from .trace import TapeError
from .training import KERNEL_KIND

# The engine's ops that these loops have formulas for (in _op and _op_grads below), then
# the tape's own instructions. An op's code is its place in this list. A tape with an op
# that is not here is refused by lower(), never computed as another op.
KERNEL_OPS = ('+', '*', '/', '**', '**k', 'exp', 'log', 'tanh', 'sigmoid', 'relu')
OPCODES = {op: code for code, op in enumerate(KERNEL_OPS + ('dot', 'matvec'))}
OPCODES.update(dict.fromkeys(LEAVES, len(OPCODES)))
ADD, MUL, DIV, POW, POWK, EXP, LOG, TANH, SIGMOID, RELU, DOT, MATVEC, LEAF = range(len(KERNEL_OPS) + 3)

# error_model='numpy': IEEE results (x / 0 is inf), no exceptions
jit = njit(cache=True, error_model='numpy', no_cfunc_wrapper=True)
helper = njit(error_model='numpy', no_cpython_wrapper=True, no_cfunc_wrapper=True)


class MissingKernel(TapeError):
    """numba's loops have no formula for an op of the tape: replay it with NumPy."""


def lower(tape, needs):
    """The tape as arrays: code[n] = (op, first output slot, m, width, squares), start,
    args, karg.

    For a matvec, m is the number of neurons and width that of inputs; otherwise m is 1.
    squares is 1 for a dot b + s*s + (s+1)*(s+1) + ... over consecutive slots that all
    need their gradients, b not among them (an L2 penalty), which backward_one does as
    one vector loop.
    """
    missing = sorted({i.op for i in tape.instructions} - set(OPCODES))
    if missing:
        raise MissingKernel(f"numba's loops have no formula for the op(s) "
                            f"{', '.join(map(repr, missing))} (see 'Adding an op' in the README)")
    code = np.zeros((len(tape.instructions), 5), dtype=np.int64)
    karg = np.zeros(len(tape.instructions))
    start = np.zeros(len(tape.instructions) + 1, dtype=np.int64)
    args = []
    for n, ins in enumerate(tape.instructions):
        m, width = ins.arg if ins.op == 'matvec' else (1, len(ins.args))
        code[n] = OPCODES[ins.op], ins.out[0], m, width, _squares_of_a_run(ins, needs)
        if ins.op in OPS and OPS[ins.op].takes_number:
            karg[n] = ins.arg
        args.extend(ins.args)
        start[n + 1] = len(args)
    return code, start, np.array(args, dtype=np.int64), karg


def _squares_of_a_run(ins, needs):
    if ins.op != 'dot' or len(ins.args) < 3:
        return False
    base, first, n = ins.args[0], ins.args[1], len(ins.args) // 2
    run = range(first, first + n)
    return (ins.args[1:] == tuple(s for s in run for _ in (0, 1)) and base not in run
            and all(needs[s] for s in run))


class NumbaReplay(Replay):
    """Forward and backward over a tape with the compiled loops below."""

    def __init__(self, tape, batch, flat=True):
        super().__init__(tape, batch)
        self.code, self.start, self.args, self.karg = lower(tape, self.needs)
        self.one_flat = flat and batch == 1  # else rows of samples, for the batch loops
        if self.one_flat:  # one flat array of all slots, parameters first; rows are views
            P = self.n_params
            self.flat = np.concatenate([np.zeros(P), self.values[:, 0]])
            self.flat_grads = np.zeros_like(self.flat)
            self.values = self.flat[P:].reshape(-1, 1)
            self.grads = self.flat_grads[P:].reshape(-1, 1)
        else:  # rows the compiled loops work in, made once here
            self.scratch = np.empty((4, batch))
            self.work = np.empty(matvec_work(tape, batch))

    def forward(self, pvals, lo=0, hi=None):
        lo, hi = max(lo, self.first), len(self.code) if hi is None else hi
        if self.one_flat:
            self.flat[:self.n_params] = pvals
            forward_one(self.code, self.start, self.args, self.karg, self.flat, lo, hi)
        else:
            forward(self.code, self.start, self.args, self.karg, self.n_params, pvals,
                    self.values, self.scratch, self.work, lo, hi)

    def backward(self, pvals, pgrad, order, lo=0, hi=None):
        lo, hi = max(lo, self.first), self.tape.backward_end if hi is None else hi
        if self.one_flat:
            self.flat_grads[:self.n_params] = pgrad
            backward_one(self.code, self.start, self.args, self.karg, self.needs, self.flat,
                         self.flat_grads, lo, hi)
            pgrad[:] = self.flat_grads[:self.n_params]
        else:
            backward(self.code, self.start, self.args, self.karg, self.needs, self.n_params,
                     pvals, pgrad, self.values, self.grads, order, self.scratch, self.work,
                     lo, hi)


def is_cached():
    """Does numba's cache hold the loops, compiled from this very source file?

    Reads numba's cache index (numba internals: if they have moved, the answer is no
    and the caller compiles as it would on a new machine).
    """
    try:
        from numba.core.registry import cpu_target
        machine = cpu_target.target_context.codegen().magic_tuple()  # processor, features
        return all(any(key[1] == machine for key in kernel._cache._cache_file._load_index())
                   for kernel in KERNELS)
    except Exception:  # noqa: BLE001 - any failure means "not known to be cached"
        return False


def cache_key():
    """This source file and numba's cache folder, as a short name (for compile_once's lock)."""
    import hashlib
    import os

    import numba
    where = f"{__file__}|{os.environ.get('NUMBA_CACHE_DIR', '')}|{numba.__version__}"
    return hashlib.sha1(where.encode()).hexdigest()[:16]


def warm_up():
    """Compile every loop (or load it from numba's cache) for the types replays and
    fit()'s training steps use.

    Any tape will do: a loop is compiled whole, whatever instructions it then meets.
    """
    tape = Tape([Instruction('param', (0,), (), 0), Instruction('input', (1,), (), 0),
                 Instruction('dot', (2,), (0, 0, 1)), Instruction('relu', (3,), (2,))],
                outputs=[3], backward_end=4)
    order = np.zeros(1, dtype=np.int64)
    for batch in (1, 2):
        replay = NumbaReplay(tape, batch)
        replay.forward(np.ones(1))
        replay.backward(np.ones(1), np.zeros(1), order)
    from .step import warm_up_training
    warm_up_training()


# ----------------------------------------------------------------------------------
# Scalar formulas: the engine's, for one sample.


@helper
def _pow_number(x, k):  # the engine's: x ** 0.5 is sqrt(x) and x ** -0.5 is 1 / sqrt(x)
    if k == 0.5 or k == -0.5:
        root = math.sqrt(x) if x >= 0 or math.isnan(x) else math.nan
        return root if k == 0.5 else 1.0 / root
    return math.pow(x, k)


@helper
def _op(op, x, y, k):
    """The value of op(x, y) (y unused by the one-operand ops; k: the k of x ** k)."""
    if op == ADD:
        return x + y
    if op == MUL:
        return x * y
    if op == DIV:
        return x / y
    if op == POW:
        return math.pow(x, y)
    if op == POWK:
        return _pow_number(x, k)
    if op == EXP:
        return math.exp(x)
    if op == LOG:
        return math.log(x)
    if op == TANH:
        return math.tanh(x)
    if op == SIGMOID:
        return 1.0 / (1.0 + math.exp(-x))
    if op == RELU:
        return 0.0 if x < 0 else x  # -0.0 and nan stay
    raise AssertionError("an op without a formula here got past lower()")


@helper
def _op_grads(op, x, y, out, g, k):
    """What the engine's backward rule adds to x.grad and to y.grad.

    Where the engine adds nothing, this adds 0.0, which changes no gradient: gradients
    start at +0.0 and a sum that starts at +0.0 never becomes -0.0.
    """
    if op == ADD:
        return g, g
    if op == MUL:
        return g * y, g * x
    if op == DIV:
        return g / y, -g * ((x / y) / y)
    if op == POW:
        dx = g * (y * math.pow(x, y - 1.0)) if y != 0 else 0.0
        return dx, g * (0.0 if x == 0 and y >= 0 else out * math.log(x))
    if op == POWK:
        return (g * (k * _pow_number(x, k - 1.0)) if k != 0 else 0.0), 0.0
    if op == EXP:
        return g * out, 0.0
    if op == LOG:
        return g / x, 0.0
    if op == TANH:
        return g * (1.0 - out * out), 0.0
    if op == SIGMOID:
        return g * (1.0 - out) * out, 0.0
    if op == RELU:
        return (0.0 if out <= 0 else g), 0.0
    raise AssertionError("an op without a formula here got past lower()")


# ----------------------------------------------------------------------------------
# One sample: v[slot] is a slot's value, g[slot] its gradient


@jit
def forward_one(code, start, args, karg, v, lo, hi):
    for n in range(lo, hi):
        op, out, s, e = code[n, 0], code[n, 1], start[n], start[n + 1]
        if op == LEAF:
            continue
        if op == DOT:  # args: b, a0, x0, a1, x1, ...
            total = v[args[s]]
            for t in range(s + 1, e, 2):
                total += v[args[t]] * v[args[t + 1]]
            v[out] = total
        elif op == MATVEC:  # args: x (width), W (m rows of width), b (m)
            m, width = code[n, 2], code[n, 3]
            for j in range(m):
                total = v[args[s + width * (1 + m) + j]]
                for i in range(width):
                    total += v[args[s + width * (1 + j) + i]] * v[args[s + i]]
                v[out + j] = total
        else:  # args[e - 1]: the second operand, or the only one again
            v[out] = _op(op, v[args[s]], v[args[e - 1]], karg[n])


@jit
def backward_one(code, start, args, karg, needs, v, g, lo, hi):
    for n in range(hi - 1, lo - 1, -1):
        op, out, s, e = code[n, 0], code[n, 1], start[n], start[n + 1]
        if op == LEAF or not needs[out]:
            continue
        if code[n, 4]:  # an L2 penalty's sum of squares (see lower): each slot gets its
            # two equal terms in turn, as the loop below gives them to a term a * a; the
            # slots are distinct, so in one vector loop
            go, first = g[out], args[s + 1]
            for t in range((e - s - 1) // 2):
                term = go * v[first + t]
                g[first + t] = (g[first + t] + term) + term
            if needs[args[s]]:  # not a slot of the run: the order between them is free
                g[args[s]] += go
        elif op == DOT or op == MATVEC:
            # a dot is the chain's '+' and '*' nodes: the last term first, and the base
            # (added by the first '+') just before the first term; a matvec is its dots,
            # the last first
            m, width = (1, (e - s - 1) // 2) if op == DOT else (code[n, 2], code[n, 3])
            for j in range(m - 1, -1, -1):
                go = g[out + j]
                for i in range(width - 1, -1, -1):
                    if op == DOT:
                        base, a, x = args[s], args[s + 1 + 2 * i], args[s + 2 + 2 * i]
                    else:
                        base, a, x = (args[s + width * (1 + m) + j],
                                      args[s + width * (1 + j) + i], args[s + i])
                    if i == 0 and needs[base]:
                        g[base] += go
                    if needs[a]:
                        g[a] += go * v[x]
                    if needs[x]:
                        g[x] += go * v[a]
        else:
            x, y = args[s], args[e - 1]
            dx, dy = _op_grads(op, v[x], v[y], v[out], g[out], karg[n])
            if needs[x]:
                g[x] += dx
            if e - s == 2 and needs[y]:
                g[y] += dy


# ----------------------------------------------------------------------------------
# A batch: values[slot - P] is a slot's row, one value per sample; a parameter's value
# pvals[p] is the same for every sample. The loops run along the rows, which the
# compiler turns into vector instructions without changing any single sum: every sample's
# sum is still added term by term in the engine's order.


@helper
def _row(slot, P, pvals, values, scratch):
    """A slot's values for every sample: its row, or a parameter's value copied into scratch."""
    if slot >= P:
        return values[slot - P]
    for k in range(scratch.shape[0]):
        scratch[k] = pvals[slot]
    return scratch


@helper
def _rows_op(op, x, y, karg, dest):
    """dest = op(x, y), sample by sample (the common ops as plain loops the compiler
    vectorises; the others through the engine's formula, one number at a time)."""
    if op == ADD:
        for k in range(dest.shape[0]):
            dest[k] = x[k] + y[k]
    elif op == MUL:
        for k in range(dest.shape[0]):
            dest[k] = x[k] * y[k]
    elif op == RELU:
        for k in range(dest.shape[0]):
            dest[k] = 0.0 if x[k] < 0 else x[k]  # -0.0 and nan stay
    else:
        for k in range(dest.shape[0]):
            dest[k] = _op(op, x[k], y[k], karg)


@helper
def _rows_grads(op, x, y, out, g, karg, dx, dy):
    """What the engine's rule adds to x.grad and y.grad, sample by sample."""
    if op == ADD:
        for k in range(g.shape[0]):
            dx[k] = g[k]
            dy[k] = g[k]
    elif op == MUL:
        for k in range(g.shape[0]):
            dx[k] = g[k] * y[k]
            dy[k] = g[k] * x[k]
    elif op == RELU:
        for k in range(g.shape[0]):
            dx[k] = 0.0 if out[k] <= 0 else g[k]
            dy[k] = 0.0
    else:
        for k in range(g.shape[0]):
            dx[k], dy[k] = _op_grads(op, x[k], y[k], out[k], g[k], karg)


@helper
def _relus_of(code, start, args, n, hi):
    """The first row of the m relus right after the matvec n, each of an output of it in
    turn, into consecutive rows; -1 if they are not so. (A forward computes each slot
    from its operands alone, so the matvec can compute them as it goes.)"""
    first, m = code[n, 1], code[n, 2]
    if n + m >= hi or code[n + 1, 0] != RELU:
        return -1
    for j in range(m):
        after = n + 1 + j
        if (code[after, 0] != RELU or args[start[after]] != first + j
                or code[after, 1] != code[n + 1, 1] + j):
            return -1
    return code[n + 1, 1]


@jit
def forward(code, start, args, karg, P, pvals, values, scratch, work, lo, hi):
    n = lo - 1
    while n + 1 < hi:
        n += 1
        op = code[n, 0]
        if op == LEAF:
            continue
        out, m, width = code[n, 1] - P, code[n, 2], code[n, 3]
        a = args[start[n]:start[n + 1]]
        if op == MATVEC:  # args: x (width), W (m rows of width), b (m); W and b are parameters
            relus = _relus_of(code, start, args, n, hi)
            _matvec_forward(out, m, width, a, P, pvals, values, work,
                            relus - P if relus >= 0 else -1)
            if relus >= 0:  # done with the matvec, while its rows were in the first-level cache
                n += m
        elif op == DOT:  # args: b, a0, x0, a1, x1, ...: ((b + a0*x0) + a1*x1) + ...
            dest, first = values[out], _row(a[0], P, pvals, values, scratch[0])
            for k in range(dest.shape[0]):
                dest[k] = first[k]
            for t in range(1, a.shape[0], 2):
                ra = _row(a[t], P, pvals, values, scratch[0])
                rx = _row(a[t + 1], P, pvals, values, scratch[1])
                for k in range(dest.shape[0]):
                    dest[k] += ra[k] * rx[k]
        else:  # a[-1]: the second operand, or the only one again
            x = _row(a[0], P, pvals, values, scratch[0])
            y = _row(a[-1], P, pvals, values, scratch[1])
            _rows_op(op, x, y, karg[n], values[out])


# ----------------------------------------------------------------------------------
# A batch, backward: a row's gradient gets each sample's term; a parameter's gets the
# terms summed over the samples, in `order`.


@helper
def _add_row(slot, terms, needs, P, pgrad, grads, order):
    """slot.grad += terms[k], for each sample k."""
    if not needs[slot]:
        return
    if slot < P:
        for k in order:
            pgrad[slot] += terms[k]
    else:
        row = grads[slot - P]
        for k in range(row.shape[0]):
            row[k] += terms[k]


@jit
def backward(code, start, args, karg, needs, P, pvals, pgrad, values, grads, order, scratch,
             work, lo, hi):
    for n in range(hi - 1, lo - 1, -1):
        op, out = code[n, 0], code[n, 1]
        if op == LEAF or not needs[out]:
            continue
        m, width = code[n, 2], code[n, 3]
        a = args[start[n]:start[n + 1]]
        if op == DOT:
            # the chain's '+' and '*' nodes in the engine's order: the last term first,
            # the base (added by the first '+') just before the first term's product
            g, terms = grads[out - P], scratch[2]
            for t in range(a.shape[0] - 2, 0, -2):  # a[t], a[t + 1]: a term's operands
                if t == 1:
                    _add_row(a[0], g, needs, P, pgrad, grads, order)
                rx = _row(a[t + 1], P, pvals, values, scratch[0])
                for k in range(g.shape[0]):
                    terms[k] = g[k] * rx[k]
                _add_row(a[t], terms, needs, P, pgrad, grads, order)
                ra = _row(a[t], P, pvals, values, scratch[0])
                for k in range(g.shape[0]):
                    terms[k] = g[k] * ra[k]
                _add_row(a[t + 1], terms, needs, P, pgrad, grads, order)
        elif op == MATVEC:
            _matvec_backward(out - P, m, width, a, needs, P, pvals, pgrad, values, grads, order,
                             work)
        elif op == RELU and a[0] >= P:  # most of a network's instructions: one loop
            if needs[a[0]]:
                z, g, row = values[out - P], grads[out - P], grads[a[0] - P]
                for k in range(g.shape[0]):
                    row[k] += 0.0 if z[k] <= 0 else g[k]
        else:  # a[-1]: the second operand, or the only one again
            x = _row(a[0], P, pvals, values, scratch[0])
            y = _row(a[-1], P, pvals, values, scratch[1])
            dx, dy = scratch[2], scratch[3]
            _rows_grads(op, x, y, values[out - P], grads[out - P], karg[n], dx, dy)
            _add_row(a[0], dx, needs, P, pgrad, grads, order)
            if a.shape[0] == 2:
                _add_row(a[1], dy, needs, P, pgrad, grads, order)


# ----------------------------------------------------------------------------------
# A matvec over a batch: m neurons that read the same inputs x, whose weights W and
# biases b are distinct parameters. Dense linear algebra, written so that each neuron's
# sum for each sample is still added term by term in the engine's order: four rows of
# sums at a time, 16 (or 8) samples or columns wide, stay in vector registers while they
# take their terms in turn (_panel, an intrinsic, as LLVM keeps sums in memory when the
# loops are Python's). `work` is scratch for the weights as matrices and the rows turned
# sample-major.

TILE = 256  # samples a tile


def matvec_work(tape, batch):
    """How many floats of scratch the matvecs of `tape` need over `batch` samples."""
    sizes = [ins.arg for ins in tape.instructions if ins.op == 'matvec']
    return max([2 * m * n + batch * (n + m) + m for m, n in sizes], default=1)


@helper
def _weights(m, width, W, pvals, work):
    """The weights as an (m, width) matrix in work (from the parameters' numbers)."""
    Wm = work[:m * width].reshape((m, width))
    for j in range(m):
        for i in range(width):
            Wm[j, i] = pvals[W[j * width + i]]
    return Wm


@helper
def _relu_rows(z, h):
    for k in range(z.shape[0]):
        h[k] = 0.0 if z[k] < 0 else z[k]  # -0.0 and nan stay


@helper
def _matvec_forward(out, m, width, a, P, pvals, values, work, relus):
    """The matvec, and (relus >= 0) the relu of output j into row relus + j.

    Four neurons at a time over a tile of samples: each neuron's row starts at its bias
    and takes the inputs' terms in turn, in vector registers (see _panel), the samples
    left over (fewer than 8) one at a time."""
    x, b = a[:width], a[width * (1 + m):]
    Wm = _weights(m, width, a[width:width * (1 + m)], pvals, work)
    B, stride = values.shape[1], values.strides[0] // 8
    inputs = x - P  # the inputs' rows
    at, W_at = np.intp(values.ctypes.data), np.intp(Wm.ctypes.data)
    for k0 in range(0, B, TILE):
        k1 = min(B, k0 + TILE)
        for j0 in range(0, m, 4):
            j1 = min(m, j0 + 4)
            for j in range(j0, j1):
                values[out + j, k0:k1] = pvals[b[j]]
            done = _panels_by_position(at + 8 * ((out + j0) * stride + k0), stride,
                                       W_at + 8 * j0 * width, width, at + 8 * k0, stride,
                                       inputs, k1 - k0, j1 - j0)
            for j in range(j0, j1):
                d = values[out + j, k0 + done:k1]
                for i in range(width):
                    r, w = values[inputs[i], k0 + done:k1], Wm[j, i]
                    for k in range(d.shape[0]):
                        d[k] += w * r[k]
                if relus >= 0:
                    _relu_rows(values[out + j, k0:k1], values[relus + j, k0:k1])


@helper
def _matvec_backward(out, m, width, a, needs, P, pvals, pgrad, values, grads, order, work):
    x, W, b = a[:width], a[width:width * (1 + m)], a[width * (1 + m):]
    Wm = _weights(m, width, W, pvals, work)
    B = values.shape[1]
    # the inputs' gradients: each gets the last neuron's term first, as from the dots;
    # up to four inputs in consecutive rows at a time, over a tile of samples (see _panel)
    WT = work[m * width:2 * m * width].reshape((width, m))
    for i in range(width):  # WT[i, t]: input i's weight in the t-th term, neuron m - 1 - t
        for t in range(m):
            WT[i, t] = Wm[m - 1 - t, i]
    neurons = np.empty(m, dtype=np.int64)  # the outputs' rows, in the terms' order
    for t in range(m):
        neurons[t] = out + m - 1 - t
    stride = grads.strides[0] // 8
    at, WT_at = np.intp(grads.ctypes.data), np.intp(WT.ctypes.data)
    for k0 in range(0, B, TILE):
        k1 = min(B, k0 + TILE)
        i = 0
        while i < width:
            rows = 0
            while (rows < 4 and i + rows < width and needs[x[i + rows]]
                   and x[i + rows] == x[i] + rows):
                rows += 1
            if rows == 0:  # an input without a gradient
                i += 1
                continue
            first = x[i] - P
            done = _panels_by_position(at + 8 * (first * stride + k0), stride,
                                       WT_at + 8 * i * m, m, at + 8 * k0, stride, neurons,
                                       k1 - k0, rows)
            for r in range(rows):
                g = grads[first + r, k0 + done:k1]
                for t in range(m):
                    e, w = grads[neurons[t], k0 + done:k1], WT[i + r, t]
                    for k in range(g.shape[0]):
                        g[k] += e[k] * w
            i += rows
    # the parameters' gradients, sample by sample in `order`: gW[j, i] += G[j, k] X[i, k].
    # The loops run along the longer side (four rows of gW at a time), which must be
    # sample-major for that, so it is transposed into work; the other side's numbers are
    # read one at a time, straight from their rows.
    used = m * width
    gb = work[used:used + m]
    used += m
    for j in range(m):
        gb[j] = pgrad[b[j]]
    G = grads[out:out + m]
    if width >= m:  # gW[j, :] += G[j, k] X[:, k]: along the inputs, four neurons at a time
        XT = _sample_major(x, P, values, work[used:used + B * width].reshape((B, width)))
        used += B * width
        gW = work[used:used + m * width].reshape((m, width))
        for j in range(m):
            for i in range(width):
                gW[j, i] = pgrad[W[j * width + i]]
        for t0 in range(0, B, TILE):  # a tile of samples at a time, in order
            for j0 in range(0, m, 4):
                j1 = min(m, j0 + 4)
                _outer_sums(gW[j0:j1], G[j0:j1], XT, order[t0:t0 + TILE], gb[j0:j1])
        for j in range(m):
            for i in range(width):
                pgrad[W[j * width + i]] = gW[j, i]
    else:  # gW[:, i] += X[i, k] G[:, k]: along the neurons, four inputs at a time
        GT = work[used:used + B * m].reshape((B, m))
        used += B * m
        for k in range(B):  # the rows turned sample-major (see _sample_major)
            for j in range(m):
                GT[k, j] = G[j, k]
        for k in order:
            for j in range(m):
                gb[j] += GT[k, j]
        Xr = work[used:used + width * B].reshape((width, B))
        used += width * B
        for i in range(width):
            Xr[i] = values[x[i] - P]
        gWT = work[used:used + m * width].reshape((width, m))
        for j in range(m):
            for i in range(width):
                gWT[i, j] = pgrad[W[j * width + i]]
        for t0 in range(0, B, TILE):
            for i0 in range(0, width, 4):
                _outer_sums(gWT[i0:min(width, i0 + 4)], Xr[i0:min(width, i0 + 4)], GT,
                            order[t0:t0 + TILE], gb[:0])
        for j in range(m):
            for i in range(width):
                pgrad[W[j * width + i]] = gWT[i, j]
    for j in range(m):
        pgrad[b[j]] = gb[j]


@helper
def _sample_major(x, P, values, XT):
    """XT[k, i] = the value of slot x[i] for sample k: the rows turned sample-major.
    Sample by sample, so that the stores run along XT's rows (the other way round is
    slower). Bound by the second-level cache's bandwidth either way."""
    if x[-1] - x[0] == x.shape[0] - 1:  # the inputs in consecutive rows, as usual
        rows = values[x[0] - P:x[-1] - P + 1]
        for k in range(XT.shape[0]):
            for i in range(XT.shape[1]):
                XT[k, i] = rows[i, k]
    else:
        for k in range(XT.shape[0]):
            for i in range(XT.shape[1]):
                XT[k, i] = values[x[i] - P, k]
    return XT


@helper
def _outer_sums(acc, A, V, order, sums):
    """acc[r, :] += A[r, k] * V[k, :] for each row r (one to four), k in `order`; and
    sums[r] += A[r, k] too, unless sums is empty (a bias's gradient: it rides along, where
    on its own it would be a chain of scalar additions)."""
    n, with_sums, c, rows = acc.shape[1], sums.shape[0] > 0, 0, acc.shape[0]
    if (acc.strides[1] == 8 and A.strides[1] == 8 and V.strides[1] == 8
            and order.strides[0] == 8):  # 16 or 8 columns at a time, in registers
        acc_at, V_at, A_at = np.intp(acc.ctypes.data), np.intp(V.ctypes.data), np.intp(A.ctypes.data)
        strides = (acc.strides[0] // 8, A.strides[0] // 8, V.strides[0] // 8)
        at, count, sums_at = np.intp(order.ctypes.data), order.shape[0], np.intp(sums.ctypes.data)
        while c + 8 <= n:
            if c + 16 <= n and with_sums:
                _panel_16_sums(acc_at + 8 * c, strides[0], A_at, strides[1], V_at + 8 * c,
                               strides[2], at, count, sums_at, rows)
            elif c + 16 <= n:
                _panel_16(acc_at + 8 * c, strides[0], A_at, strides[1], V_at + 8 * c,
                          strides[2], at, count, 0, rows)
            elif with_sums:
                _panel_8_sums(acc_at + 8 * c, strides[0], A_at, strides[1], V_at + 8 * c,
                              strides[2], at, count, sums_at, rows)
            else:
                _panel_8(acc_at + 8 * c, strides[0], A_at, strides[1], V_at + 8 * c,
                         strides[2], at, count, 0, rows)
            c += 16 if c + 16 <= n else 8
            with_sums = False  # added by the first panel
    if c == n and not with_sums:
        return
    for k in order:  # the columns left over (fewer than 8)
        v = V[k]
        for rr in range(acc.shape[0]):
            row, a = acc[rr], A[rr, k]
            if with_sums:
                sums[rr] += a
            for i in range(c, n):
                row[i] += a * v[i]


def _panel(vectors, with_sums, by_position=False):
    """An intrinsic: acc[r, c] += A[r, k] * V[k, c] for `rows` (at most four) rows r and
    8 * vectors columns c, k = samples[0], samples[1], ... in turn, as _outer_sums's loop
    over the columns left over. Here the accumulators stay in vector registers through
    all the samples: from Python loops, LLVM keeps them in memory (it cannot tell the
    arrays apart), which made the weights' gradients half as slow again as the forward.
    With fewer than four rows, the last one is computed again in the spare registers and
    not stored. Plain IEEE multiplies and adds, each rounded (no fused multiply-add).

    Arguments (addresses, and strides in floats): acc, acc_stride, A, A_stride, V,
    V_stride, samples, n, sums, rows; with_sums: sums[r] += A[r, k] too. by_position:
    A[r, t] in the place of A[r, k] (t = 0, 1, ...; for the matvec's other loops, where
    V's rows are the inputs' or the outputs' rows, in the order of the sums' terms).
    """
    @intrinsic
    def panel(typingctx, acc, acc_stride, A, A_stride, V, V_stride, samples, n, sums, rows):
        def codegen(context, builder, signature, args):
            acc, acc_stride, A, A_stride, V, V_stride, samples, n, sums, rows = args
            i64, f64 = ir.IntType(64), ir.DoubleType()
            vec = ir.VectorType(f64, 8)

            def number(k):
                return ir.Constant(i64, k)

            def at(address, index, kind=f64):
                return builder.gep(builder.inttoptr(address, kind.as_pointer()), [index])

            def vector_at(address, index):
                return builder.bitcast(at(address, index), vec.as_pointer())

            # row r, or the last row where r is past it
            real = [builder.icmp_signed('<', number(r), rows) for r in range(4)]
            row = [builder.select(real[r], number(r), builder.sub(rows, number(1)))
                   for r in range(4)]
            cells = [(r, v) for r in range(4) for v in range(vectors)]

            def acc_at(r, v):
                return vector_at(acc, builder.add(builder.mul(acc_stride, row[r]), number(8 * v)))

            start = [builder.load(acc_at(r, v), align=8) for r, v in cells]
            if with_sums:
                start += [builder.load(at(sums, row[r])) for r in range(4)]
            entry = builder.block
            loop = builder.append_basic_block('panel.loop')
            done = builder.append_basic_block('panel.done')
            builder.cbranch(builder.icmp_signed('>', n, number(0)), loop, done)

            builder.position_at_end(loop)
            t = builder.phi(i64)
            running = [builder.phi(value.type) for value in start]
            k = builder.load(at(samples, t, i64))
            p = [builder.load(vector_at(V, builder.add(builder.mul(k, V_stride), number(8 * v))),
                              align=8) for v in range(vectors)]
            a = [builder.load(at(A, builder.add(builder.mul(A_stride, row[r]),
                                                t if by_position else k)))
                 for r in range(4)]
            zeros = ir.Constant(ir.VectorType(ir.IntType(32), 8), [0] * 8)
            new = []
            for (r, v), total in zip(cells, running):
                splat = builder.shuffle_vector(
                    builder.insert_element(ir.Constant(vec, ir.Undefined), a[r], number(0)),
                    ir.Constant(vec, ir.Undefined), zeros)
                new.append(builder.fadd(total, builder.fmul(splat, p[v])))
            if with_sums:
                new += [builder.fadd(total, a[r]) for r, total in enumerate(running[len(cells):])]
            t_next = builder.add(t, number(1))
            end = builder.block
            t.add_incoming(number(0), entry)
            t.add_incoming(t_next, end)
            for phi, first, value in zip(running, start, new):
                phi.add_incoming(first, entry)
                phi.add_incoming(value, end)
            builder.cbranch(builder.icmp_signed('<', t_next, n), loop, done)

            builder.position_at_end(done)
            final = []
            for first, value in zip(start, new):
                phi = builder.phi(first.type)
                phi.add_incoming(first, entry)
                phi.add_incoming(value, end)
                final.append(phi)
            for r in range(4):
                with builder.if_then(real[r]):
                    for v in range(vectors):
                        builder.store(final[r * vectors + v], acc_at(r, v), align=8)
                    if with_sums:
                        builder.store(final[len(cells) + r], at(sums, row[r]))
            return context.get_dummy_value()
        return types.void(*(types.intp,) * 10), codegen
    return panel


_panel_16, _panel_16_sums = _panel(2, False), _panel(2, True)
_panel_8, _panel_8_sums = _panel(1, False), _panel(1, True)
_panel_16_by_position, _panel_8_by_position = _panel(2, False, True), _panel(1, False, True)


@helper
def _panels_by_position(acc, acc_stride, A, A_stride, V, V_stride, terms, columns, rows):
    """acc[r, c] += A[r, t] * V[terms[t], c] for t in turn, over the columns 16 or 8 at a
    time (addresses and strides as _panel's); returns how many columns it did."""
    c, at, n = 0, np.intp(terms.ctypes.data), terms.shape[0]
    while c + 8 <= columns:
        if c + 16 <= columns:
            _panel_16_by_position(acc + 8 * c, acc_stride, A, A_stride, V + 8 * c, V_stride,
                                  at, n, 0, rows)
            c += 16
        else:
            _panel_8_by_position(acc + 8 * c, acc_stride, A, A_stride, V + 8 * c, V_stride,
                                 at, n, 0, rows)
            c += 8
    return c


# ----------------------------------------------------------------------------------
# The optimisers' updates, on arrays: optim's own per-parameter functions, compiled.
#
# optim computes `a * b + c` rounded once (as PyTorch's kernels do) with _exact_fma;
# here that is the processor's fused multiply-add (LLVM's llvm.fma, which is exact
# also where the processor has none). numba's cache only notices changes to this file:
# DEPENDS_ON holds a hash of the optim functions compiled into the loops below, and a
# test fails when it no longer matches, so that a change there changes this file too.

DEPENDS_ON = '1fdc2109ad30'


def dependency_hash():
    functions = (optim._exact_fma, optim._lerp, optim.sgd_update, optim.adam_update)
    return hashlib.sha1(''.join(map(inspect.getsource, functions)).encode()).hexdigest()[:12]


@intrinsic
def _fused_multiply_add(typingctx, a, b, c):
    def codegen(context, builder, signature, args):
        double = ir.DoubleType()
        fma = builder.module.declare_intrinsic('llvm.fma', [double],
                                               ir.FunctionType(double, [double] * 3))
        return builder.call(fma, args)
    return types.float64(types.float64, types.float64, types.float64), codegen


def _fma_implementation(a, b, c):
    def fma(a, b, c):
        return _fused_multiply_add(float(a), float(b), float(c))
    return fma


overload(optim._exact_fma)(_fma_implementation)
if hasattr(math, 'fma'):  # Python 3.13 and later: optim uses math.fma itself
    overload(math.fma)(_fma_implementation)
_lerp = helper(optim._lerp)
overload(optim._lerp)(lambda start, end, weight: lambda start, end, weight: _lerp(start, end, weight))
_sgd_update = helper(optim.sgd_update)
_adam_update = helper(optim.adam_update)

NO_UPDATE, SGD, ADAM = 0, KERNEL_KIND['sgd'], KERNEL_KIND['adam']  # update()'s kinds


@helper
def update(kind, pvals, pgrad, state, hyper, first):
    """Every parameter's update, as the optimiser object's step() makes it.

    SGD: hyper = lr, momentum, dampening, weight_decay, nesterov; state[0] the momentum
    buffers (their first step when `first`). Adam: hyper = lr, beta1, beta2, eps,
    weight_decay, decoupled, step_size, bias_correction2_sqrt; state[0], state[1] m and v.
    """
    if kind == SGD:
        lr, momentum, dampening, weight_decay, nesterov = (hyper[0], hyper[1], hyper[2],
                                                           hyper[3], hyper[4] != 0)
        for i in range(pvals.shape[0]):
            pvals[i], state[0, i] = _sgd_update(pvals[i], pgrad[i], state[0, i], first, lr,
                                                momentum, dampening, weight_decay, nesterov)
    elif kind == ADAM:
        betas = (hyper[1], hyper[2])
        for i in range(pvals.shape[0]):
            pvals[i], state[0, i], state[1, i] = _adam_update(
                pvals[i], pgrad[i], state[0, i], state[1, i], hyper[0], betas, hyper[3],
                hyper[4], hyper[5] != 0, hyper[6], hyper[7])


@helper
def _problem(loss, pgrad):
    """-1 if the loss is not finite, else the first parameter whose gradient is not, else -2."""
    if not math.isfinite(loss):
        return -1
    for i in range(pgrad.shape[0]):
        if not math.isfinite(pgrad[i]):
            return i
    return -2


@jit
def update_step(kind, pvals, pgrad, state, hyper, first, loss):
    """The finiteness check and the update, for steps whose forward and backward ran apart."""
    problem = _problem(loss, pgrad)
    if problem == -2:
        update(kind, pvals, pgrad, state, hyper, first)
    return problem


# ----------------------------------------------------------------------------------
# A whole training step over a batch, in one call: the model's tape over the batch, the
# loss's tape over the predictions, backward through both in the eager engine's order,
# the finiteness check and the update (see step._Batched for the Python it replaces).


@jit
def batched_step(sample, loss, link, X, y, pvals, pgrad, order, kind, state, hyper, first,
                 accumulate):
    (s_code, s_start, s_args, s_karg, s_needs, s_values, s_grads, s_scratch, s_work, s_lo,
     s_end) = sample
    l_code, l_start, l_args, l_karg, l_needs, l_v, l_g, l_lo, l_cut, l_end, l_out = loss
    inputs, output_rows, reached_rows, reached, predictions, targets = link
    P, B, n_out = pvals.shape[0], X.shape[0], output_rows.shape[0]
    for i in range(X.shape[1]):
        row = s_values[inputs + i]
        for k in range(B):
            row[k] = X[k, i]
    forward(s_code, s_start, s_args, s_karg, P, pvals, s_values, s_scratch, s_work, s_lo,
            s_code.shape[0])
    for k in range(B):  # sample k's output j is the loss's input predictions + k * n_out + j
        for j in range(n_out):
            l_v[predictions + k * n_out + j] = s_values[output_rows[j], k]
    for t in range(y.shape[0]):
        l_v[targets + t] = y[t]
    l_v[:P] = pvals
    forward_one(l_code, l_start, l_args, l_karg, l_v, l_lo, l_code.shape[0])
    value = l_v[l_out]
    # backward in the eager order: the loss's nodes after the first sample, the samples'
    # blocks (in `order`), then the loss's nodes before the first sample
    l_g[:] = 0.0
    if accumulate:  # leaves accumulate: the gradients are added to what pgrad holds
        l_g[:P] = pgrad
    l_g[l_out] += 1.0
    backward_one(l_code, l_start, l_args, l_karg, l_needs, l_v, l_g, l_cut, l_end)
    s_grads[:] = 0.0
    for r in range(reached.shape[0]):
        row = s_grads[reached_rows[r]]
        for k in range(B):
            row[k] = l_g[predictions + k * n_out + reached[r]]
    pgrad[:] = l_g[:P]
    backward(s_code, s_start, s_args, s_karg, s_needs, P, pvals, pgrad, s_values, s_grads,
             order, s_scratch, s_work, s_lo, s_end)
    l_g[:P] = pgrad
    backward_one(l_code, l_start, l_args, l_karg, l_needs, l_v, l_g, l_lo, l_cut)
    pgrad[:] = l_g[:P]
    problem = _problem(value, pgrad)
    if problem == -2:
        update(kind, pvals, pgrad, state, hyper, first)
    return value, problem


KERNELS = (forward_one, backward_one, forward, backward, update_step, batched_step)
