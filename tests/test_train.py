"""fit(): the training loop, against the same training written in PyTorch."""

import math
import os
import random
import signal
import warnings

import numpy as np
import pytest
import torch

from tapegrad import MLP, Value, fit, train
from tapegrad.data import DataError, day5, make_moons
from tapegrad.losses import mse
from tapegrad.optim import SGD, linear_decay
from tapegrad.train import TrainingError, accuracy
from torchref import same_float


def moons_demo_setup():
    np.random.seed(1337)
    random.seed(1337)
    X, labels = make_moons(n_samples=100, noise=0.1)
    y = [2 * label - 1 for label in labels]
    model = MLP(2, [16, 16, 1], act='relu', out_act='linear')
    return model, X, y


def torch_losses(model, X, y, steps, loss_of, lr_of):
    """Train a float64 PyTorch copy of `model` with plain SGD; its loss at every step."""
    layers = []
    for layer in model.layers:
        W = torch.tensor([[w.data for w in n.w] for n in layer.neurons], dtype=torch.float64,
                         requires_grad=True)
        b = torch.tensor([n.b.data for n in layer.neurons], dtype=torch.float64, requires_grad=True)
        layers.append((W, b, layer.neurons[0].act))
    act = {'tanh': torch.tanh, 'relu': torch.relu, 'linear': lambda z: z}
    Xt = torch.tensor(X, dtype=torch.float64)
    yt = torch.tensor(y, dtype=torch.float64)
    params = [t for W, b, _ in layers for t in (W, b)]
    out = []
    for k in range(steps):
        h = Xt
        for W, b, a in layers:
            h = act[a](h @ W.T + b)
        loss = loss_of(h[:, 0], yt, params)
        out.append(loss.item())
        for p in params:
            p.grad = None
        loss.backward()
        with torch.no_grad():
            for p in params:
                p -= lr_of(k) * p.grad
    return out


def test_moons_demo_follows_pytorch_loss_for_loss_and_reaches_100_percent():
    model, X, y = moons_demo_setup()

    def hinge_l2(scores, targets, params):
        return torch.relu(1 - targets * scores).mean() + 1e-4 * sum((p * p).sum() for p in params)

    expected = torch_losses(model, X, y, 100, hinge_l2, linear_decay(100))
    history = fit(model, X, y, loss='hinge', l2=1e-4, lr=linear_decay(100), steps=100,
                  engine='eager', progress=False)
    assert len(history.loss) == 100
    for k, (ours, theirs) in enumerate(zip(history.loss, expected)):
        assert same_float(ours, theirs, 1e-9), f"step {k}: {ours} vs PyTorch {theirs}"
    assert history.accuracy[-1] == 1.0
    assert history.lr == [linear_decay(100)(k) for k in range(100)]


def test_day5_summed_mse_follows_pytorch_and_lowers_the_loss():
    X, y = day5()
    random.seed(42)
    model = MLP(3, [4, 4, 1])
    expected = torch_losses(model, X, y, 50, lambda s, t, p: ((s - t) ** 2).sum(), lambda k: 0.05)
    history = fit(model, X, y, loss=lambda p, t: mse(p, t, reduction='sum'), lr=0.05, steps=50,
                  engine='eager', progress=False)
    assert all(same_float(a, b, 1e-10) for a, b in zip(history.loss, expected))
    assert history.loss[-1] < 0.1 * history.loss[0]
    assert history.accuracy[-1] == 1.0       # targets are +1/-1: sign accuracy applies


def test_mini_batches_are_seeded_and_train():
    model_a, X, y = moons_demo_setup()
    model_b, _, _ = moons_demo_setup()
    a = fit(model_a, X, y, loss='hinge', lr=0.1, steps=30, batch_size=16, seed=3,
            engine='eager', progress=False)
    b = fit(model_b, X, y, loss='hinge', lr=0.1, steps=30, batch_size=16, seed=3,
            engine='eager', progress=False)
    assert a.loss == b.loss
    assert np.mean(a.loss[-5:]) < np.mean(a.loss[:5])


def test_non_finite_loss_stops_and_keeps_the_last_good_parameters():
    X, y = day5()
    random.seed(42)
    model = MLP(3, [4, 4, 1], act='linear')
    snapshots = []

    def remember(k, history):
        snapshots.append([p.data for p in model.parameters()])

    with pytest.raises(TrainingError, match=r"step \d+: the (loss|gradient).*not finite.*smaller learning rate") as err:
        fit(model, X, y, lr=10.0, steps=200, engine='eager', progress=False, callback=remember)
    assert all(math.isfinite(p.data) for p in model.parameters())
    assert [p.data for p in model.parameters()] == snapshots[-1]
    assert len(err.value.history.loss) == len(snapshots)


def test_interrupt_stops_after_a_whole_step_with_the_history_so_far():
    model, X, y = moons_demo_setup()
    seen = []

    def interrupt_at_3(k, history):
        seen.append([p.data for p in model.parameters()])
        if k == 3:
            os.kill(os.getpid(), signal.SIGINT)

    history = fit(model, X, y, loss='hinge', lr=0.1, steps=50, engine='eager', progress=False,
                  callback=interrupt_at_3)
    assert history.interrupted and len(history.loss) == 4
    assert [p.data for p in model.parameters()] == seen[-1]


