"""Replaying a tape: forward in order, backward in reverse, as the eager engine does.

A replay holds one row of numbers per slot (and one row of gradients). A row has one
number per sample: replaying a one-sample tape over a batch computes the same floats as
running the model on each sample, all at once. Parameters are not rows: slot p < P reads
`pvals[p]`, the same for every sample, and its gradient goes to `pgrad[p]`.

A parameter's gradient is a sum over samples, and floating-point sums depend on their
order: the replay adds the samples' contributions in `order`, the order in which the
eager engine's backward() visits them (for a batch tape, every parameter is read once
per sample, so that order is all there is to it).

`NumpyReplay` is the reference. An op of the engine's table runs in one of two ways:
its vectorised form in `VECTORISED` below (the engine's formula on rows instead of
floats), or, for an op that has none, the engine's own method and rule number by
number (`Elementwise`): slower, and the same bits by construction. The numba backend
does the same in compiled loops.
"""

import math

import numpy as np

from .. import ieee
from ..engine import OPS, Value
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


class NumpyReplay(Replay):
    """Forward and backward with one NumPy operation per instruction (per term of a dot)."""

    def __init__(self, tape, batch):
        super().__init__(tape, batch)
        self.rules = {op: rows_rule(op) for op in {i.op for i in tape.instructions} if op in OPS}

    def forward(self, pvals, lo=0, hi=None):
        self.pvals = pvals
        with np.errstate(all='ignore'):
            for ins in self.tape.instructions[max(lo, self.first):hi]:
                if ins.op == 'matvec':
                    self._matvec_forward(ins)
                elif ins.op == 'dot':
                    self._store(ins.out[0], self._dot(ins.args))
                elif ins.op not in LEAVES:
                    self._store(ins.out[0], self.rules[ins.op].forward(
                        *map(self.value, ins.args), ins.arg))

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
                elif ins.op == 'dot':
                    self._dot_backward(ins)
                else:
                    g, out = self.grad_row(ins.out[0]), self.row(ins.out[0])
                    terms = self.rules[ins.op].backward(g, out, *map(self.value, ins.args),
                                                        ins.arg)
                    for slot, term in zip(ins.args, terms):  # in the rule's order
                        if term is not None:
                            self.add_grad(slot, term)

    def value(self, slot):
        return self.pvals[slot] if slot < self.n_params else self.row(slot)

    def _store(self, slot, value):
        self.row(slot)[:] = value

    def _dot(self, args):
        total = self.value(args[0])
        for a, x in zip(args[1::2], args[2::2]):
            total = total + self.value(a) * self.value(x)
        return total

    def _dot_backward(self, ins):
        """The chain's '+' and '*' nodes in the engine's order: last term first, the base
        (added by the first '+') just before the first term's product."""
        g, args = self.grad_row(ins.out[0]), ins.args
        for t in reversed(range(len(args) // 2)):
            if t == 0:
                self.add_grad(args[0], g)
            a, x = args[1 + 2 * t], args[2 + 2 * t]
            self.add_grad(a, g * self.value(x))
            self.add_grad(x, g * self.value(a))

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
        # group_matvecs makes sure W and b hold distinct parameters, so the gradients can
        # be gathered, summed and scattered back as arrays
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
# The engine's ops on rows. Each op's forward(*rows, k) gives its output row; its
# backward(g, out, *rows, k) gives, in the order the engine's rule adds them, each
# input's term (None where the rule adds nothing); g is the output's gradient row.


def rows_rule(op):
    """The engine's op `op` on rows: its vectorised form, or the engine's own, number by number."""
    return VECTORISED.get(op) or Elementwise(OPS[op])


class Vectorised:
    def __init__(self, forward, backward):
        self.forward, self.backward = forward, backward


class Elementwise:
    """An op with no vectorised form: the engine's method and rule, one number at a time."""

    def __init__(self, op):
        self.op = op

    def _node(self, numbers, k):
        inputs = [Value(x) for x in numbers]
        return inputs, self.op.call(*inputs, *([k] if self.op.takes_number else []))

    def forward(self, *rows_and_k):
        *rows, k = rows_and_k
        return _each(lambda *numbers: self._node(numbers, k)[1].data, *rows)

    def backward(self, g, out, *rows_and_k):
        *rows, k = rows_and_k
        columns = [[] for _ in rows]
        for numbers in zip(*(np.broadcast_to(r, g.shape).tolist() for r in (g,) + tuple(rows))):
            inputs, node = self._node(numbers[1:], k)
            node.grad = numbers[0]
            self.op.rule(node)
            for column, x in zip(columns, inputs):
                column.append(x.grad)
        return [np.array(column) for column in columns]


def _pow_backward(g, out, x, w, k):
    # adding 0.0 where the engine adds nothing changes no gradient: they start at +0.0
    return (np.where(w != 0, g * (w * _each(ieee.pow, x, w - 1.0)), 0.0),
            g * np.where((x == 0) & (w >= 0), 0.0, out * _each(ieee.log, x)))


def _pow_number_backward(g, out, x, k):
    return (g * (k * _each(lambda v: ieee.pow_number(v, k - 1.0), x)) if k != 0 else None,)


VECTORISED = {
    '+': Vectorised(lambda a, b, k: a + b,
                    lambda g, out, a, b, k: (g, g)),
    '*': Vectorised(lambda a, b, k: a * b,
                    lambda g, out, a, b, k: (g * b, g * a)),
    '/': Vectorised(lambda a, b, k: a / b,  # IEEE division, as ieee.div
                    lambda g, out, a, b, k: (g / b, -g * ((a / b) / b))),
    '**': Vectorised(lambda x, w, k: _each(ieee.pow, x, w), _pow_backward),
    '**k': Vectorised(lambda x, k: _each(lambda v: ieee.pow_number(v, k), x),
                      _pow_number_backward),
    'exp': Vectorised(lambda x, k: _each(ieee.exp, x),
                      lambda g, out, x, k: (g * out,)),
    'log': Vectorised(lambda x, k: _each(ieee.log, x),
                      lambda g, out, x, k: (g / x,)),
    'tanh': Vectorised(lambda x, k: _each(math.tanh, x),
                       lambda g, out, x, k: (g * (1.0 - out * out),)),
    'sigmoid': Vectorised(lambda x, k: 1.0 / (1.0 + _each(ieee.exp, -x)),
                          lambda g, out, x, k: (g * (1.0 - out) * out,)),
    'relu': Vectorised(lambda x, k: np.where(x < 0, 0.0, x),  # -0.0 and nan stay
                       lambda g, out, x, k: (np.where(out <= 0, 0.0, g),)),
}
