"""The tape against the eager engine: every op, compositions, passes, both backends.

The eager engine is checked against PyTorch float64 in test_engine.py; the tape promises
the eager engine's numbers to the last bit (same operations, same order), so these tests
compare with `==` (nan matching nan), not with a tolerance. One test anchors the tape to
PyTorch directly.
"""

import math
import random
import subprocess
import sys

import numpy as np
import pytest
import torch

from tapegrad import MLP, Module, Value, losses
from tapegrad.data import make_moons
from tapegrad.tape import (DataDependentError, TapeError, TapeStep, compile, fuse_dots,
                           group_matvecs, optimize, trace)
from tapegrad.tape.replay import NumpyReplay
from tapegrad.tape.replay_numba import NumbaReplay
from tapegrad.train import EagerStep, fit

BACKENDS = ['numpy', 'numba']
REPLAYS = {'numpy': NumpyReplay, 'numba': NumbaReplay}


def same(a, b):
    """Equal floats, nan equal to nan, and -0.0 apart from 0.0."""
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b and math.copysign(1, a) == math.copysign(1, b)


def eager_value_and_grads(f, params, *data):
    for p in params:
        p.grad = 0.0
    out = f(*data)
    out.backward()
    return out.data, [p.grad for p in params]


def tape_value_and_grads(step, params, *data):
    for p in params:
        p.grad = 0.0
    value = step(*data)
    return value, [p.grad for p in params]


def assert_same(got, want, what=''):
    (value, grads), (want_value, want_grads) = got, want
    assert same(value, want_value), f"{what}: value {value!r} != eager {want_value!r}"
    for i, (g, w) in enumerate(zip(grads, want_grads)):
        assert same(g, w), f"{what}: grad {i} {g!r} != eager {w!r}"


# ----------------------------------------------------------------------------------
# every op, at ordinary and edge values

OPS = {
    '+': lambda a, b: a + b,
    '*': lambda a, b: a * b,
    '/': lambda a, b: a / b,
    '-': lambda a, b: a - b,
    '** Value': lambda a, b: a ** b,
    '** 2': lambda a, b: a ** 2 + b,
    '** 0.5': lambda a, b: a ** 0.5 + b,
    '** -0.5': lambda a, b: a ** -0.5 + b,
    '** -1': lambda a, b: a ** -1 + b,
    '** 0': lambda a, b: a ** 0 + b,
    'exp': lambda a, b: a.exp() + b,
    'log': lambda a, b: a.log() + b,
    'tanh': lambda a, b: a.tanh() + b,
    'sigmoid': lambda a, b: a.sigmoid() + b,
    'relu': lambda a, b: a.relu() + b,
    'number on the left': lambda a, b: (2 - a) / (3 ** b) + 1 / a,
}
EDGES = [0.0, -0.0, 1.0, -1.5, 2.5, 1e-300, 710.0, -710.0, math.inf, -math.inf, math.nan]
PAIRS = [(a, b) for a in EDGES for b in [0.0, -2.0, 0.5, 3.0, math.inf]]


@pytest.mark.parametrize('backend', BACKENDS)
@pytest.mark.parametrize('name', OPS)
def test_every_op_matches_eager_on_edge_values(name, backend):
    f = OPS[name]
    a, b = Value(0.0), Value(0.0)
    x = Value(0.0)  # a parameter that scales the output, so every op's gradient flows
    step = compile(lambda: f(a, b) * x, [a, b, x], backend=backend)
    for u, v in PAIRS:
        a.data, b.data, x.data = u, v, 1.5
        want = eager_value_and_grads(lambda: f(a, b) * x, [a, b, x])
        assert_same(tape_value_and_grads(step, [a, b, x]), want, f"{name} at {u}, {v}")


@pytest.mark.parametrize('backend', BACKENDS)
@pytest.mark.parametrize('name', OPS)
def test_every_op_over_a_batch_matches_eager_sample_by_sample(name, backend):
    """One sample's tape replayed over a batch: rows per sample, parameter gradients
    summed in the eager order of `sum(f(x) for x in batch)` (last sample first)."""
    f = OPS[name]
    a, b = Value(0.7), Value(-1.3)
    xs = [u for u, _ in PAIRS]
    tape = optimize(trace(lambda x: f(a * x, b), [a, b], 0.0))
    replay = REPLAYS[backend](tape, len(xs))
    pvals, pgrad = np.array([a.data, b.data]), np.zeros(2)
    replay.values[replay.inputs, :] = xs
    replay.forward(pvals)
    replay.grads[:] = 0.0
    replay.grad_row(tape.outputs[0])[:] = 1.0
    replay.backward(pvals, pgrad, np.arange(len(xs))[::-1].copy())

    outputs = [f(a * x, b) for x in xs]
    a.grad = b.grad = 0.0
    sum(outputs).backward()
    for k, out in enumerate(outputs):
        assert same(replay.row(tape.outputs[0])[k], out.data), f"{name}: sample {k}"
    assert same(pgrad[0], a.grad) and same(pgrad[1], b.grad), name


