"""tapegrad.compile on a batch: the samples found in the traced tape, and an optimizer.

A loss over a batch traces as one copy of the model's graph a sample; compile replays
one copy over the whole batch where the copies allow it (tape/batching.py), and with an
optimizer takes the whole training step on arrays. Every result here is compared with
the eager engine, bit for bit, on both replays.
"""

import math
import random

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tapegrad
from tapegrad import MLP, Value, losses
from tapegrad.data import make_moons
from tapegrad.optim import SGD, Adam
from tapegrad.tape.api import _AsTraced, _InBatches

REPLAYS = ('numpy', 'numba')


def moons(n=20, seed=0):
    X, labels = make_moons(n, noise=0.1, random_state=seed)
    return [list(map(float, row)) for row in X], [2 * t - 1 for t in labels]


def eager_and_compiled(make_model, loss_of, X, y, backend, steps=3, optimizer=None):
    """Losses and parameters after `steps` steps: eager (backward + step), compiled, and
    compiled with the optimizer inside."""
    results = []
    for mode in ('eager', 'compiled', 'with optimizer'):
        model = make_model()
        params = model.parameters()
        opt = (optimizer or (lambda ps: SGD(ps, lr=0.1)))(params)

        def fn(X, y):
            return loss_of(model, X, y)

        step = None
        if mode == 'compiled':
            step = tapegrad.compile(fn, params, backend=backend)
        elif mode == 'with optimizer':
            step = tapegrad.compile(fn, params, optimizer=opt, backend=backend)
        values = []
        for _ in range(steps):
            if mode == 'with optimizer':
                values.append(step(X, y))
                continue
            opt.zero_grad()
            if mode == 'eager':
                loss = fn(X, y)
                loss.backward()
                values.append(loss.data)
            else:
                values.append(step(X, y))
            opt.step()
        results.append((values, [p.data for p in params], [p.grad for p in params], step))
    return results


def hinge_l2(model, X, y):
    return losses.hinge([model(x) for x in X], y) + losses.l2(model.parameters(), 1e-4)


def mean_squares(model, X, y):
    return losses.mse([model(x) for x in X], y, reduction='mean')


def with_a_data_weight(model, X, y, w):
    return losses.mse([model(x) for x in X], y) * w


LOSSES = {
    'hinge + L2': hinge_l2,
    'mse mean': mean_squares,
    'targets read by the loss too': lambda m, X, y: mean_squares(m, X, y) + sum(y) * 0.01,
    # classes fixed in the code (a tape cannot pick logits by the data's numbers)
    'cross-entropy over 3 classes': lambda m, X, y: losses.cross_entropy(
        [m(x) for x in X], [1] * len(X)),
    'cross-entropy, another class a sample': lambda m, X, y: losses.cross_entropy(
        [m(x) for x in X], [i % 3 for i in range(len(X))]),
}


@pytest.mark.parametrize('backend', REPLAYS)
@pytest.mark.parametrize('name', LOSSES)
def test_a_batch_is_replayed_one_sample_at_a_time_with_the_eager_bits(backend, name):
    X, y = moons(24)
    n_out = 3 if 'cross' in name else 1

    def make():
        return MLP(2, [5, 4, n_out], act='tanh', out_act='linear', rng=random.Random(1))

    eager, compiled, trained = eager_and_compiled(make, LOSSES[name], X, y, backend)
    assert compiled[:3] == eager[:3]
    assert trained[:2] == eager[:2]
    runs = list(compiled[3]._runs.values())
    # the samples were found, except where their graphs differ (a class each): then the
    # tape is replayed as traced
    kind = _AsTraced if 'another class' in name else _InBatches
    assert len(runs) == 1 and isinstance(runs[0], kind)


