"""Adding an op: declared once in the engine, it works everywhere that reads the table.

The test adds `sin`, which tapegrad does not ship, the way the README's "Adding an op"
says: a method on Value and its rule under `@primitive`. Nothing else is written for it,
and it must then work in the eager engine (against PyTorch), in the NumPy replay (the
engine's own formulas, number by number), in anomaly detection, in the formula reader
and in the playground's explanations; numba's loops have no formula for it and say so,
rather than compute another op.
"""

import math
import random
import warnings

import pytest
import torch

import tapegrad
from tapegrad import MLP, Value, engine
from tapegrad.anomaly import AnomalyError, detect_anomaly
from tapegrad.expression import parse_expression
from tapegrad.playground.neuron_graph import _explain
from tapegrad.tape import TapeStep
from tapegrad.tape.replay_numba import MissingKernel


@pytest.fixture
def sin(monkeypatch):
    def sin(self):  # IEEE: sin(inf) is nan, where math.sin raises
        x = self.data
        return engine._node(math.sin(x) if math.isfinite(x) else math.nan, 'sin', self)

    def sin_backward(out):  # d sin(x)/dx = cos(x)
        (x,) = out._prev
        x.grad += out.grad * math.cos(x.data)

    monkeypatch.setattr(Value, 'sin', sin, raising=False)
    engine.primitive('sin', sin)(sin_backward)
    yield
    del engine.OPS['sin'], engine._BACKWARD['sin']


def program(w, b, x):
    return ((w * x + b).sin() * w).sin() + b.sin() * x


def test_eager_matches_pytorch(sin):
    w, b = Value(0.7), Value(-1.3)
    out = program(w, b, 2.5)
    out.backward()
    tw, tb = (torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (0.7, -1.3))
    tout = program(tw, tb, 2.5)
    tout.backward()
    assert out.data == pytest.approx(tout.item(), rel=1e-15)
    assert (w.grad, b.grad) == pytest.approx((tw.grad.item(), tb.grad.item()), rel=1e-14)


def test_the_numpy_replay_gives_the_eager_bits(sin):
    w, b = Value(0.7), Value(-1.3)
    step = tapegrad.compile(lambda x: program(w, b, x), [w, b], backend='numpy')
    for x in (2.5, -0.25, 0.0):
        w.grad = b.grad = 0.0
        value, grads = step(x), (w.grad, b.grad)
        w.grad = b.grad = 0.0
        out = program(w, b, x)
        out.backward()
        assert (value, grads) == (out.data, (w.grad, b.grad))
    assert 'sin' in str(step.tape(1.0))


def test_a_batch_replay_gives_the_eager_bits(sin):
    X = [[0.5, -1.0], [1.5, 0.25], [-0.75, 2.0]]
    y = [1.0, -1.0, 0.5]

    def loss(predictions, targets):
        return sum(((p - t).sin()) ** 2 for p, t in zip(predictions, targets))

    results = []
    for step_class in ('eager', 'tape'):
        model = MLP(2, [4, 1], rng=random.Random(0))
        step = (tapegrad.train.EagerStep(model, loss) if step_class == 'eager'
                else TapeStep(model, loss, backend='numpy'))
        value, outputs = step(X, y)
        results.append((value, outputs, [p.grad for p in model.parameters()]))
    assert results[0] == results[1]


def test_numba_has_no_formula_for_it_and_says_so(sin):
    w = Value(0.7)
    with pytest.raises(MissingKernel, match="numba's loops have no formula for the op.* 'sin'"):
        tapegrad.compile(lambda x: (w * x).sin(), [w], backend='numba')(1.0)
    # the default backend replays such a tape with NumPy, and says why
    with pytest.warns(RuntimeWarning, match="no formula for the op.*'sin'.*replays with NumPy"):
        step = tapegrad.compile(lambda x: (w * x).sin(), [w])
        step.backend.name, step.backend.waits = 'numba', False  # as if numba's loops were ready
        value = step(1.0)
    assert value == math.sin(0.7)


def test_anomaly_detection_checks_it(sin):
    with pytest.raises(AnomalyError, match=r"'sin' of \[x=inf\] has a non-finite input"):
        with detect_anomaly():
            Value(math.inf, label='x').sin()


def test_the_formula_reader_knows_it(sin):
    out = parse_expression("sin(2*a) + b", {'a': 0.25, 'b': 1.0})
    out.backward()
    assert out.data == math.sin(0.5) + 1.0


def test_the_playground_explains_it_with_its_rule(sin):
    x = Value(0.5, label='x')
    out = x.sin()
    out.grad = 2.0
    assert _explain(out, {id(x): 'x', id(out): 'y'}) == [
        'x.grad += y.grad * math.cos(x.data) = 2 * math.cos(0.5)']


def test_without_it_nothing_knows_it():
    assert 'sin' not in engine.OPS
    with pytest.raises(ValueError, match="the functions exp, log, tanh, sigmoid, relu"):
        parse_expression("sin(a)", {'a': 1.0})
