"""fit()'s steps on the tape, with the parameters, gradients and optimizer state in arrays.

The eager engine keeps every number in a Value; a step on the tape needs them as arrays.
Moving them back and forth at every step, and updating 10,000 parameters in a Python
loop, would cost more than the step itself. So while fit() trains on the tape, a
`Trainer` owns three kinds of flat float64 arrays: the parameters' numbers, their
gradients, and the optimizer's running state (momentum buffers, Adam's moments); and a
step (forward, loss, backward, the finiteness check and the update) is one call of
compiled code (with numba; NumPy's replay and a loop over the parameters without it).

The Values and the optimizer object hold the current numbers whenever user code can look
at them: fit() calls `publish()` before a callback, a checkpoint, an error, Ctrl-C and
its return, and `resume()` after the callback, which reads them back in case it changed
them. The update is the optimizer's own (optim.sgd_update and optim.adam_update, which
its step() applies to each Value), so the numbers are the same bits either way.
"""

import operator

import numpy as np

from .. import optim
from .api import _read, _write_grads

# optim's update rules that run on arrays: an optimizer of one of these classes (not a
# subclass, whose step() may do anything) is updated by the compiled loops
SGD, ADAM, PYTHON = 'sgd', 'adam', 'python'
KERNEL_KIND = {SGD: 1, ADAM: 2}  # the codes replay_numba.update takes


def update_unless_not_finite(value, pvals, pgrad, update, hyper, compiled):
    """None after updating the parameters, or what is not finite (-1: the loss; i: the
    gradient of parameter i), updating nothing. `compiled`: with numba's loops."""
    if compiled and update.kind != PYTHON:
        from .replay_numba import update_step
        problem = update_step(KERNEL_KIND[update.kind], pvals, pgrad, update.state, hyper,
                              update.first, value)
        return None if problem == -2 else problem
    if not np.isfinite(value):
        return -1
    bad = np.flatnonzero(~np.isfinite(pgrad))
    if len(bad):
        return int(bad[0])
    if update.kind != PYTHON:
        update.in_python(pvals, pgrad, hyper)
    return None


def holds_all(optimizer, params):
    """Does the optimizer update exactly these parameters, in this order?"""
    held = getattr(optimizer, 'params', ())
    return len(held) == len(params) and all(map(operator.is_, held, params))


class Update:
    """An optimizer's update, on arrays: which rule, its state, its settings for a step."""

    def __init__(self, optimizer, n, holds_all=True):
        self.optimizer = optimizer
        if not holds_all:
            # it updates some of the parameters (a frozen layer), or in another order: its
            # own step() on the Values
            self.kind, self.first, self.state = PYTHON, False, np.zeros((0, n))
        elif type(optimizer) is optim.SGD:
            self.kind = SGD
            buffers = optimizer.momentum_buffer
            self.first = buffers is None
            self.state = np.zeros((1, n)) if buffers is None else np.array([buffers], dtype=float)
        elif type(optimizer) in (optim.Adam, optim.AdamW):
            self.kind = ADAM
            self.first = False
            self.state = np.array([optimizer.exp_avg, optimizer.exp_avg_sq], dtype=float)
        else:
            self.kind, self.first, self.state = PYTHON, False, np.zeros((0, n))

    def begin(self):
        """The settings of the coming step, as an array (Adam counts the step here)."""
        if self.kind == ADAM:
            self.optimizer.step_count += 1
            lr, (beta1, beta2), *rest = self.optimizer.rule_settings()
            return np.array([lr, beta1, beta2, *rest], dtype=float)
        if self.kind == SGD:
            return np.array(self.optimizer.rule_settings(), dtype=float)
        return np.zeros(0)

    def end(self, updated):
        """After the step: it updated the parameters, or (not finite) it did not."""
        if updated:
            self.first = False
        elif self.kind == ADAM:
            self.optimizer.step_count -= 1

    def publish(self):
        """Put the running state back into the optimizer object."""
        if self.kind == SGD and not self.first and self.optimizer.momentum != 0:
            self.optimizer.momentum_buffer = self.state[0].tolist()
        elif self.kind == ADAM:
            self.optimizer.exp_avg = self.state[0].tolist()
            self.optimizer.exp_avg_sq = self.state[1].tolist()

    def in_python(self, pvals, pgrad, hyper):
        """The same update, parameter by parameter in Python (the NumPy backend's)."""
        p, g, state = pvals.tolist(), pgrad.tolist(), self.state.tolist()
        if self.kind == SGD:
            lr, momentum, dampening, weight_decay, nesterov = hyper.tolist()
            for i in range(len(p)):
                p[i], state[0][i] = optim.sgd_update(p[i], g[i], state[0][i], self.first, lr,
                                                     momentum, dampening, weight_decay,
                                                     bool(nesterov))
        elif self.kind == ADAM:
            lr, beta1, beta2, eps, weight_decay, decoupled, step_size, bc2 = hyper.tolist()
            for i in range(len(p)):
                p[i], state[0][i], state[1][i] = optim.adam_update(
                    p[i], g[i], state[0][i], state[1][i], lr, (beta1, beta2), eps,
                    weight_decay, bool(decoupled), step_size, bc2)
        pvals[:] = p
        self.state[:] = state


class Trainer:
    """fit()'s steps on the tape (a TapeStep), with its state in arrays (see the module doc).

    `train(X, y)` takes one step: (the loss, the model's outputs as an array of a row per
    sample, and None, or what was not finite: -1 for the loss, i for parameter i's
    gradient, in which case nothing was updated).
    """

    engine = 'tape'

    def __init__(self, step, optimizer):
        self.step, self.optimizer = step, optimizer
        self.params = None
        self.published = True  # the Values and the optimizer hold what the arrays hold

    def resume(self):
        """Read the parameters and the optimizer's state (user code may have changed them),
        and trace the model and loss again to follow any number it changed."""
        if self.params is not None:
            self.step.refresh()
        self.params = self.step.parameters()
        self.pvals = _read(self.params)
        self.pgrad = np.zeros(len(self.params))
        self.update = Update(self.optimizer, len(self.params),
                             holds_all(self.optimizer, self.params))
        self.published = True

    def publish(self):
        """Make the Values (.data, .grad) and the optimizer hold the current numbers."""
        if self.published:
            return
        for p, number in zip(self.params, self.pvals.tolist()):
            p.data = number
        _write_grads(self.params, self.pgrad)
        self.update.publish()
        self.published = True

    def train(self, X, y, y_flat=None):
        if self.params is None:
            self.resume()
        self.published = False
        hyper = self.update.begin()
        try:
            value, outputs, problem = self.step.train_arrays(X, y, self.pvals, self.pgrad,
                                                             self.update, hyper, y_flat)
        except BaseException:  # (the tape's NotReplayable, say) nothing was updated
            self.update.end(False)
            raise
        if problem is None and self.update.kind == PYTHON:  # an optimizer of the user's own
            self.publish()
            self.optimizer.step()
            self.pvals = _read(self.params)
        self.update.end(problem is None)
        return value, outputs, problem