# ----------------------------------------------------------------------------------
# compositions, reused nodes, constants, changing data


def tangle(w, v, x, y):
    """Reused nodes (h three times, w everywhere), constants, a Value exponent."""
    h = (w * x + v).tanh()
    g = h * h - 3.0 * h + w ** 2
    z = (g / (1.0 + h.exp())) ** v + (x * y - w).relu() * h
    return z.sigmoid() + (z * z + 1.0).log() - 2 * (y * v).exp()


@pytest.mark.parametrize('backend', BACKENDS)
def test_a_tangled_graph_matches_eager_call_after_call(backend):
    w, v = Value(0.3), Value(1.7)
    step = compile(lambda x, y: tangle(w, v, x, y), [w, v], backend=backend)
    rng = random.Random(1)
    for _ in range(20):
        x, y = rng.uniform(-3, 3), rng.uniform(-1, 1)
        want = eager_value_and_grads(lambda: tangle(w, v, x, y), [w, v])
        assert_same(tape_value_and_grads(step, [w, v], x, y), want, f"at {x}, {y}")
        w.data -= 0.1 * w.grad  # the parameters move between calls, as in training
        v.data -= 0.1 * v.grad


@pytest.mark.parametrize('backend', BACKENDS)
def test_gradients_accumulate_into_leaves_as_in_eager(backend):
    w = Value(2.0)
    step = compile(lambda x: (w * x).tanh() * w, [w], backend=backend)
    step(0.5)
    step(-1.5)
    eager = Value(2.0)
    ((eager * 0.5).tanh() * eager).backward()
    ((eager * -1.5).tanh() * eager).backward()
    assert same(w.grad, eager.grad)


def mlp_loss(model):
    def loss(X, y):
        scores = [model(x) for x in X]
        data = sum((1 + -t * s).relu() for s, t in zip(scores, y)) * (1.0 / len(X))
        return data + 1e-4 * sum(p * p for p in model.parameters()), scores
    return loss


@pytest.mark.parametrize('backend', BACKENDS)
def test_compile_a_user_loss_with_new_data_and_extra_outputs(backend):
    model = MLP(2, [8, 8, 1], act='relu', out_act='linear', rng=random.Random(3))
    params = model.parameters()
    step = compile(mlp_loss(model), params, backend=backend)
    for seed in range(3):
        X, labels = make_moons(30, noise=0.1, random_state=seed)
        y = [2 * t - 1 for t in labels]
        model.zero_grad()
        value, scores = step(X, y)
        got = [p.grad for p in params]
        model.zero_grad()
        want_loss, want_scores = mlp_loss(model)(X, y)
        want_loss.backward()
        assert same(value, want_loss.data)
        assert all(same(s, t.data) for s, t in zip(scores, want_scores))
        assert all(same(g, p.grad) for g, p in zip(got, params))
        for p in params:
            p.data -= 0.5 * p.grad


def test_compile_matches_pytorch_float64():
    """An anchor outside tapegrad: the compiled MLP loss against the same net in PyTorch."""
    model = MLP(2, [8, 8, 1], act='tanh', out_act='linear', rng=random.Random(5))
    X, labels = make_moons(20, noise=0.1, random_state=2)
    y = [2 * t - 1 for t in labels]
    step = compile(lambda X, y: mlp_loss(model)(X, y)[0], model.parameters())
    model.zero_grad()
    value = step(X, y)

    tensors = []
    for layer in model.layers:
        W = torch.tensor([[w.data for w in n.w] for n in layer.neurons], dtype=torch.float64,
                         requires_grad=True)
        b = torch.tensor([n.b.data for n in layer.neurons], dtype=torch.float64,
                         requires_grad=True)
        tensors.append((W, b))
    h = torch.tensor(X, dtype=torch.float64)
    for i, (W, b) in enumerate(tensors):
        h = h @ W.T + b
        h = torch.tanh(h) if i < len(tensors) - 1 else h
    t_loss = torch.relu(1 - torch.tensor(y, dtype=torch.float64) * h[:, 0]).mean()
    t_loss = t_loss + 1e-4 * sum((W ** 2).sum() + (b ** 2).sum() for W, b in tensors)
    t_loss.backward()
    assert value == pytest.approx(t_loss.item(), rel=1e-13)
    for layer, (W, b) in zip(model.layers, tensors):
        for j, neuron in enumerate(layer.neurons):
            assert [w.grad for w in neuron.w] == pytest.approx(W.grad[j].tolist(), rel=1e-10,
                                                                abs=1e-15)
            assert neuron.b.grad == pytest.approx(b.grad[j].item(), rel=1e-10, abs=1e-15)


