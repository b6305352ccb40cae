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

import math

import numpy as np
from numba import njit

from ..engine import OPS
from .replay import Replay
from .tape import LEAVES, Instruction, Tape
from .trace import TapeError

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


def lower(tape):
    """The tape as arrays: code[n] = (op, first output slot, m, width), start, args, karg.

    For a matvec, m is the number of neurons and width that of inputs; otherwise m is 1.
    """
    missing = sorted({i.op for i in tape.instructions} - set(OPCODES))
    if missing:
        raise MissingKernel(f"numba's loops have no formula for the op(s) "
                            f"{', '.join(map(repr, missing))} (see 'Adding an op' in the README)")
    code = np.zeros((len(tape.instructions), 4), dtype=np.int64)
    karg = np.zeros(len(tape.instructions))
    start = np.zeros(len(tape.instructions) + 1, dtype=np.int64)
    args = []
    for n, ins in enumerate(tape.instructions):
        m, width = ins.arg if ins.op == 'matvec' else (1, len(ins.args))
        code[n] = OPCODES[ins.op], ins.out[0], m, width
        if ins.op in OPS and OPS[ins.op].takes_number:
            karg[n] = ins.arg
        args.extend(ins.args)
        start[n + 1] = len(args)
    return code, start, np.array(args, dtype=np.int64), karg


class NumbaReplay(Replay):
    """Forward and backward over a tape with the compiled loops below."""

    def __init__(self, tape, batch):
        super().__init__(tape, batch)
        self.code, self.start, self.args, self.karg = lower(tape)
        if batch == 1:  # one flat array of all slots, parameters first; rows are views
            P = self.n_params
            self.flat = np.concatenate([np.zeros(P), self.values[:, 0]])
            self.flat_grads = np.zeros_like(self.flat)
            self.values = self.flat[P:].reshape(-1, 1)
            self.grads = self.flat_grads[P:].reshape(-1, 1)
        else:  # rows the compiled loops work in, made once here
            self.scratch = np.empty((4, batch))

    def forward(self, pvals, lo=0, hi=None):
        lo, hi = max(lo, self.first), len(self.code) if hi is None else hi
        if self.batch == 1:
            self.flat[:self.n_params] = pvals
            forward_one(self.code, self.start, self.args, self.karg, self.flat, lo, hi)
        else:
            forward(self.code, self.start, self.args, self.karg, self.n_params, pvals,
                    self.values, self.scratch, lo, hi)

    def backward(self, pvals, pgrad, order, lo=0, hi=None):
        lo, hi = max(lo, self.first), self.tape.backward_end if hi is None else hi
        if self.batch == 1:
            self.flat_grads[:self.n_params] = pgrad
            backward_one(self.code, self.start, self.args, self.karg, self.needs, self.flat,
                         self.flat_grads, lo, hi)
            pgrad[:] = self.flat_grads[:self.n_params]
        else:
            backward(self.code, self.start, self.args, self.karg, self.needs, self.n_params,
                     pvals, pgrad, self.values, self.grads, order, self.scratch, lo, hi)


def is_cached():
    """Does numba's cache hold the loops, compiled from this very source file?

    Reads numba's cache index (numba internals: if they have moved, the answer is no
    and the caller compiles as it would on a new machine).
    """
    try:
        return all(kernel._cache._cache_file._load_index()
                   for kernel in (forward_one, backward_one, forward, backward))
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
    """Compile the four loops (or load them from numba's cache) for the types replays use.

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
        if op == DOT or op == MATVEC:
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
# A batch, forward: values[slot - P] is a slot's row, one value per sample; a
# parameter's value pvals[p] is the same for every sample


@helper
def _row(slot, P, pvals, values, scratch):
    """A slot's values for every sample: its row, or a parameter's value copied into scratch."""
    if slot >= P:
        return values[slot - P]
    for k in range(scratch.shape[0]):
        scratch[k] = pvals[slot]
    return scratch


@jit
def forward(code, start, args, karg, P, pvals, values, scratch, lo, hi):
    for n in range(lo, hi):
        op = code[n, 0]
        if op == LEAF:
            continue
        out, m, width = code[n, 1] - P, code[n, 2], code[n, 3]
        a = args[start[n]:start[n + 1]]
        if op == MATVEC:  # args: x (width), W (m rows of width), b (m); W and b are parameters
            for j in range(m):
                dest, bias = values[out + j], pvals[a[width * (1 + m) + j]]
                for k in range(dest.shape[0]):
                    dest[k] = bias
                for i in range(width):
                    w, row = pvals[a[width * (1 + j) + i]], values[a[i] - P]
                    for k in range(dest.shape[0]):
                        dest[k] += w * row[k]
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
            dest = values[out]
            for k in range(dest.shape[0]):
                dest[k] = _op(op, x[k], y[k], karg[n])


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


@helper
def _matvec_backward(out, m, width, a, needs, P, pvals, pgrad, values, grads, order):
    """m dots with parameters for weights and biases, sharing distinct inputs x."""
    x, W, b = a[:width], a[width:width * (1 + m)], a[width * (1 + m):]
    B = values.shape[1]
    # the inputs' gradients: the last neuron's term first, as from the dots one by one
    for i in range(width):
        if needs[x[i]]:
            row = grads[x[i] - P]
            for j in range(m - 1, -1, -1):
                w, g = pvals[W[j * width + i]], grads[out + j - P]
                for k in range(B):
                    row[k] += g[k] * w
    # the parameters' gradients, sample by sample in `order`
    X = np.empty((B, width))  # the inputs, a row per sample
    for i in range(width):
        for k in range(B):
            X[k, i] = values[x[i] - P, k]
    gW = np.empty((width, m))  # gW[i, j]: the gradient of W[j, i]
    gb = np.empty(m)
    for j in range(m):
        gb[j] = pgrad[b[j]]
        for i in range(width):
            gW[i, j] = pgrad[W[j * width + i]]
    if m >= width:  # vectorise over the neurons
        G = np.empty((B, m))
        for j in range(m):
            for k in range(B):
                G[k, j] = grads[out + j - P, k]
        for k in order:
            for j in range(m):
                gb[j] += G[k, j]
            for i in range(width):
                for j in range(m):
                    gW[i, j] += G[k, j] * X[k, i]
    else:  # vectorise over the weights of a neuron
        gW_j = np.empty(width)
        for j in range(m):
            g = grads[out + j - P]
            for i in range(width):
                gW_j[i] = gW[i, j]
            for k in order:
                gb[j] += g[k]
                for i in range(width):
                    gW_j[i] += g[k] * X[k, i]
            for i in range(width):
                gW[i, j] = gW_j[i]
    for j in range(m):
        pgrad[b[j]] = gb[j]
        for i in range(width):
            pgrad[W[j * width + i]] = gW[i, j]


@jit
def backward(code, start, args, karg, needs, P, pvals, pgrad, values, grads, order, scratch,
             lo, hi):
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
            _matvec_backward(out, m, width, a, needs, P, pvals, pgrad, values, grads, order)
        else:  # a[-1]: the second operand, or the only one again
            x = _row(a[0], P, pvals, values, scratch[0])
            y = _row(a[-1], P, pvals, values, scratch[1])
            g, z, dx, dy = grads[out - P], values[out - P], scratch[2], scratch[3]
            for k in range(g.shape[0]):
                dx[k], dy[k] = _op_grads(op, x[k], y[k], z[k], g[k], karg[n])
            _add_row(a[0], dx, needs, P, pgrad, grads, order)
            if a.shape[0] == 2:
                _add_row(a[1], dy, needs, P, pgrad, grads, order)
