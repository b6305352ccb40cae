"""Checkpoints: exact round trips, bit-identical resume, atomic writes, clear errors."""

import json
import os
import pickle
import random
import signal
import stat
import subprocess
import sys
import time

import pytest

from tapegrad import MLP, Layer, Neuron, checkpoint, fit
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
    ('version', 'format version 99; this tapegrad reads versions 1 and 2'),
    ('text parameter', r'"parameters\[3\]" is "x": not a number'),
    ('nan parameter', r'"parameters\[0\]" is nan: not a finite number'),
    ('missing parameter', r'describes a MLP\(nin=3, nouts=\[3, 1\].*\) with 16 parameters, but "parameters" holds 15'),
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


# ----------------------------------------------------------------------------------
# Hostile files: every field is checked before anything is built from it


def saved_document(tmp_path, **fit_kwargs):
    """A checkpoint written by fit(): model, Adam state and training progress."""
    path = tmp_path / 'ck.json'
    X, labels = make_moons(n_samples=20, noise=0.1, random_state=0)
    model = MLP(2, [4, 1])
    fit(model, X, [2 * t - 1 for t in labels], loss='hinge', optimizer=Adam(model.parameters()),
        steps=3, engine='eager', progress=False, checkpoint=path)
    return path, json.loads(path.read_text())


def rewrite(path, document, text=None):
    """Write a changed document with a checksum that matches it, as a forger would."""
    path.write_text(text if text is not None else checkpoint._text(document))


def huge_model(document):
    document['model'].update(nin=100_000, nouts=[100_000, 1])


def set_path(*keys, value):
    def change(document):
        target = document
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value
    return change


HOSTILE = [
    # (change to the document, the field the error must name, what it must say)
    (huge_model, 'parameters', 'with 10,000,200,001 parameters, but "parameters" holds 17'),
    (set_path('model', 'nin', value=10 ** 400), 'model.nin', 'an integer of 401 digits'),
    (set_path('parameters', 0, value='<5000 digits>'), 'parameters[0]', 'an integer of 5000 digits'),
    (set_path('model', 'rng', value='x'), 'model.rng', 'is not a setting of MLP'),
    (lambda d: d.pop('class'), 'class', "must name the model's class"),
    (set_path('optimizer', 'state', 'lr', value='fast'), 'optimizer.state.lr', '"fast": not a number'),
    (set_path('training', 'step', value='x'), 'training.step', 'must be a whole number >= 0, got "x"'),
    (set_path('training', 'history', value=None), 'training.history', 'must hold the lists loss'),
    (set_path('training', 'step', value=2), 'training.history.loss', 'holds 3 losses for training.step 2'),
    (set_path('training', value='<deep>'), 'training', 'nested too deeply'),
]


@pytest.mark.parametrize('change, field, message', HOSTILE,
                         ids=[field for _, field, _ in HOSTILE[:-1]] + ['deep nesting'])
def test_a_hostile_checkpoint_is_one_error_naming_the_file_and_the_field(tmp_path, change, field, message):
    path, document = saved_document(tmp_path)
    change(document)
    text = checkpoint._text(document)
    text = text.replace('"<5000 digits>"', '7' * 5000).replace('"<deep>"', '[' * 100_000 + ']' * 100_000)
    rewrite(path, document, text)
    for load in (lambda: MLP.load(path), lambda: moons_resume(path)):
        with pytest.raises(CheckpointError) as error:
            load()
        assert str(path) in str(error.value) and f'"{field}"' in str(error.value) \
            and message in str(error.value), str(error.value)


def moons_resume(path):
    X, labels = make_moons(n_samples=20, noise=0.1, random_state=0)
    model = MLP(2, [4, 1])
    return fit(model, X, [2 * t - 1 for t in labels], loss='hinge', optimizer=Adam(model.parameters()),
               steps=5, engine='eager', progress=False, checkpoint=path, resume=True)