# ----------------------------------------------------------------------------------
# the passes


def test_passes_fuse_neurons_into_dots_and_layers_into_matvecs():
    model = MLP(3, [4, 4, 2], act='tanh', rng=random.Random(0))
    tape = trace(lambda x: sum(model(x)), model.parameters(), [0.1, 0.2, 0.3])
    fused = fuse_dots(tape)
    assert fused.count('dot') == 10 and fused.count('+') == 2  # 10 neurons; sum() adds 0 + o0 + o1
    grouped = group_matvecs(fused)
    assert [i.arg for i in grouped.instructions if i.op == 'matvec'] == [(4, 3), (4, 4), (2, 4)]
    assert 'matvec  4x3' in str(grouped)


@pytest.mark.parametrize('backend', BACKENDS)
def test_each_pass_replays_the_unoptimised_tape_bit_for_bit(backend):
    model = MLP(3, [5, 4, 2], act='sigmoid', out_act='tanh', rng=random.Random(2))
    params = model.parameters()
    data = [[random.Random(k).uniform(-2, 2) for _ in range(3)] for k in range(6)]

    def loss(X):
        return sum((o - 0.5) ** 2 for x in X for o in model(x))

    raw = trace(loss, params, data)
    tapes = {'raw': raw, 'fused': fuse_dots(raw), 'grouped': group_matvecs(fuse_dots(raw))}
    assert tapes['grouped'].count('matvec') > 0
    results = {}
    for name, tape in tapes.items():
        replay = REPLAYS[backend](tape, 1)
        pvals, pgrad = np.array([p.data for p in params]), np.zeros(len(params))
        replay.values[replay.inputs, 0] = np.ravel(data)
        replay.forward(pvals)
        replay.grads[:] = 0.0
        replay.grad_row(tape.outputs[0])[0] = 1.0
        replay.backward(pvals, pgrad, np.zeros(1, dtype=np.int64))
        results[name] = (replay.row(tape.outputs[0])[0], pgrad.tolist())
    want = eager_value_and_grads(loss, params, data)
    for name, got in results.items():
        assert_same(got, want, name)


def test_fusing_leaves_a_chain_alone_when_another_reader_would_change_the_order():
    w, v = Value(0.5), Value(-2.0)

    def f(x):
        p = w * x
        q = v * x
        return (p + q) * x  # x is read by '*' nodes inside and outside the chain

    tape = fuse_dots(trace(f, [w, v], 3.0))
    assert tape.count('dot') == 1  # p + q fuses; x's other reader comes after the chain
    tape = fuse_dots(trace(lambda x: ((w * x) + (x * x).tanh() * v), [w, v], 3.0))
    assert tape.count('dot') == 1


# ----------------------------------------------------------------------------------
# changed structure: re-trace or refuse


def test_a_number_to_the_power_of_a_data_argument():
    w = Value(1.5)
    step = compile(lambda x: w * 2 ** x, [w])
    assert step(3.0) == 12.0 and w.grad == 8.0


def test_a_new_shape_of_data_is_traced_again():
    w = Value(1.5)
    step = compile(lambda xs: sum(w * x for x in xs), [w])
    assert step([1.0, 2.0]) == 4.5
    assert step([1.0, 2.0, 3.0]) == 9.0
    assert len(step._runs) == 2


def test_ragged_data_is_traced_per_shape():
    w = Value(0.5)
    step = compile(lambda rows: sum(w * x * len(row) for row in rows for x in row), [w])
    assert step([[1.0], [2.0, 3.0]]) == 0.5 * (1 + 2 * 5)
    assert step([[1.0, 2.0], [3.0]]) == 0.5 * (2 * 3 + 3)
    assert len(step._runs) == 2


