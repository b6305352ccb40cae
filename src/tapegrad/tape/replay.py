"""Replaying a tape: forward in order, backward in reverse, as the eager engine does.

A replay holds one row of numbers per slot (and one row of gradients). A row has one
number per sample: replaying a one-sample tape over a batch computes the same floats as
running the model on each sample, all at once. Parameters are not rows: slot p < P reads
`pvals[p]`, the same for every sample, and its gradient goes to `pgrad[p]`.

A parameter's gradient is a sum over samples, and floating-point sums depend on their
order: the replay adds the samples' contributions in `order`, the order in which the
eager engine's backward() visits them (for a batch tape, every parameter is read once
per sample, so that order is all there is to it).

`NumpyReplay` is the reference: its backward rules are the engine's `_BACKWARD`, line
for line, on rows instead of floats. The numba backend does the same in compiled loops.
"""

import math

import numpy as np

from ..engine import _exp, _log, _pow, _pow_number
from .tape import LEAVES


class Replay:
    """A tape's rows for a batch of `batch` samples; subclasses run forward and backward."""

    def __init__(self, tape, batch):
        self.tape, self.batch = tape, batch
        self.n_params = tape.n_params
        n_rows = tape.n_slots - self.n_params
        self.values = np.zeros((n_rows, batch))
        self.grads = np.zeros((n_rows, batch))
        self.needs = np.array(tape.needs_grad(), dtype=bool)
        # the leaves come first: replays start at the first instruction that computes
        self.first = next((n for n, i in enumerate(tape.instructions) if i.op not in LEAVES),
                          len(tape.instructions))
        input_rows = [i.out[0] - self.n_params for i in tape.instructions if i.op == 'input']
        self.inputs = slice(input_rows[0], input_rows[-1] + 1) if input_rows else slice(0, 0)
        for ins in tape.instructions:
            if ins.op == 'const':
                self.values[ins.out[0] - self.n_params] = ins.arg

    def row(self, slot):
        """The values of a slot that is not a parameter, one per sample."""
        return self.values[slot - self.n_params]

    def grad_row(self, slot):
        return self.grads[slot - self.n_params]


def _each(f, *rows):
    """f applied number by number with the engine's own scalar function.

    NumPy's exp, log, tanh and power are vectorised approximations that can differ
    from the C library's (which the engine uses) in the last bit.
    """
    n = max(np.size(r) for r in rows)
    columns = [np.broadcast_to(r, (n,)).tolist() for r in rows]
    return np.array(list(map(f, *columns)), dtype=float)


def _fold(total, terms):
    """total + terms[0] + terms[1] + ..., left to right: what `grad += term` gives, term by term."""
    for term in terms.tolist():
        total += term
    return total


FORWARD = {
    '+': lambda a, b, k: a + b,
    '*': lambda a, b, k: a * b,
    '/': lambda a, b, k: a / b,  # IEEE division, as the engine's _div
    '**': lambda x, w, k: _each(_pow, x, w),
    '**k': lambda x, k: _each(lambda v: _pow_number(v, k), x),
    'exp': lambda x, k: _each(_exp, x),
    'log': lambda x, k: _each(_log, x),
    'tanh': lambda x, k: _each(math.tanh, x),
    'sigmoid': lambda x, k: 1.0 / (1.0 + _each(_exp, -x)),
    'relu': lambda x, k: np.where(x < 0, 0.0, x),  # -0.0 and nan stay
}