@pytest.mark.parametrize('kwargs, error, message', [
    (dict(loss='l1'), ValueError, "loss must be one of 'mse', 'hinge', 'bce', 'cross_entropy'"),
    (dict(optimizer='rmsprop'), ValueError, "optimizer must be one of"),
    (dict(engine='gpu'), ValueError, "engine must be one of"),
    (dict(steps=2.5), ValueError, "steps must be a whole number >= 0, got 2.5"),
    (dict(checkpoint_every=0), ValueError, "checkpoint_every must be a whole number >= 1, got 0"),
    (dict(y=[1.0, -1.0]), DataError, "X has 4 samples but y has 2"),
    (dict(X=[], y=[]), DataError, "empty"),
])
def test_bad_arguments_are_clear_errors(kwargs, error, message):
    X, y = day5()
    args = dict(X=X, y=y)
    args.update({k: kwargs.pop(k) for k in ('X', 'y') if k in kwargs})
    with pytest.raises(error, match=message):
        fit(MLP(3, [4, 1]), args['X'], args['y'], progress=False, **kwargs)


def test_fit_needs_a_module():
    with pytest.raises(TypeError, match='Module'):
        fit(lambda x: x, [[1.0]], [1.0], progress=False)


def test_an_optimizer_object_and_its_lr():
    X, y = day5()
    random.seed(0)
    model = MLP(3, [4, 1])
    opt = SGD(model.parameters(), lr=0.01, momentum=0.9)
    history = fit(model, X, y, optimizer=opt, steps=5, engine='eager', progress=False)
    assert history.lr == [0.01] * 5


def test_accuracy_rules():
    assert accuracy('cross_entropy', [[0.1, 2.0], [3.0, 1.0]], [1, 1]) == 0.5
    assert accuracy('bce', [2.0, -1.0, 0.5], [1, 0, 0]) == pytest.approx(2 / 3)
    assert accuracy('hinge', [0.3, -0.2], [1, 1]) == 0.5
    assert accuracy(None, [0.3, -0.2], [1.0, -1.0]) == 1.0
    assert accuracy('mse', [0.3], [0.25]) is None
    # several outputs a sample, and a loss that is not cross-entropy: no accuracy to give
    assert accuracy(None, [[0.3, 0.1, 2.0], [1.0, 0.0, 0.5]], [0, 2]) is None


def branching_loss(predictions, targets):
    # reads the numbers: a tape cannot replay this, the eager engine can
    return sum((p - t) ** 2 if p.data > 0 else p * 0.0 for p, t in zip(predictions, targets))


def margin_loss(predictions, targets):
    # also reads the numbers, and mixes them with the (traced) targets
    return sum((p - t) ** 2 if p.data * t < 1 else p * 0.0 for p, t in zip(predictions, targets))


def test_auto_engine_uses_the_tape_and_falls_back_to_eager_for_data_dependent_code(monkeypatch):
    monkeypatch.setattr(train, 'SMALL_RUN', 0)  # the tape even for Day 5
    X, y = day5()
    runs = {}
    for engine, loss in [(e, f) for f in ('mse', branching_loss, margin_loss) for e in ('auto', 'eager')]:
        random.seed(42)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('always')
            runs[engine, loss] = fit(MLP(3, [4, 4, 1]), X, y, loss=loss, lr=0.05, steps=20,
                                     engine=engine, progress=False)
        runs[engine, loss].warnings = [str(w.message) for w in caught]
    assert runs['auto', 'mse'].engine == 'tape' and not runs['auto', 'mse'].warnings
    assert runs['auto', 'mse'].loss == runs['eager', 'mse'].loss
    for loss in (branching_loss, margin_loss):
        run = runs['auto', loss]
        assert run.engine == 'eager' and 'reads or sets .data' in run.engine_reason
        assert run.warnings == [f"fit: training on the eager engine {run.engine_reason}"]
        assert run.loss == runs['eager', loss].loss


def test_auto_engine_trains_a_small_run_eagerly_and_says_so():
    X, y = day5()
    history = fit(MLP(3, [4, 4, 1]), X, y, steps=50, progress=False)
    assert history.engine == 'eager' and 'a small run (8,200 weight uses' in history.engine_reason


def test_tape_engine_says_why_it_cannot_trace():
    from tapegrad.tape import DataDependentError
    X, y = day5()
    with pytest.raises(DataDependentError, match='test_train.py'):
        fit(MLP(3, [4, 1]), X, y, loss=branching_loss, steps=2, engine='tape', progress=False)


def test_detect_anomaly_names_the_op_where_training_first_goes_non_finite():
    from tapegrad import AnomalyError
    X, y = day5()
    random.seed(42)
    model = MLP(3, [4, 4, 1], act='linear')
    # the weights grow each step until the squared error overflows: the first inf is
    # mse's ** 2, found in the call that trains, in losses.py's mse
    with pytest.raises(AnomalyError, match=r"'\*\* 2.0' of \[.*e\+\d+\] gave inf") as error:
        fit(model, X, y, lr=10.0, steps=500, progress=False, detect_anomaly=True)
    assert 'test_train.py' in str(error.value) and '(mse)' in str(error.value)
    assert all(math.isfinite(p.data) for p in model.parameters())


def test_lr_sweep_gives_each_rate_the_same_start_and_batches():
    from tapegrad.train import lr_sweep
    X, labels = make_moons(20, noise=0.1, random_state=1)
    y = [2 * t - 1 for t in labels]
    curves = lr_sweep(lambda: MLP(2, [4, 1], out_act='linear'), X, y, rates=(0.01, 0.1),
                      steps=4, seed=5, loss='hinge', batch_size=6, engine='eager')
    for rate, losses in curves.items():
        random.seed(5)  # the course's way: the weights from the global seed
        model = MLP(2, [4, 1], out_act='linear')
        assert losses == fit(model, X, y, lr=rate, steps=4, loss='hinge', batch_size=6,
                             seed=5, engine='eager', progress=False).loss