def test_branching_on_data_is_refused_with_a_clear_error():
    w = Value(1.5)

    def branchy(x):
        h = w * x
        return h * 2 if h.data > 0 else h * 3

    with pytest.raises(DataDependentError, match=r"reads or sets \.data.*test_tape.py"):
        compile(branchy, [w])(1.0)
    with pytest.raises(DataDependentError, match="compares a data argument"):
        compile(lambda x: w * (2 if x == 0 else 3), [w])(1.0)
    with pytest.raises(DataDependentError, match="compares a data argument"):
        compile(lambda x: w * max(x, 0.0), [w])(1.0)
    with pytest.raises(DataDependentError, match="turns it into a Python number"):
        compile(lambda x: w * math.exp(x), [w])(1.0)
    with pytest.raises(DataDependentError):
        compile(lambda x: w ** x, [w])(2.0)


def test_reading_data_of_constants_is_fine_and_of_outputs_is_refused():
    w = Value(1.5)
    assert compile(lambda x: w * x * Value(2.0).data, [w])(1.0) == 3.0
    with pytest.raises(DataDependentError):
        compile(lambda x: (w * x, (w * x).data), [w])(1.0)


def test_values_from_outside_must_be_parameters():
    w, outsider = Value(1.5), Value(4.0)
    with pytest.raises(TapeError, match="neither in params"):
        compile(lambda x: w * x + outsider, [w])(1.0)
    with pytest.raises(TapeError, match="same Value twice"):
        compile(lambda x: w * x, [w, w])(1.0)
    with pytest.raises(TypeError, match="must return a Value"):
        compile(lambda x: 3.0, [w])(1.0)


def test_the_listing_names_slots_ops_and_operands():
    w = Value(0.5)
    text = str(trace(lambda x: (w * x).tanh() ** 3, [w], 2.0))
    assert text.splitlines() == ['      0  param   p0', '      1  input   x0',
                                 '      2  *       0 1', '      3  tanh    2',
                                 '      4  **k     3  k=3.0', 'loss: 4']


# ----------------------------------------------------------------------------------
# TapeStep: fit()'s step, against EagerStep


def histories(make_model, loss_of, batches, backend, l2=0.0, lr=0.05):
    """(EagerStep's, TapeStep's) loss, outputs and gradients at every step, each training
    its own copy of the model with SGD; loss_of(model) gives the loss function."""
    result = []
    for Step, options in ((EagerStep, {}), (TapeStep, {'backend': backend})):
        model = make_model()
        step = Step(model, loss_of(model), l2=l2, **options)
        history = []
        for X, y in batches:
            loss, outputs = step(X, y)
            history.append((loss, outputs, [p.grad for p in model.parameters()]))
            for p in model.parameters():
                p.data -= lr * p.grad
        result.append(history)
    return result


def assert_same_history(eager_history, tape_history):
    for k, ((want, want_outs, want_grads), (loss, outs, grads)) in enumerate(
            zip(eager_history, tape_history)):
        assert same(loss, want), f"step {k}: loss {loss!r} != eager {want!r}"
        assert np.array_equal(outs, want_outs), f"step {k}: outputs"
        assert all(same(g, w) for g, w in zip(grads, want_grads)), f"step {k}: gradients"


def moons(n, seed=1):
    X, y = make_moons(n, noise=0.1, random_state=seed)
    return X, [2 * t - 1 for t in y]


@pytest.mark.parametrize('backend', BACKENDS)
@pytest.mark.parametrize('sizes, n, steps', [
    ([8, 8, 1], 40, 100),   # 100 steps of training, loss for loss
    ([16, 16, 1], 100, 3),  # micrograd's demo network and data size
])
def test_tapestep_equals_eagerstep_on_moons(backend, sizes, n, steps):
    def model():
        return MLP(2, sizes, act='relu', out_act='linear', rng=random.Random(1337))

    eager, tape = histories(model, lambda m: losses.hinge, [moons(n)] * steps, backend, l2=1e-4)
    assert_same_history(eager, tape)
    model_tape, _ = TapeStep(model(), losses.hinge, backend=backend).tapes(*moons(n))
    assert model_tape.count('matvec') == 3 and model_tape.count('relu') == sum(sizes[:-1])