def test_a_huge_described_model_is_refused_before_it_is_built(tmp_path):
    # under a 1 GB memory cap: building MLP(100000, [100000, 1]) would need hundreds of GB
    path, document = saved_document(tmp_path)
    huge_model(document)
    rewrite(path, document)
    script = ("import resource, sys\n"
              "resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))\n"
              "from tapegrad import MLP\n"
              "from tapegrad.checkpoint import CheckpointError\n"
              "try:\n    MLP.load(sys.argv[1])\n"
              "except CheckpointError as error:\n    print(error)\n")
    done = subprocess.run([sys.executable, '-c', script, str(path)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0 and 'with 10,000,200,001 parameters' in done.stdout, done.stderr


def test_a_changed_digit_fails_the_checksum(tmp_path):
    # every parameter's last digit, one at a time: some of the changed numbers read back
    # as the same float, and the change is caught all the same
    path = tmp_path / 'm.json'
    model = MLP(3, [4, 1], bias='uniform')
    model.save(path)
    saved = path.read_text()
    for value in json.loads(saved)['parameters']:
        text = repr(value)
        changed = text[:-1] + str((int(text[-1]) + 1) % 10)
        path.write_text(saved.replace(text, changed, 1))
        with pytest.raises(CheckpointError, match='the checksum does not match the contents'):
            MLP.load(path)
    path.write_text(saved)
    assert params(MLP.load(path)) == params(model)


def test_version_1_files_without_a_checksum_still_load(tmp_path):
    path = tmp_path / 'm.json'
    model = MLP(3, [4, 1])
    model.save(path)
    document = json.loads(path.read_text())
    del document['checksum']
    document['version'] = 1
    path.write_text(json.dumps(document))
    assert params(MLP.load(path)) == params(model)


# ----------------------------------------------------------------------------------
# The file on disk: permissions, leftovers of killed writers, a full disk


def test_a_new_file_follows_the_umask_and_an_overwritten_one_keeps_its_mode(tmp_path):
    previous = os.umask(0o022)
    try:
        MLP(2, [1]).save(tmp_path / 'new.json')
        assert stat.S_IMODE((tmp_path / 'new.json').stat().st_mode) == 0o644
        os.umask(0o077)
        MLP(2, [1]).save(tmp_path / 'private.json')
        assert stat.S_IMODE((tmp_path / 'private.json').stat().st_mode) == 0o600
    finally:
        os.umask(previous)
    shared = tmp_path / 'shared.json'
    MLP(2, [1]).save(shared)
    shared.chmod(0o664)
    MLP(2, [1]).save(shared)
    assert stat.S_IMODE(shared.stat().st_mode) == 0o664


def test_the_next_save_removes_what_a_writer_killed_mid_save_left(tmp_path):
    # a writer that hangs in fsync, killed with SIGKILL once its temporary file exists
    script = ("import os, sys, time\n"
              "from tapegrad import MLP\n"
              "os.fsync = lambda fd: time.sleep(600)\n"
              "MLP(2, [3, 1]).save(sys.argv[1])\n")
    writer = subprocess.Popen([sys.executable, '-c', script, str(tmp_path / 'm.json')])
    try:
        for _ in range(600):
            left = list(tmp_path.glob('.m.json.*.tmp'))
            if left:
                break
            time.sleep(0.05)
    finally:
        writer.kill()
        writer.wait()
    assert len(left) == 1
    (tmp_path / 'other.json.tmp').write_text('not ours')
    MLP(2, [3, 1]).save(tmp_path / 'm.json')
    assert sorted(f.name for f in tmp_path.iterdir()) == ['m.json', 'other.json.tmp']


def test_a_full_disk_names_the_file(tmp_path):
    # RLIMIT_FSIZE makes writes past 1 KB fail as a full disk does (Python ignores SIGXFSZ)
    script = ("import resource, sys\n"
              "from tapegrad import MLP\n"
              "resource.setrlimit(resource.RLIMIT_FSIZE, (1024, 1024))\n"
              "MLP(3, [8, 8, 1]).save(sys.argv[1])\n")
    path = tmp_path / 'm.json'
    done = subprocess.run([sys.executable, '-c', script, str(path)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 1
    assert f"File too large: '{path}'" in done.stderr, done.stderr
    assert not path.exists() and not list(tmp_path.glob('.*.tmp'))


def test_ctrl_c_during_a_save_stops_training_at_the_next_step(tmp_path, monkeypatch):
    real_write = checkpoint.write
    calls = []

    def write_then_ctrl_c(*args, **kwargs):
        calls.append(args[2] is not None)
        if len(calls) == 1:
            os.kill(os.getpid(), signal.SIGINT)   # arrives while the checkpoint is written
        return real_write(*args, **kwargs)
    monkeypatch.setattr(checkpoint, 'write', write_then_ctrl_c)
    _, history = moons_run(tmp_path)   # saves every 10 steps
    assert history.interrupted and len(history.loss) == 11
    assert json.loads((tmp_path / 'ck.json').read_text())['training']['step'] == 11
