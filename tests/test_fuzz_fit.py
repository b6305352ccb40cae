"""fit() on the tape against fit() on the eager engine: random training runs, bit for bit.

Each example draws a training run: a dataset, a model (now and then with tied weights,
hand-written dropout, or a branch on `.data`), a loss (named, or a function of our own
whose weight a callback anneals), an optimizer, mini-batches, a schedule and L2; then
trains it three times from the same seed: engine='eager', 'auto' and 'tape', on both
replays. 'auto' must give the eager History and parameters to the last bit (falling
back to the eager engine, with a warning, exactly where the tape cannot stand for the
code); 'tape' must give them too, or raise NotReplayable for such code and only for it.
"""

import os
import random
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from tapegrad import MLP, fit, losses, optim, train
from tapegrad.data import day5, make_blobs, make_moons
from tapegrad.tape import NotReplayable, backend

EXAMPLES = {'ci': 100, 'nightly': 2000}[os.environ.get('TAPEGRAD_FUZZ', 'ci')]


class TiedMLP(MLP):
    """Every neuron of a layer shares its first weight with the layer's first neuron."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for layer in self.layers:
            for neuron in layer.neurons:
                neuron.w[0] = layer.neurons[0].w[0]

    def parameters(self):
        return list({id(p): p for p in super().parameters()}.values())


class Dropout(MLP):
    def __call__(self, x):
        for layer in self.layers[:-1]:
            out = layer(x)
            x = [h * (0.0 if random.random() < 0.25 else 1.0 / 0.75)
                 for h in (out if isinstance(out, list) else [out])]
        return self.layers[-1](x)


class Branching(MLP):
    def __call__(self, x):
        out = super().__call__(x)
        first = out[0] if isinstance(out, list) else out
        return out if first.data > 0 else (out if isinstance(out, list) else out * 0.5)


REPLAYABLE = {'plain': MLP, 'tied': TiedMLP}
NOT_REPLAYABLE = {'dropout': Dropout, 'branching': Branching}


def dataset(kind, n, rng):
    if kind == 'day5':
        return day5()
    if kind == 'moons':
        X, labels = make_moons(n, noise=0.2, random_state=rng)
        return X, labels
    X, labels = make_blobs(n, centers=3, random_state=rng)
    return [list(row) for row in X], [int(c) for c in labels]


@st.composite
def runs(draw):
    data = draw(st.sampled_from(['day5', 'moons', 'blobs']))
    loss = draw(st.sampled_from({'day5': ['mse', 'hinge', 'annealed'],
                                 'moons': ['mse', 'hinge', 'bce', 'annealed'],
                                 'blobs': ['cross_entropy']}[data]))
    model = draw(st.sampled_from(list(REPLAYABLE) * 3 + list(NOT_REPLAYABLE)))
    return dict(
        data=data, n=draw(st.integers(6, 24)), data_seed=draw(st.integers(0, 100)),
        loss=loss, model=model,
        hidden=draw(st.lists(st.integers(1, 6), min_size=1, max_size=2)),
        act=draw(st.sampled_from(['tanh', 'relu', 'sigmoid'])),
        optimizer=draw(st.sampled_from(['sgd', 'momentum', 'nesterov', 'adam', 'adamw'])),
        batch_size=draw(st.sampled_from([None, None, 1, 3, 5])),
        schedule=draw(st.booleans()), l2=draw(st.sampled_from([0.0, 0.0, 1e-3])),
        steps=draw(st.integers(1, 5)), seed=draw(st.integers(0, 2**16)))


def train_once(run, engine_name):
    """(History, the parameters after training, the warnings given) of one run."""
    X, labels = dataset(run['data'], run['n'], run['data_seed'])
    weight = [1.0]
    if run['loss'] == 'hinge':
        y = [2 * t - 1 for t in labels] if run['data'] == 'moons' else labels
    else:
        y = labels
    n_out = 3 if run['loss'] == 'cross_entropy' else 1
    random.seed(run['seed'])
    np.random.seed(run['seed'])
    model_class = {**REPLAYABLE, **NOT_REPLAYABLE}[run['model']]
    model = model_class(len(X[0]), run['hidden'] + [n_out], act=run['act'],
                        out_act='linear' if run['loss'] != 'mse' else run['act'])
    params = model.parameters()
    optimizer = {'sgd': lambda: optim.SGD(params, lr=0.05),
                 'momentum': lambda: optim.SGD(params, lr=0.05, momentum=0.9, weight_decay=1e-3),
                 'nesterov': lambda: optim.SGD(params, lr=0.05, momentum=0.5, nesterov=True),
                 'adam': lambda: optim.Adam(params, lr=0.01),
                 'adamw': lambda: optim.AdamW(params, lr=0.01)}[run['optimizer']]()
    loss, callback = run['loss'], None
    if loss == 'annealed':  # a loss weight that the callback changes between steps
        def loss(predictions, targets):
            return losses.mse(predictions, targets) * weight[0]

        def callback(k, history):
            weight[0] *= 0.75
    lr = optim.linear_decay(run['steps'], 0.05, 0.005) if run['schedule'] else None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        history = fit(model, X, y, loss=loss, optimizer=optimizer, lr=lr, steps=run['steps'],
                      batch_size=run['batch_size'], l2=run['l2'], engine=engine_name,
                      seed=run['seed'], progress=False, callback=callback)
    return history, [p.data for p in params], [str(w.message) for w in caught
                                              if issubclass(w.category, RuntimeWarning)]


def same(a, b):
    return np.array_equal(np.array(a, dtype=float), np.array(b, dtype=float), equal_nan=True)


@pytest.mark.parametrize('replay', ['numpy', 'numba'])
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(run=runs())
def test_fit_on_the_tape_gives_the_eager_history(replay, run):
    note(run)
    with pytest.MonkeyPatch.context() as patch:
        original = backend.Backend.__init__
        patch.setattr(backend.Backend, '__init__',
                      lambda self, name=None: original(self, name or replay))
        patch.setattr(train, 'SMALL_RUN', 0)
        eager, eager_params, _ = train_once(run, 'eager')
        auto, auto_params, warned = train_once(run, 'auto')
        replayable = run['model'] in REPLAYABLE
        for name in ('loss', 'accuracy', 'lr'):
            assert same(getattr(auto, name), getattr(eager, name)), name
        assert same(auto_params, eager_params)
        if replayable:
            assert auto.engine == 'tape' and not warned, warned
        else:
            assert auto.engine == 'eager' and len(warned) == 1 and auto.engine_reason in warned[0]
        try:
            tape, tape_params, _ = train_once(run, 'tape')
        except NotReplayable:
            assert not replayable
        else:
            assert replayable
            assert same(tape.loss, eager.loss) and same(tape_params, eager_params)
