"""Optimisers and learning-rate schedules with PyTorch's names, arguments and arithmetic.

An optimiser holds a list of Values (usually `model.parameters()`); `step()` moves each
`p.data` against `p.grad`, and `zero_grad()` clears the grads before the next backward():

    >>> from tapegrad import Value
    >>> w = Value(3.0)
    >>> opt = SGD([w], lr=0.1)
    >>> for _ in range(3):
    ...     opt.zero_grad()
    ...     loss = w * w
    ...     loss.backward()
    ...     opt.step()
    >>> round(w.data, 6)        # 3 * 0.8**3: each step multiplies w by 1 - 2*lr
    1.536

Each update is torch.optim's single-tensor formula, operation for operation and rounding
for rounding, so in float64 the parameters follow PyTorch's trajectory step after step.
`state_dict()` is plain data (floats, ints, lists) that json can write, and
`load_state_dict()` of it continues a run exactly as if it had never stopped.
"""

import math

from .engine import Value
from .validate import real_number, whole_number


def _exact_fma(a, b, c):
    """a * b + c rounded once, from the exact integer fractions of the three floats."""
    try:
        (na, da), (nb, db), (nc, dc) = (a.as_integer_ratio(), b.as_integer_ratio(),
                                        c.as_integer_ratio())
        exact = na * nb * dc + nc * da * db
        if exact == 0:  # a zero has a sign, which the integers lost: IEEE's is that of
            return a * b + c  # a*b + c (0 * b is exact; a nonzero a*b equal to -c as well)
        return exact / (da * db * dc)  # int / int rounds once
    except (OverflowError, ValueError):  # inf or nan given, or a result beyond float range
        return a * b + c


# PyTorch's CPU kernels compute `x + alpha * y` (add with alpha, lerp, addcmul) as one fused
# multiply-add, rounded once rather than twice; doing the same keeps us on its trajectory.
# math.fma exists from Python 3.13.
_fma = getattr(math, 'fma', _exact_fma)


def _lerp(start, end, weight):
    """start + weight * (end - start), rounded as torch.lerp rounds it."""
    if abs(weight) < 0.5:
        return _fma(weight, end - start, start)
    return _fma(start - end, 1 - weight, end)


# ----------------------------------------------------------------------------------
# One parameter's update, as torch.optim computes it. The optimisers below apply these to
# each Value; the tape applies the same functions to arrays (compiled by numba, with a
# fused multiply-add for _fma), so both give the same bits.


def sgd_update(p, grad, buf, first, lr, momentum, dampening, weight_decay, nesterov):
    """One SGD step of one parameter: (its new value, its new momentum buffer)."""
    if weight_decay != 0:
        grad = _fma(weight_decay, p, grad)
    if momentum != 0:
        buf = grad if first else _fma(1 - dampening, grad, buf * momentum)
        grad = _fma(momentum, buf, grad) if nesterov else buf
    return _fma(-lr, grad, p), buf


def adam_update(p, grad, m, v, lr, betas, eps, weight_decay, decoupled, step_size,
                bias_correction2_sqrt):
    """One Adam (AdamW if `decoupled`) step of one parameter: (new value, new m, new v)."""
    beta1, beta2 = betas
    if weight_decay != 0:
        if decoupled:
            p = p * (1 - lr * weight_decay)
        else:
            grad = _fma(weight_decay, p, grad)
    m = _lerp(m, grad, 1 - beta1)
    v = _fma((1 - beta2) * grad, grad, v * beta2)
    denom = math.sqrt(v) / bias_correction2_sqrt + eps
    return p + -step_size * m / denom, m, v


def _check_state(owner, state, names):
    """`state` must have exactly the keys `names`, as the matching state_dict() gives."""
    if not isinstance(state, dict) or set(state) != set(names):
        keys = sorted(state) if isinstance(state, dict) else type(state).__name__
        raise ValueError(f"{owner}.load_state_dict: expected the keys {sorted(names)}, got "
                         f"{keys}; pass what {owner}.state_dict() returned")


# ----------------------------------------------------------------------------------
# Optimisers