@pytest.mark.parametrize('backend', REPLAYS)
def test_a_batch_that_is_not_sample_by_sample_is_replayed_as_traced(backend):
    X, y = moons(12)

    def mixed(model, X, y):  # each prediction also reads the next sample's: no blocks
        preds = [model(x) for x in X]
        return sum((p - q) ** 2 for p, q in zip(preds, preds[1:] + preds[:1])) * 0.5

    def make():
        return MLP(2, [3, 1], act='tanh', rng=random.Random(2))

    eager, compiled, trained = eager_and_compiled(make, mixed, X, y, backend)
    assert compiled[:3] == eager[:3] and trained[:2] == eager[:2]
    assert isinstance(list(compiled[3]._runs.values())[0], _AsTraced)


@pytest.mark.parametrize('backend', REPLAYS)
@pytest.mark.parametrize('make_optimizer', [
    lambda ps: SGD(ps, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3),
    lambda ps: Adam(ps, lr=0.01),
], ids=['sgd-nesterov', 'adam'])
def test_the_optimizer_inside_the_call_takes_its_own_step(backend, make_optimizer):
    X, y = moons(16, seed=3)

    def make():
        return MLP(2, [6, 1], act='relu', out_act='linear', rng=random.Random(3))

    eager, _, trained = eager_and_compiled(make, hinge_l2, X, y, backend, steps=5,
                                           optimizer=make_optimizer)
    assert trained[:3] == eager[:3]


@pytest.mark.parametrize('backend', REPLAYS)
def test_lists_changed_between_calls_are_read_afresh(backend):
    # compile() keeps the last call's lists as arrays; every way a loop could change them
    # must be seen, signed zeros included (0.0 == -0.0 in Python)
    w = Value(1.5)

    def fn(X, y):
        products = [w * x for row in X for x in row] + [w * t for t in y]
        return sum(products) * 0.5, products

    step = tapegrad.compile(fn, [w], backend=backend)
    X, y = [[1.0, 2.0], [3.0, 4.0]], [1, -1]

    def changes():
        yield
        X[1][0] = 5.0                      # a number in a row, in place
        yield
        X[0] = [1.0, 2.5]                  # a row replaced
        yield
        X[0][0] = 0.0
        yield
        X[0][0] = -0.0                     # equal to 0.0, but not the same number
        yield
        X[1][1], y[0] = 7, 0               # an int for a float, a zero label
        yield
        y[0] = -0.0
        yield
        X[1][1] = float('nan')
        yield

    for _ in changes():
        w.grad = 0.0
        loss, products = step(X, y)
        got = [loss, *products, w.grad]
        w.grad = 0.0
        eager_loss, eager_products = fn(X, y)
        eager_loss.backward()
        expected = [eager_loss.data, *(p.data for p in eager_products), w.grad]
        assert [math.copysign(1.0, v) for v in got] == [math.copysign(1.0, v) for v in expected]
        assert np.array_equal(got, expected, equal_nan=True)
    # and a model's batch (replayed one sample's tape over the batch)
    Xm, ym = moons(8)
    model = MLP(2, [3, 1], act='tanh', rng=random.Random(4))
    step = tapegrad.compile(lambda X, y: hinge_l2(model, X, y), model.parameters(),
                            backend=backend)
    for k in range(3):
        Xm[k][1] += 0.25
        assert step(Xm, ym) == hinge_l2(model, Xm, ym).data


@pytest.mark.parametrize('backend', REPLAYS)
def test_lists_of_arrays_after_lists_of_lists_are_read_as_such(backend):
    # the same numbers as NumPy rows: == between the two cannot be one bool
    w = Value(1.5)
    step = tapegrad.compile(lambda X: sum(w * x for row in X for x in row), [w], backend=backend)
    assert step([[1.0, 2.0], [3.0, 4.0]]) == 15.0
    assert step([np.array([1.0, 2.0]), np.array([3.0, 4.0])]) == 15.0
    assert step([np.array([1.0, 2.0]), np.array([3.0, 5.0])]) == 16.5


