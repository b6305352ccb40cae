"""Every op of the eager engine, value and gradients, against PyTorch float64."""

import gc
import math
import random
import sys

import numpy as np
import pytest

from tapegrad import Value
import torch
from torchref import assert_matches_torch, same_float

UNARY = {
    'neg': lambda a: -a,
    'exp': lambda a: a.exp(),
    'log': lambda a: a.log(),
    'tanh': lambda a: a.tanh(),
    'sigmoid': lambda a: a.sigmoid(),
    'relu': lambda a: a.relu(),
    'square': lambda a: a ** 2,
    'cube': lambda a: a ** 3,
    'pow_half': lambda a: a ** 0.5,
    'pow_neg1': lambda a: a ** -1,
    'pow_neg2.5': lambda a: a ** -2.5,
    'pow_zero': lambda a: a ** 0,
    'radd': lambda a: 2 + a,
    'rsub': lambda a: 2 - a,
    'rmul': lambda a: 2 * a,
    'rdiv': lambda a: 2 / a,
    'rpow': lambda a: 2 ** a,
    'rpow_neg_base': lambda a: (-2.0) ** a,
    'add_const': lambda a: a + 1.5,
    'sub_const': lambda a: a - 1.5,
    'mul_const': lambda a: a * -1.5,
    'div_const': lambda a: a / 3.0,
}

BINARY = {
    'add': lambda a, b: a + b,
    'sub': lambda a, b: a - b,
    'mul': lambda a, b: a * b,
    'div': lambda a, b: a / b,
    'pow': lambda a, b: a ** b,
}

ORDINARY = [-3.7, -1.0, -0.3, 0.2, 0.5, 1.0, 2.4]
EDGES = [0.0, -0.0, 1e-300, -1e-300, 700.0, -700.0, 1000.0, -1000.0, math.inf, -math.inf, math.nan]


@pytest.mark.parametrize('name', UNARY)
@pytest.mark.parametrize('x', ORDINARY + EDGES)
def test_unary_op_matches_torch(name, x):
    assert_matches_torch(UNARY[name], [x])


@pytest.mark.parametrize('name', BINARY)
@pytest.mark.parametrize('x', [-2.5, -1.0, 0.0, 0.5, 3.0, math.inf])
@pytest.mark.parametrize('y', [-2.0, -0.5, 0.0, 1.0, 2.0, 3.3])
def test_binary_op_matches_torch(name, x, y):
    assert_matches_torch(BINARY[name], [x, y])


@pytest.mark.parametrize('name', BINARY)
def test_binary_op_matches_torch_on_random_values(name):
    rng = random.Random(0)
    for _ in range(200):
        assert_matches_torch(BINARY[name], [rng.uniform(0.1, 4), rng.uniform(-3, 3)])


@pytest.mark.parametrize('f, x, expected', [
    (lambda a: a.tanh(), 1000.0, 1.0),
    (lambda a: a.sigmoid(), -1000.0, 0.0),
    (lambda a: a.exp(), 1000.0, math.inf),
    (lambda a: a.log(), 0.0, -math.inf),
    (lambda a: 1 / a, 0.0, math.inf),
])
def test_edge_values_do_not_raise(f, x, expected):
    assert f(Value(x)).data == expected


def test_log_of_negative_is_nan():
    assert math.isnan(Value(-1.0).log().data)


def test_seeds_stress_expression_matches_torch():
    # the exercise notebook's stress test (from micrograd's README), as one function
    def f(a, b):
        c = a + b
        d = a * b + b ** 3
        c = c + c + 1
        c = c + 1 + c + (-a)
        d = d + d * 2 + (b + a).relu()
        d = d + 3 * d + (b - a).relu()
        e = c - d
        f = e ** 2
        g = f / 2.0
        g = g + 10.0 / f
        return g
    assert_matches_torch(f, [-4.0, 2.0])


def test_every_function_in_one_graph_matches_torch():
    def f(a, b, c):
        h = (a * b).tanh() + (b / c).sigmoid() - (a - c).relu()
        return (h ** 2 + (c.exp() + 1).log()) ** (a.sigmoid()) * (2 ** b)
    rng = random.Random(1)
    for _ in range(50):
        assert_matches_torch(f, [rng.uniform(-2, 2) for _ in range(3)])


def test_reused_nodes_get_every_contribution():
    a = Value(3.0)
    b = a + a
    b.backward()
    assert a.grad == 2.0
    a = Value(3.0)
    ((a * 3) + (a * 5)).backward()
    assert a.grad == 8.0
    assert_matches_torch(lambda a: a * a * a + (a * a).tanh() * a, [0.7])