class Optimizer:
    """A list of parameters and the settings and running state a subclass's step() uses.

    Subclasses name the settings and the per-parameter buffers that make up their state.
    """

    _settings = ()  # hyper-parameters and counters, saved by state_dict()
    _buffers = ()   # one float per parameter (or None before the first step)

    def __init__(self, params):
        name = type(self).__name__
        if hasattr(params, 'parameters'):
            raise TypeError(f"{name} takes a list of Values: pass model.parameters(), "
                            "not the model")
        self.params = list(params)
        if not self.params:
            raise ValueError(f"{name} got an empty list of parameters; "
                             "pass model.parameters()")
        for i, p in enumerate(self.params):
            if not isinstance(p, Value):
                raise TypeError(f"{name}: parameter {i} must be a Value, "
                                f"got {type(p).__name__}: {p!r}")

    def zero_grad(self):
        """Set every parameter's grad to 0, ready for the next backward()."""
        for p in self.params:
            p.grad = 0.0

    def state_dict(self):
        """The settings and running state as plain data: json.dumps() can write it."""
        state = {name: _plain(getattr(self, name)) for name in self._settings}
        for name in self._buffers:
            buffer = getattr(self, name)
            state[name] = None if buffer is None else list(buffer)
        return state

    def load_state_dict(self, state):
        """Take up a state_dict(): the next steps are those of the run that saved it."""
        name = type(self).__name__
        _check_state(name, state, self._settings + self._buffers)
        for key in self._buffers:
            buffer = state[key]
            if buffer is not None and len(buffer) != len(self.params):
                raise ValueError(f"{name}.load_state_dict: '{key}' holds {len(buffer)} "
                                 f"values for {len(self.params)} parameters; was it saved "
                                 "from another model?")
        for key in self._settings:
            value = state[key]
            setattr(self, key, tuple(value) if isinstance(value, list) else value)
        for key in self._buffers:
            setattr(self, key, None if state[key] is None else [float(x) for x in state[key]])


def _plain(value):
    return list(value) if isinstance(value, tuple) else value


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with momentum (heavy ball or Nesterov).

    With the defaults a step is `p.data -= lr * p.grad`, rounded once as in PyTorch (the
    seeds' and micrograd's loops round lr * p.grad first, so they can differ in the last
    bit). Momentum keeps a running
    velocity per parameter, buf = momentum * buf + (1 - dampening) * grad, and steps along
    it; Nesterov steps along grad + momentum * buf instead. weight_decay adds
    weight_decay * p to each gradient (an L2 penalty).
    """

    _settings = ('lr', 'momentum', 'dampening', 'weight_decay', 'nesterov')
    _buffers = ('momentum_buffer',)

    def __init__(self, params, lr, momentum=0, dampening=0, weight_decay=0, nesterov=False):
        super().__init__(params)
        self.lr = real_number('SGD: lr', lr)
        self.momentum = real_number('SGD: momentum', momentum)
        self.dampening = real_number('SGD: dampening', dampening)
        self.weight_decay = real_number('SGD: weight_decay', weight_decay)
        if nesterov and (self.momentum == 0 or self.dampening != 0):
            raise ValueError(f"SGD: nesterov=True needs momentum > 0 and dampening = 0, got "
                             f"momentum={momentum!r}, dampening={dampening!r}")
        self.nesterov = bool(nesterov)
        self.momentum_buffer = None  # made from the first step's gradients

    def step(self):
        """Move every parameter one step against its gradient."""
        first = self.momentum_buffer is None
        buffers = [0.0] * len(self.params) if first else self.momentum_buffer
        settings = self.rule_settings()
        for i, p in enumerate(self.params):
            p.data, buffers[i] = sgd_update(p.data, p.grad, buffers[i], first, *settings)
        if self.momentum != 0:
            self.momentum_buffer = buffers

    def rule_settings(self):
        """What sgd_update takes after the parameter, its gradient, buffer and first-step flag."""
        return self.lr, self.momentum, self.dampening, self.weight_decay, self.nesterov


class Adam(Optimizer):
    """Adam: a step of lr along the running mean of the gradients over their running RMS.

    exp_avg and exp_avg_sq are the running means of grad and grad**2 (with decay rates
    betas), corrected for starting at zero. weight_decay adds weight_decay * p to each
    gradient (an L2 penalty); AdamW decays the weights directly instead.

    Every rounding is PyTorch's but one: math.sqrt is correctly rounded, PyTorch's float64
    sqrt is not always (one input in 80 ends one ulp away), so trajectories can part in the
    last digits.
    """

    _settings = ('lr', 'betas', 'eps', 'weight_decay', 'step_count')
    _buffers = ('exp_avg', 'exp_avg_sq')
    decoupled_weight_decay = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0):
        super().__init__(params)
        name = type(self).__name__
        self.lr = real_number(f'{name}: lr', lr)
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"{name}: betas must be a pair (beta1, beta2), got {betas!r}")
        self.betas = (real_number(f'{name}: betas[0]', betas[0], 0.0, 1.0),
                      real_number(f'{name}: betas[1]', betas[1], 0.0, 1.0))
        self.eps = real_number(f'{name}: eps', eps)
        self.weight_decay = real_number(f'{name}: weight_decay', weight_decay)
        self.step_count = 0
        self.exp_avg = [0.0] * len(self.params)
        self.exp_avg_sq = [0.0] * len(self.params)

    def step(self):
        """Move every parameter one step against its gradient."""
        self.step_count += 1
        settings = self.rule_settings()
        for i, p in enumerate(self.params):
            p.data, self.exp_avg[i], self.exp_avg_sq[i] = adam_update(
                p.data, p.grad, self.exp_avg[i], self.exp_avg_sq[i], *settings)

    def rule_settings(self):
        """What adam_update takes after the parameter, its gradient and its m and v, for
        the step numbered step_count."""
        beta1, beta2 = self.betas
        step_size = self.lr / (1 - beta1 ** self.step_count)
        bias_correction2_sqrt = (1 - beta2 ** self.step_count) ** 0.5
        return (self.lr, self.betas, self.eps, self.weight_decay, self.decoupled_weight_decay,
                step_size, bias_correction2_sqrt)


class AdamW(Adam):
    """Adam with decoupled weight decay: each step first shrinks p by lr * weight_decay * p."""

    decoupled_weight_decay = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        super().__init__(params, lr, betas, eps, weight_decay)


# ----------------------------------------------------------------------------------
# Learning-rate schedules: call step() after each optimizer.step()


class _Schedule:
    """Sets optimizer.lr by a rule; a subclass's constructor ends with step 0, as in PyTorch."""

    _saved = ()  # what state_dict() holds

    def __init__(self, optimizer):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(self).__name__} takes an optimizer (SGD, Adam, ...), "
                            f"got {type(optimizer).__name__}")
        self.optimizer = optimizer
        self.last_epoch = -1

    def step(self):
        """Advance one step and set the optimizer's lr for the next one."""
        self.last_epoch += 1
        self.optimizer.lr = self.last_lr = self._next_lr()

    def get_last_lr(self):
        """[the lr last set], a list as in PyTorch (which has one per parameter group)."""
        return [self.last_lr]

    def state_dict(self):
        """Where the schedule stands, as plain data; the rule itself is not saved."""
        return {name: getattr(self, name) for name in self._saved}

    def load_state_dict(self, state):
        """Take up a state_dict(): load the optimizer's state too, for its lr."""
        _check_state(type(self).__name__, state, self._saved)
        for name in self._saved:
            setattr(self, name, state[name])