@pytest.mark.parametrize('backend', REPLAYS)
def test_extra_outputs_come_back_with_an_optimizer_too(backend):
    w = Value(2.0)

    def fn(x):
        prediction = w * x
        return (prediction - 1.0) ** 2, [prediction, w * 0.5]

    plain = tapegrad.compile(fn, [w], backend=backend)(3.0)
    w.grad = 0.0
    trained = tapegrad.compile(fn, [w], optimizer=SGD([w], lr=0.01), backend=backend)(3.0)
    assert plain == trained == (25.0, [6.0, 1.0])
    assert w.data == 2.0 - 0.01 * 30.0


@pytest.mark.parametrize('backend', REPLAYS)
def test_parameters_changed_between_training_calls_are_read_afresh(backend):
    # a compiled step with an optimizer reuses its array of the parameters while the
    # Values still hold its numbers; any change by the user must be seen, even 0.0 to
    # -0.0 (equal floats), here on a parameter the loss does not read (its gradient is 0)
    X, y = moons(10, seed=5)
    runs = []
    for mode in ('eager', 'compiled'):
        model = MLP(2, [4, 1], act='tanh', out_act='linear', rng=random.Random(6))
        spare = Value(0.0)
        params = model.parameters() + [spare]
        opt = SGD(params, lr=0.05, momentum=0.5)
        step = tapegrad.compile(lambda X, y: hinge_l2(model, X, y), params, optimizer=opt,
                                backend=backend)
        seen = []
        for k in range(7):
            if k == 2:
                params[0].data += 0.5            # in place
            if k == 3:
                params[1].data = params[2].data  # another parameter's float object
            if k == 4:
                spare.data = -0.0
            if k == 6:
                spare.data = 0.0
            if mode == 'eager':
                opt.zero_grad()
                loss = hinge_l2(model, X, y)
                loss.backward()
                opt.step()
                seen.append(loss.data)
            else:
                seen.append(step(X, y))
            seen += [p.data for p in params] + [p.grad for p in params]
        runs.append([float(number).hex() for number in seen])
    assert runs[0] == runs[1]


def test_a_loss_that_is_not_finite_leaves_the_parameters_as_they_were():
    w = Value(0.5)
    step = tapegrad.compile(lambda x: (w * x).log(), [w], optimizer=SGD([w], lr=0.1))
    with pytest.raises(FloatingPointError, match=r"the loss is -inf \(not finite\): the "
                                                 r"optimizer did not update the parameters"):
        step(0.0)
    assert w.data == 0.5


def test_the_optimizer_must_hold_the_same_parameters():
    a, b = Value(1.0), Value(2.0)
    with pytest.raises(ValueError, match="the optimizer must be built on the same parameters"):
        tapegrad.compile(lambda x: a * b * x, [a, b], optimizer=SGD([b, a], lr=0.1))


@settings(max_examples=40, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(hidden=st.lists(st.integers(1, 5), min_size=1, max_size=2), n=st.integers(2, 9),
       act=st.sampled_from(['tanh', 'relu', 'sigmoid']), loss=st.sampled_from(list(LOSSES)),
       weight=st.floats(0.1, 3.0), seed=st.integers(0, 1000))
def test_random_batches_compile_to_the_eager_bits(hidden, n, act, loss, weight, seed):
    X, y = moons(n, seed=seed)
    n_out = 3 if 'cross' in loss else 1
    rng = np.random.default_rng(seed)
    X = [[float(v) for v in rng.normal(size=2)] for _ in range(n)]
    for backend in REPLAYS:
        model = MLP(2, hidden + [n_out], act=act, out_act='linear', rng=random.Random(seed))
        params = model.parameters()
        step = tapegrad.compile(lambda X, y, w: LOSSES[loss](model, X, y) * w, params,
                                backend=backend)
        value = step(X, y, weight)
        grads = [p.grad for p in params]
        model.zero_grad()
        eager = LOSSES[loss](model, X, y) * weight
        eager.backward()
        assert value == eager.data or (math.isnan(value) and math.isnan(eager.data))
        assert grads == [p.grad for p in params]