def test_backward_twice_recomputes_interior_and_accumulates_leaves():
    a, b = Value(2.0), Value(-3.0)
    c = a * b
    d = c.tanh() + c
    d.backward()
    first = (a.grad, b.grad, c.grad)
    d.backward()
    assert c.grad == first[2]                      # interior: recomputed, not doubled
    assert (a.grad, b.grad) == (2 * first[0], 2 * first[1])  # leaves: accumulated
    # the same as PyTorch, where leaves accumulate across backward calls (PyTorch's
    # tanh may round its last bit differently, and 1 - tanh^2 cancels near 1)
    ta = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
    tb = torch.tensor(-3.0, dtype=torch.float64, requires_grad=True)
    tc = ta * tb
    td = tc.tanh() + tc
    td.backward(retain_graph=True)
    td.backward()
    assert same_float(a.grad, ta.grad.item(), 1e-11) and same_float(b.grad, tb.grad.item(), 1e-11)


def test_backward_of_a_leaf_accumulates_one():
    a = Value(5.0)
    a.backward()
    a.backward()
    assert a.grad == 2.0


def test_million_node_chain_forward_and_backward():
    x = Value(0.5)
    y = x
    for _ in range(1_000_000):
        y = y * 1.0 + 0.0   # 2 op nodes a step: exact, so the gradient is exactly 1
    y.backward()
    assert y.data == 0.5
    assert x.grad == 1.0


def _live_values():
    return sum(type(o) is Value for o in gc.get_objects())


def test_values_are_freed_without_the_cycle_collector():
    # micrograd's closures make every node a reference cycle; ours must not
    gc.collect()
    gc.disable()
    try:
        before = _live_values()
        a = Value(1.0)
        out = sum((a * i + 1).tanh() for i in range(100))
        out.backward()
        assert _live_values() > before + 300
        del a, out
        assert _live_values() == before   # freed by reference counting alone
    finally:
        gc.enable()


def test_node_size_is_small():
    a, b = Value(2.0), Value(3.0)
    c = a * b
    c.backward()
    size = sys.getsizeof(c) + sys.getsizeof(c._prev) + sys.getsizeof(c.data) + sys.getsizeof(c.grad)
    assert size <= 200


@pytest.mark.parametrize('x', [1, 2.5, True, np.float64(1.5), np.float32(0.25), np.int64(7)])
def test_accepted_data_converts_to_float(x):
    v = Value(x)
    assert type(v.data) is float and v.data == float(x)


@pytest.mark.parametrize('bad, type_name', [
    ('1.0', 'str'), (None, 'NoneType'), (1 + 2j, 'complex'), ([1.0], 'list'), (Value(1.0), 'Value'),
])
def test_bad_data_is_a_type_error_naming_the_type(bad, type_name):
    with pytest.raises(TypeError, match=type_name):
        Value(bad)


@pytest.mark.parametrize('op', [
    lambda v: v + 'a', lambda v: 'a' + v, lambda v: v * None, lambda v: v ** 'k',
    lambda v: v / [1], lambda v: 2j - v,
])
def test_ops_with_non_numbers_raise_type_error(op):
    with pytest.raises(TypeError):
        op(Value(1.0))


def test_repr_and_graph_bookkeeping():
    a, b = Value(2.0, label='a'), Value(3.0, label='b')
    c = a * b
    assert repr(c) == 'Value(data=6.0, grad=0.0)'
    assert c._prev == (a, b) and c._op == '*'
    assert a._prev == () and a._op == '' and a.label == 'a'


def test_sum_of_values_works():
    vs = [Value(float(i)) for i in range(5)]
    s = sum(vs)
    s.backward()
    assert s.data == 10.0 and all(v.grad == 1.0 for v in vs)


def test_ops_on_ints_set_as_data_make_floats_as_value_does():
    # a learner's `w.data = 2`: the ops' outputs are floats, as Value(2 * 3) makes one
    a, b = Value(1.0), Value(1.0)
    a.data, b.data = 2, 3
    for out in (a * b, a + b, a - b, a / b, a ** b, a ** 2, (a * -1).relu(), a.exp()):
        assert type(out.data) is float
    assert (a * b).data == 6.0
    a.data = 10 ** 400  # beyond float's range: the same clear error as Value(10 ** 400)
    with pytest.raises(ValueError, match='too large for a float'):
        a * b