class LambdaLR(_Schedule):
    """lr = initial lr * lr_lambda(k) after k steps.

    With the optimizer's lr at 1.0 and `linear_decay(100)` this is micrograd's demo schedule.
    """

    _saved = ('base_lr', 'last_epoch', 'last_lr')

    def __init__(self, optimizer, lr_lambda):
        super().__init__(optimizer)
        if not callable(lr_lambda):
            raise TypeError(f"LambdaLR: lr_lambda must be a function of the step number, "
                            f"got {lr_lambda!r}")
        self.lr_lambda = lr_lambda
        self.base_lr = optimizer.lr
        self.step()

    def _next_lr(self):
        return self.base_lr * self.lr_lambda(self.last_epoch)


class LinearLR(_Schedule):
    """lr scaled by a factor that moves linearly from start_factor to end_factor in
    total_iters steps, then stays. Updated step by step as PyTorch does, so it rounds alike.
    """

    _saved = ('start_factor', 'end_factor', 'total_iters', 'last_epoch', 'last_lr')

    def __init__(self, optimizer, start_factor=1.0 / 3, end_factor=1.0, total_iters=5):
        if not 0 < start_factor <= 1:
            raise ValueError(f"LinearLR: start_factor must be in (0, 1], got {start_factor!r}")
        if not 0 <= end_factor <= 1:
            raise ValueError(f"LinearLR: end_factor must be in [0, 1], got {end_factor!r}")
        super().__init__(optimizer)
        self.start_factor, self.end_factor = start_factor, end_factor
        self.total_iters = whole_number('LinearLR: total_iters', total_iters)
        self.step()

    def _next_lr(self):
        lr, k = self.optimizer.lr, self.last_epoch
        if k == 0:
            return lr * self.start_factor
        if k > self.total_iters:
            return lr
        change = self.end_factor - self.start_factor
        return lr * (1.0 + change / (self.total_iters * self.start_factor + (k - 1) * change))


def linear_decay(steps, start=1.0, end=0.1):
    """k -> start - (start - end) * k / steps: from start at step 0 to end at step `steps`.

    The defaults give micrograd's demo schedule, 1.0 - 0.9 * k / steps, to the last bit.
    Use it as the lr itself or as LambdaLR's factor.

    >>> f = linear_decay(100)
    >>> f(0), f(50), f(100)
    (1.0, 0.55, 0.09999999999999998)
    """
    whole_number('linear_decay: steps', steps)
    return lambda k: start - (start - end) * k / steps
