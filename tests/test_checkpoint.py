"""Checkpoints: exact round trips, bit-identical resume, atomic writes, clear errors."""

import json
import os
import pickle
import random
import signal

import pytest

from tapegrad import MLP, Layer, Neuron, fit
from tapegrad.checkpoint import CheckpointError
from tapegrad.data import make_moons
from tapegrad.optim import Adam, linear_decay


def params(model):
    return [p.data for p in model.parameters()]


@pytest.mark.parametrize('make', [lambda: MLP(3, [4, 4, 1], act='relu', out_act='linear', bias='uniform'),
                                  lambda: Layer(2, 3, act='sigmoid'), lambda: Neuron(5, act='linear')])
def test_save_and_load_round_trip_every_bit(tmp_path, make):
    model = make()
    model.save(tmp_path / 'm.json')
    state = random.getstate()
    loaded = type(model).load(tmp_path / 'm.json')
    assert random.getstate() == state            # loading draws no random numbers
    assert params(loaded) == params(model) and repr(loaded) == repr(model)


def test_micrograd_models_save_and_load(tmp_path):
    from micrograd import nn as mg
    for model in [mg.MLP(2, [4, 1]), mg.Layer(3, 2, nonlin=False), mg.Neuron(2)]:
        model.save(tmp_path / 'm.json')
        loaded = type(model).load(tmp_path / 'm.json')
        assert params(loaded) == params(model) and repr(loaded) == repr(model)


def moons_run(tmp_path, **kwargs):
    X, labels = make_moons(n_samples=60, noise=0.1, random_state=0)
    y = [2 * t - 1 for t in labels]
    model = MLP(2, [8, 1], act='relu', out_act='linear', rng=random.Random(kwargs.pop('init', 1)))
    opt = Adam(model.parameters(), lr=0.02)
    history = fit(model, X, y, loss='hinge', l2=1e-4, optimizer=opt, lr=linear_decay(40, 0.05, 0.01),
                  steps=40, batch_size=16, seed=5, engine='eager', progress=False,
                  checkpoint=tmp_path / 'ck.json', checkpoint_every=10, **kwargs)
    return model, history


def test_resume_after_ctrl_c_is_bit_identical_to_an_uninterrupted_run(tmp_path):
    (tmp_path / 'a').mkdir()
    (tmp_path / 'b').mkdir()
    model_a, history_a = moons_run(tmp_path / 'a')

    def interrupt(k, history):
        if k == 22:
            os.kill(os.getpid(), signal.SIGINT)
    _, stopped = moons_run(tmp_path / 'b', callback=interrupt)
    assert stopped.interrupted and len(stopped.loss) == 23
    # a fresh model with other weights: everything must come from the checkpoint
    model_b, history_b = moons_run(tmp_path / 'b', resume=True, init=99)
    assert history_b.loss == history_a.loss and history_b.lr == history_a.lr
    assert history_b.accuracy == history_a.accuracy
    assert params(model_b) == params(model_a)


def test_resume_after_a_crash_continues_from_the_last_periodic_checkpoint(tmp_path):
    (tmp_path / 'a').mkdir()
    (tmp_path / 'b').mkdir()
    model_a, history_a = moons_run(tmp_path / 'a')

    def crash(k, history):
        if k == 26:
            raise RuntimeError('power cut')
    with pytest.raises(RuntimeError, match='power cut'):
        moons_run(tmp_path / 'b', callback=crash)
    assert json.loads((tmp_path / 'b' / 'ck.json').read_text())['training']['step'] == 20
    model_b, history_b = moons_run(tmp_path / 'b', resume=True, init=7)
    assert history_b.loss == history_a.loss and params(model_b) == params(model_a)


def test_resume_with_other_settings_is_refused(tmp_path):
    moons_run(tmp_path)
    X, labels = make_moons(n_samples=60, noise=0.1, random_state=0)
    model = MLP(2, [8, 1], act='relu', out_act='linear')
    with pytest.raises(CheckpointError, match='seed=5, but this run has seed=6'):
        fit(model, X, [2 * t - 1 for t in labels], loss='hinge', optimizer=Adam(model.parameters()),
            steps=40, batch_size=16, seed=6, engine='eager', progress=False,
            checkpoint=tmp_path / 'ck.json', resume=True)


def test_a_crash_while_writing_leaves_the_previous_checkpoint_whole(tmp_path, monkeypatch):
    model = MLP(2, [3, 1])
    path = tmp_path / 'm.json'
    model.save(path)
    before = path.read_bytes()
    for p in model.parameters():
        p.data += 1.0

    def crash(fd):
        raise OSError('disk full')
    monkeypatch.setattr(os, 'fsync', crash)
    with pytest.raises(OSError, match='disk full'):
        model.save(path)
    assert path.read_bytes() == before
    assert sorted(f.name for f in tmp_path.iterdir()) == ['m.json']   # no temporary file left


def corrupt(path, how):
    text = path.read_text()
    document = json.loads(text)
    if how == 'truncated':
        path.write_text(text[:len(text) // 2])
    elif how == 'empty':
        path.write_text('')
    elif how == 'binary':
        path.write_bytes(b'\x80\x81\xfe\xff' * 10)
    elif how == 'pickle':
        path.write_bytes(pickle.dumps({'format': 'tapegrad-checkpoint'}))
    elif how == 'not a checkpoint':
        path.write_text('{"hello": 1}')
    elif how == 'version':
        document['version'] = 99
        path.write_text(json.dumps(document))
    elif how == 'text parameter':
        document['parameters'][3] = 'x'
        path.write_text(json.dumps(document))
    elif how == 'nan parameter':
        document['parameters'][0] = float('nan')
        path.write_text(json.dumps(document))
    elif how == 'missing parameter':
        document['parameters'].pop()
        path.write_text(json.dumps(document))


@pytest.mark.parametrize('how, message', [
    ('truncated', 'not valid JSON at line .* truncated or corrupted'),
    ('empty', 'the file is empty'),
    ('binary', 'not a tapegrad checkpoint'),
    ('pickle', 'not a tapegrad checkpoint'),
    ('not a checkpoint', 'not a tapegrad checkpoint'),
    ('version', 'format version 99; this tapegrad reads version 1'),
    ('text parameter', 'must be a list of numbers'),
    ('nan parameter', 'not finite'),
    ('missing parameter', 'with 15 parameters, not a MLP.* with 16'),
])
def test_bad_checkpoints_are_clear_errors_naming_the_file(tmp_path, how, message):
    path = tmp_path / 'm.json'
    MLP(3, [3, 1]).save(path)
    corrupt(path, how)
    with pytest.raises(CheckpointError, match=message) as error:
        MLP.load(path)
    assert str(path) in str(error.value)


def test_wrong_architecture_names_both(tmp_path):
    path = tmp_path / 'm.json'
    MLP(3, [4, 1]).save(path)
    X = [[0.0, 1.0, 2.0]] * 4
    with pytest.raises(CheckpointError, match=r"nouts=\[4, 1\].*nouts=\[5, 1\]"):
        fit(MLP(3, [5, 1]), X, [1.0] * 4, steps=1, progress=False, checkpoint=path, resume=True)
    with pytest.raises(CheckpointError, match='holds a MLP, not a Layer'):
        Layer.load(path)