@pytest.mark.parametrize('backend', BACKENDS)
def test_tapestep_with_changing_batch_sizes_many_outputs_and_class_targets(backend):
    """cross_entropy indexes the logits by the class: the step traces the loss with the
    targets as numbers. Batches of 7, 7 and 3 (the last, smaller one)."""
    rng = random.Random(4)
    X = [[rng.uniform(-2, 2) for _ in range(3)] for _ in range(17)]
    y = [rng.randrange(3) for _ in range(17)]
    batches = [(X[:7], y[:7]), (X[7:14], y[7:14]), (X[14:], y[14:]), (X[:7], y[:7])]

    def model():
        return MLP(3, [6, 3], act='tanh', out_act='linear', rng=random.Random(2))

    eager, tape = histories(model, lambda m: losses.cross_entropy, batches, backend)
    assert_same_history(eager, tape)
    step = TapeStep(model(), losses.cross_entropy, backend=backend)
    assert len(step.tapes(*batches[0])) == 2 and step.targets_as_numbers  # model's, loss's


@pytest.mark.parametrize('backend', BACKENDS)
def test_tapestep_with_the_l2_term_first_in_the_loss(backend):
    """The eager backward visits a term before the samples after them: it comes last."""
    def model():
        return MLP(2, [5, 1], act='tanh', out_act='linear', rng=random.Random(9))

    def loss_of(model):
        return lambda p, t: losses.l2(model.parameters(), 1e-2) + losses.mse(p, t)

    eager, tape = histories(model, loss_of, [moons(20, seed=5)] * 5, backend)
    assert_same_history(eager, tape)


def test_fit_on_the_tape_gives_eagers_history_loss_for_loss():
    X, y = moons(40, seed=7)
    runs = {}
    for engine in ('eager', 'tape'):
        model = MLP(2, [8, 8, 1], act='relu', out_act='linear', rng=random.Random(11))
        history = fit(model, X, y, loss='hinge', l2=1e-4, steps=100, engine=engine,
                      progress=False)
        runs[engine] = history, [p.data for p in model.parameters()]
    (eager, eager_params), (tape, tape_params) = runs['eager'], runs['tape']
    assert tape.engine == 'tape' and len(tape.loss) == 100
    assert tape.loss == eager.loss and tape.accuracy == eager.accuracy
    assert tape_params == eager_params


class Tied(Module):
    """A weight read twice by every sample: one replay over the batch cannot add its
    two terms per sample in eager order, so the step traces the whole batch."""

    def __init__(self):
        self.w, self.b = Value(0.4), Value(-0.2)

    def __call__(self, x):
        h = (self.w * x[0] + self.b).tanh()
        return self.w * h + x[1]

    def parameters(self):
        return [self.w, self.b]


@pytest.mark.parametrize('backend', BACKENDS)
def test_tapestep_traces_the_whole_batch_where_one_sample_will_not_do(backend):
    eager, tape = histories(Tied, lambda m: losses.mse, [moons(12, seed=3)] * 5, backend,
                            l2=1e-3)
    assert_same_history(eager, tape)
    assert len(TapeStep(Tied(), losses.mse, backend=backend).tapes(*moons(12))) == 1

    def loss_of(model):  # a parameter read between the samples' terms
        b = model.parameters()[-1]
        return lambda p, t: sum((q - u) ** 2 * b for q, u in zip(p, t))

    eager, tape = histories(lambda: MLP(2, [3, 1], rng=random.Random(1)), loss_of,
                            [moons(6, seed=4)] * 3, backend)
    assert_same_history(eager, tape)


def test_numpy_backend_when_numba_is_not_installed():
    code = """
import sys
sys.modules['numba'] = None   # import numba now fails, as on a machine without it
import random
from tapegrad import MLP, Value, losses
from tapegrad.tape import TapeStep, compile, default_backend
from tapegrad.train import EagerStep, fit
assert default_backend() == 'numpy', default_backend()
X = [[0.5, -1.0], [1.5, 0.25], [-0.75, 2.0]]
y = [1, -1, 1]
results = []
for Step in (EagerStep, TapeStep):
    model = MLP(2, [4, 1], act='relu', out_act='linear', rng=random.Random(0))
    loss, outputs = Step(model, losses.hinge, l2=1e-4)(X, y)
    results.append((loss, outputs, [p.grad for p in model.parameters()]))
assert results[0] == results[1], results
w = Value(3.0)
assert compile(lambda x: w * x, [w])(2.0) == 6.0 and w.grad == 2.0
print('ok')
"""
    done = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == 'ok', done.stderr