class NumpyReplay(Replay):
    """Forward and backward with one NumPy operation per instruction (per term of a dot)."""

    def forward(self, pvals, lo=0, hi=None):
        self.pvals = pvals
        with np.errstate(all='ignore'):
            for ins in self.tape.instructions[max(lo, self.first):hi]:
                if ins.op == 'matvec':
                    self._matvec_forward(ins)
                elif ins.op == 'dot':
                    self._store(ins.out[0], self._dot(ins.args))
                elif ins.op not in LEAVES:
                    self._store(ins.out[0], FORWARD[ins.op](*map(self.value, ins.args), ins.arg))

    def backward(self, pvals, pgrad, order, lo=0, hi=None):
        """Add the gradients of instructions[lo:hi] (hi: backward_end) into their operands.

        The caller zeroes `grads` and seeds the loss's gradient before the first call.
        """
        self.pvals, self.pgrad, self.order = pvals, pgrad, order
        hi = self.tape.backward_end if hi is None else hi
        with np.errstate(all='ignore'):
            for ins in reversed(self.tape.instructions[max(lo, self.first):hi]):
                if ins.op in LEAVES or not self.needs[ins.out[0]]:
                    continue
                if ins.op == 'matvec':
                    self._matvec_backward(ins)
                else:
                    BACKWARD[ins.op](self, ins, *map(self.value, ins.args))

    def value(self, slot):
        return self.pvals[slot] if slot < self.n_params else self.row(slot)

    def _store(self, slot, value):
        self.row(slot)[:] = value

    def _dot(self, args):
        total = self.value(args[0])
        for a, x in zip(args[1::2], args[2::2]):
            total = total + self.value(a) * self.value(x)
        return total

    def add_grad(self, slot, term):
        """slot.grad += term: per sample for a row, summed in sample order for a parameter."""
        if not self.needs[slot]:
            return
        if slot < self.n_params:
            terms = np.broadcast_to(term, (self.batch,))[self.order]
            self.pgrad[slot] = _fold(self.pgrad[slot], terms)
        else:
            self.grad_row(slot)[:] += term

    # -- matvec: m dots that share their inputs x, as matrices -------------------------

    def _matvec_parts(self, ins):
        m, n = ins.arg
        x = list(ins.args[:n])
        W = np.array(ins.args[n:n + m * n]).reshape(m, n)
        b = np.array(ins.args[n + m * n:])
        return x, W, b, [s - self.n_params for s in ins.out]

    def _matvec_forward(self, ins):
        x, W, b, out = self._matvec_parts(ins)
        X, Wv = self.values[[s - self.n_params for s in x]], self.pvals[W]
        Z = np.repeat(self.pvals[b][:, None], self.batch, axis=1)
        for i in range(len(x)):  # b + W[:, 0] x0 + W[:, 1] x1 + ..., each neuron in its own order
            Z += Wv[:, i, None] * X[i]
        self.values[out] = Z

    def _matvec_backward(self, ins):
        x, W, b, out = self._matvec_parts(ins)
        G, Wv = self.grads[out], self.pvals[W]
        rows = [s - self.n_params for s in x]
        needed = self.needs[x]
        if needed.any():  # each x gets the last neuron's term first, as from the dots
            GX = self.grads[rows]
            for j in reversed(range(len(out))):
                GX += Wv[j][:, None] * G[j]
            self.grads[np.array(rows)[needed]] = GX[needed]
        X = self.values[rows]
        gW, gb = self.pgrad[W], self.pgrad[b]
        for k in self.order.tolist():
            gW += np.outer(G[:, k], X[:, k])
            gb += G[:, k]
        self.pgrad[W], self.pgrad[b] = gW, gb


# ----------------------------------------------------------------------------------
# Backward rules: the engine's, with rows for floats. `g` is the output's gradient row.


def _add_backward(r, ins, a, b):
    g = r.grad_row(ins.out[0])
    r.add_grad(ins.args[0], g)
    r.add_grad(ins.args[1], g)


def _mul_backward(r, ins, a, b):
    g = r.grad_row(ins.out[0])
    r.add_grad(ins.args[0], g * b)
    r.add_grad(ins.args[1], g * a)


def _div_backward(r, ins, a, b):
    g = r.grad_row(ins.out[0])
    r.add_grad(ins.args[0], g / b)
    r.add_grad(ins.args[1], -g * ((a / b) / b))


def _pow_const_backward(r, ins, x):
    k = ins.arg
    if k != 0:
        slope = k * _each(lambda v: _pow_number(v, k - 1.0), x)
        r.add_grad(ins.args[0], r.grad_row(ins.out[0]) * slope)


def _pow_backward(r, ins, x, w):
    g, out = r.grad_row(ins.out[0]), r.row(ins.out[0])
    # adding 0.0 where the engine adds nothing changes no gradient: they start at +0.0
    r.add_grad(ins.args[0], np.where(w != 0, g * (w * _each(_pow, x, w - 1.0)), 0.0))
    r.add_grad(ins.args[1], g * np.where((x == 0) & (w >= 0), 0.0, out * _each(_log, x)))


def _exp_backward(r, ins, x):
    r.add_grad(ins.args[0], r.grad_row(ins.out[0]) * r.row(ins.out[0]))


def _log_backward(r, ins, x):
    r.add_grad(ins.args[0], r.grad_row(ins.out[0]) / x)


def _tanh_backward(r, ins, x):
    out = r.row(ins.out[0])
    r.add_grad(ins.args[0], r.grad_row(ins.out[0]) * (1.0 - out * out))


def _sigmoid_backward(r, ins, x):
    out = r.row(ins.out[0])
    r.add_grad(ins.args[0], r.grad_row(ins.out[0]) * (1.0 - out) * out)


def _relu_backward(r, ins, x):
    r.add_grad(ins.args[0], np.where(r.row(ins.out[0]) <= 0, 0.0, r.grad_row(ins.out[0])))


def _dot_backward(r, ins, *operands):
    """The chain's '+' and '*' nodes in the engine's order: last term first, the base
    (added by the first '+') just before the first term's product."""
    g, args = r.grad_row(ins.out[0]), ins.args
    for t in reversed(range(len(args) // 2)):
        if t == 0:
            r.add_grad(args[0], g)
        a, x = 1 + 2 * t, 2 + 2 * t
        r.add_grad(args[a], g * operands[x])
        r.add_grad(args[x], g * operands[a])


BACKWARD = {
    '+': _add_backward,
    '*': _mul_backward,
    '/': _div_backward,
    '**k': _pow_const_backward,
    '**': _pow_backward,
    'exp': _exp_backward,
    'log': _log_backward,
    'tanh': _tanh_backward,
    'sigmoid': _sigmoid_backward,
    'relu': _relu_backward,
    'dot': _dot_backward,
}
