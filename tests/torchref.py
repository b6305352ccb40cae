"""The reference every test compares against: the same expression in PyTorch float64.

Importing this module imports torch: a test that needs PyTorch fails without it, never skips.
"""

import math

import torch

from tapegrad import Value


def torch_value_and_grads(f, xs):
    """f applied to float64 tensors: (value, [d f / d x for each x])."""
    ts = [torch.tensor(float(x), dtype=torch.float64, requires_grad=True) for x in xs]
    out = f(*ts)
    out.backward()
    return out.item(), [0.0 if t.grad is None else t.grad.item() for t in ts]


def tapegrad_value_and_grads(f, xs):
    vs = [Value(x) for x in xs]
    out = f(*vs)
    out.backward()
    return out.data, [v.grad for v in vs]


def same_float(a, b, rel=1e-14):
    """Equal as IEEE results: nan matches nan, infinities match by sign, finite within rel."""
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b):
        return a == b
    return a == b or abs(a - b) <= rel * max(abs(a), abs(b))


def assert_matches_torch(f, xs, rel=1e-14):
    value, grads = tapegrad_value_and_grads(f, xs)
    t_value, t_grads = torch_value_and_grads(f, xs)
    assert same_float(value, t_value, rel), f"value {value!r} != PyTorch's {t_value!r} at {xs}"
    for i, (g, tg) in enumerate(zip(grads, t_grads)):
        assert same_float(g, tg, rel), f"grad of input {i}: {g!r} != PyTorch's {tg!r} at {xs}"
