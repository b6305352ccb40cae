"""numba's matvec loops against the eager engine, bit for bit, where they take shortcuts.

The batch loops fuse a layer's relus into its matvec's forward, read the weights'
gradients from rows and from a sample-major copy, and sum the biases' gradients in the
same loop: here with layer sizes that leave remainders everywhere, negative zeros and
exact zeros among the pre-activations, inputs in rows that are not consecutive, and a
hidden layer read by two layers. Signed zeros are told apart.
"""

import math
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tapegrad import MLP, Value, losses, train
from tapegrad.nn import Layer, Module
from tapegrad.tape import TapeStep


def bits(x):
    return 'nan' if math.isnan(x) else (x, math.copysign(1.0, x))


def result(step, model, X, y):
    value, outputs = step(X, y)
    flat = [o for row in outputs for o in (row if isinstance(row, list) else [row])]
    return [bits(value)] + [bits(o) for o in flat] + [bits(p.grad) for p in model.parameters()]


def batch(n, width, seed):
    """Inputs with zeros of both signs, and values that cancel exactly."""
    rng = random.Random(seed)
    choices = [0.0, -0.0, 1.0, -1.0, 0.5, -0.5]
    return [[rng.choice(choices) if rng.random() < 0.4 else rng.uniform(-2, 2)
             for _ in range(width)] for _ in range(n)]


def with_zeros(model, seed):
    """Some weights and biases set to +0.0, -0.0 and 1.0, so that sums hit zeros."""
    rng = random.Random(seed)
    for p in model.parameters():
        if rng.random() < 0.3:
            p.data = rng.choice([0.0, -0.0, 1.0, -1.0])
    return model


def compare(make_model, X, y, loss=losses.hinge):
    results = []
    for make_step in (lambda m: train.EagerStep(m, loss, l2=1e-3),
                      lambda m: TapeStep(m, loss, l2=1e-3, backend='numba')):
        model = make_model()
        results.append(result(make_step(model), model, X, y))
    assert results[0] == results[1]


@pytest.mark.parametrize('sizes, n', [([3, 5, 9, 1], 261), ([2, 13, 6, 1], 517),
                                      ([6, 4, 7, 1], 7), ([5, 17, 1], 300)])
@pytest.mark.parametrize('out_act', ['linear', 'relu'])
def test_relu_layers_give_the_eager_bits(sizes, n, out_act):
    X = batch(n, sizes[0], seed=n)
    y = [random.Random(k).choice([-1, 1]) for k in range(n)]
    compare(lambda: with_zeros(MLP(sizes[0], sizes[1:], act='relu', out_act=out_act,
                                   rng=random.Random(5)), seed=6), X, y)


class Crossed(Module):
    """A hidden layer read by two layers, one of them through its outputs shuffled (so
    its inputs are not consecutive rows), the other with the model's inputs appended."""

    def __init__(self):
        rng = random.Random(7)
        self.first = Layer(3, 6, act='relu', rng=rng)
        self.shuffled = Layer(6, 5, act='relu', rng=rng)
        self.skip = Layer(9, 2, act='relu', rng=rng)
        self.out = Layer(7, 1, act='linear', rng=rng)

    def __call__(self, x):
        h = self.first(x)
        a = self.shuffled([h[i] for i in (4, 1, 5, 0, 3, 2)])
        b = self.skip(h + list(x))
        return self.out(a + b)

    def parameters(self):
        return [p for layer in (self.first, self.shuffled, self.skip, self.out)
                for p in layer.parameters()]


def test_layers_that_share_rows_and_read_them_out_of_order_give_the_eager_bits():
    X = batch(300, 3, seed=8)
    y = [random.Random(k).choice([-1, 1]) for k in range(300)]
    compare(lambda: with_zeros(Crossed(), seed=9), X, y)


class Tied(Module):
    """An MLP with one weight in three places: twice in a layer and once in the next."""

    def __init__(self):
        self.mlp = with_zeros(MLP(3, [6, 5, 1], act='relu', out_act='linear',
                                  rng=random.Random(10)), seed=11)
        shared = self.mlp.layers[1].neurons[0].w[2]
        self.mlp.layers[1].neurons[3].w[1] = shared
        self.mlp.layers[2].neurons[0].w[4] = shared

    def __call__(self, x):
        return self.mlp(x)

    def parameters(self):
        return list({id(p): p for p in self.mlp.parameters()}.values())


def test_a_parameter_used_twice_gives_the_eager_bits():
    X = batch(270, 3, seed=12)
    y = [random.Random(k).choice([-1, 1]) for k in range(270)]
    compare(Tied, X, y)


def test_negative_zeros_pass_through_the_relus_as_the_eager_engine_passes_them():
    # relu(-0.0) is -0.0: a hidden neuron whose sum is -0.0 for every sample (bias and
    # weights -0.0, positive inputs) feeds an output that is -0.0 only if it stays so
    def model():
        mlp = MLP(2, [5, 1], act='relu', out_act='relu', rng=random.Random(13))
        first, out = mlp.layers[0].neurons[2], mlp.layers[1].neurons[0]
        for p in first.parameters() + out.parameters():
            p.data = -0.0
        out.w[2].data = 0.0
        return mlp
    rng = random.Random(14)
    X = [[rng.uniform(0.1, 2), rng.uniform(0.1, 2)] for _ in range(260)]
    compare(model, X, [rng.choice([-1, 1]) for _ in range(260)])


@settings(max_examples=40, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(hidden=st.lists(st.integers(1, 36), min_size=1, max_size=2),
       width=st.integers(1, 20), n=st.integers(1, 120),
       act=st.sampled_from(['relu', 'tanh', 'sigmoid', 'linear']),
       out_act=st.sampled_from(['linear', 'relu', 'tanh']),
       seed=st.integers(0, 10**6))
def test_random_layer_sizes_and_batches_give_the_eager_bits(hidden, width, n, act, out_act, seed):
    # widths and batches around the loops' 4-row, 8- and 16-column blocks, and their
    # remainders, on every activation (relus fused into the matvec, the others apart)
    X = batch(n, width, seed=seed)
    y = [random.Random(seed + k).choice([-1, 1]) for k in range(n)]
    compare(lambda: with_zeros(MLP(width, hidden + [1], act=act, out_act=out_act,
                                   rng=random.Random(seed)), seed=seed + 1), X, y)
