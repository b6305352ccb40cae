"""The default backend: NumPy while a separate process compiles numba's loops, then numba.

Each test that needs an empty numba cache runs in a fresh process with NUMBA_CACHE_DIR
set to a new folder: the process under test cannot have compiled anything yet.
"""

import os
import random
import subprocess
import sys
import warnings

import pytest

from tapegrad import MLP, losses
from tapegrad.data import make_moons
from tapegrad.tape import TapeStep, backend

# Twin models trained in lockstep: one on the default backend, one on NumPy only. Their
# numbers must agree to the last bit at every step, before, at and after the move.
LOCKSTEP = """
import random, sys, time
from tapegrad import MLP, Value, losses
from tapegrad.data import make_moons
from tapegrad.tape import TapeStep, compile
from tapegrad.tape.backend import COMPILER, LOADER
from tapegrad.tape import replay_numba

X, labels = make_moons(40, noise=0.1, random_state=0)
y = [2 * t - 1 for t in labels]
models = [MLP(2, [8, 8, 1], act='relu', out_act='linear', rng=random.Random(1)) for _ in range(2)]
steps = [TapeStep(models[0], losses.hinge, l2=1e-4), TapeStep(models[1], losses.hinge, l2=1e-4,
                                                                backend='numpy')]
w = [Value(0.5), Value(0.5)]
fns = [compile(lambda x: (w[0] * x).tanh() ** 2, [w[0]]),
       compile(lambda x: (w[1] * x).tanh() ** 2, [w[1]], backend='numpy')]
seen = []
for i in range(400):
    if i == 3:
        assert LOADER.wait(), LOADER.why
    results = [step(X, y) for step in steps]
    assert results[0] == results[1], (i, results)
    for model in models:
        for p in model.parameters():
            p.data -= 0.05 * p.grad
    for v in w:
        v.grad = 0.0
    assert [fn(0.3 + i / 100) for fn in fns] == [fn(0.3 + i / 100) for fn in fns[::-1]][::-1]
    assert w[0].grad == w[1].grad and w[0].grad != 0.0
    seen.append((steps[0].backend.active, fns[0].backend.active))
    if seen[-1] == ('numba', 'numba'):
        break
assert [p.data for p in models[0].parameters()] == [p.data for p in models[1].parameters()]
print(seen[0], seen[-1], len(seen), replay_numba.is_cached(), COMPILER.pid is not None)
print([dict(k.stats.cache_misses) for k in (replay_numba.forward_one, replay_numba.backward_one,
                                            replay_numba.forward, replay_numba.backward)])
"""


def run(code, cache_dir):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache_dir))
    done = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, env=env,
                          timeout=900)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()


def test_cold_cache_starts_on_numpy_and_moves_to_numba_with_the_same_bits(tmp_path):
    first, last = run(LOCKSTEP, tmp_path)
    # cold: the first steps ran on NumPy, a compiling process was started, and the
    # replays moved to numba's loops right after they were ready
    assert first.startswith("('numpy', 'numpy') ('numba', 'numba') 4 True True"), first
    # the loops the process compiled are the ones the replays call: no compiling here
    assert last == '[{}, {}, {}, {}]', last
    # warm: numba's loops are loaded from the cache (while NumPy replays), and no
    # compiling process is started
    first, last = run(LOCKSTEP, tmp_path)
    assert first.startswith("('numpy', 'numpy') ('numba', 'numba') 4 True False"), first
    assert last == '[{}, {}, {}, {}]', last


def test_explicit_backends_never_move():
    assert TapeStep(MLP(2, [1]), losses.hinge, backend='numpy').backend.active == 'numpy'
    assert TapeStep(MLP(2, [1]), losses.hinge, backend='numba').backend.active == 'numba'
    with pytest.raises(ValueError, match="backend must be one of 'numba', 'numpy' or None"):
        TapeStep(MLP(2, [1]), losses.hinge, backend='cuda')


def test_a_failed_compile_warns_once_and_stays_on_numpy(monkeypatch):
    failing = backend._Compiler()
    failing.code = 'raise SystemExit(3)'
    monkeypatch.setattr(backend, 'COMPILER', failing)
    monkeypatch.setattr(backend, 'LOADER', backend._Loader())
    monkeypatch.setattr('tapegrad.tape.replay_numba.is_cached', lambda: False)
    X, labels = make_moons(10, noise=0.1, random_state=0)
    y = [2 * t - 1 for t in labels]
    step = TapeStep(MLP(2, [4, 1], out_act='linear'), losses.hinge)
    reference = TapeStep(MLP(2, [4, 1], out_act='linear'), losses.hinge, backend='numpy')
    for p, q in zip(step.model.parameters(), reference.model.parameters()):
        q.data = p.data
    assert step(X, y) == reference(X, y)
    assert step(X, y) == reference(X, y)  # the second call starts making numba's loops ready
    assert not backend.LOADER.wait(timeout=600)
    with pytest.warns(RuntimeWarning, match=r"compiling numba's loops failed \(exit code 3\)"):
        assert step(X, y) == reference(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter('error')  # once only
        assert step(X, y) == reference(X, y)
    assert step.backend.active == 'numpy'


def test_a_big_first_step_waits_for_numbas_loops_unless_they_must_be_compiled(monkeypatch):
    X, labels = make_moons(10, noise=0.1, random_state=0)
    y = [2 * t - 1 for t in labels]

    def first_step():
        step = TapeStep(MLP(2, [4, 1], out_act='linear', rng=random.Random(0)), losses.hinge)
        reference = TapeStep(MLP(2, [4, 1], out_act='linear', rng=random.Random(0)),
                             losses.hinge, backend='numpy')
        assert step(X, y) == reference(X, y)
        return step.backend.active

    # small: the first step replays with NumPy, and numba is not even being loaded yet
    monkeypatch.setattr(backend, 'LOADER', backend._Loader())
    assert first_step() == 'numpy' and backend.LOADER.thread is None
    # big (parameters x samples over WAIT_FOR_LOOPS): loading the cached loops is quicker
    # than a step with NumPy, so the first step waits for them (cached first, by the same
    # process a step starts: on a fresh machine nothing is cached yet)
    subprocess.run([sys.executable, '-c', backend._Compiler.code], check=True, timeout=900)
    monkeypatch.setattr(backend, 'WAIT_FOR_LOOPS', 10)
    assert first_step() == 'numba'
    # big, but the loops must be compiled first (seconds): NumPy replays meanwhile
    failing = backend._Compiler()
    failing.code = 'raise SystemExit(3)'
    monkeypatch.setattr(backend, 'COMPILER', failing)
    monkeypatch.setattr(backend, 'LOADER', backend._Loader())
    monkeypatch.setattr('tapegrad.tape.replay_numba.is_cached', lambda: False)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # (the failure is said once, when the step sees it)
        assert first_step() == 'numpy'
    assert not backend.LOADER.wait(timeout=600)


def test_a_script_that_ends_while_numba_compiles_does_not_wait_for_it(tmp_path):
    # the compiling process goes on for the next run; the script ends at once
    code = '''
import time
from tapegrad import MLP, losses
from tapegrad.data import make_moons
from tapegrad.tape import TapeStep
from tapegrad.tape.backend import COMPILER, LOADER
X, labels = make_moons(10, noise=0.1, random_state=0)
step = TapeStep(MLP(2, [4, 1]), losses.hinge)
step(X, [2 * t - 1 for t in labels]); step(X, [2 * t - 1 for t in labels])
assert LOADER.compiling.wait(120), LOADER.why
while COMPILER.pid is None and not LOADER.done():  # (started just after the event is set)
    time.sleep(0.01)
print(COMPILER.pid)
'''
    done = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                          env=dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path)), timeout=120)
    assert done.returncode == 0, done.stderr
    compiler = int(done.stdout)
    try:
        os.kill(compiler, 0)  # still compiling: the script did not wait for it
    finally:
        try:
            os.kill(compiler, 15)
        except ProcessLookupError:
            pass


def test_one_compiling_process_per_machine_and_no_resource_warning(tmp_path):
    # two compiling processes started at once on one empty cache: one compiles, the other
    # waits for it and finds the loops cached (numba reports each save with NUMBA_DEBUG_CACHE)
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path), NUMBA_DEBUG_CACHE='1')
    code = 'from tapegrad.tape.backend import compile_once; compile_once()'
    both = [subprocess.Popen([sys.executable, '-c', code], env=env, stdout=subprocess.PIPE,
                             text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=900)[0] for p in both]
    assert all(p.returncode == 0 for p in both)
    saves = [out.count('data saved to') for out in outputs]
    assert sorted(saves)[0] == 0 and sorted(saves)[1] > 0, saves
    # a short script on a new cache starts a compiler and exits before it is done,
    # without a ResourceWarning (the compiler goes on, detached)
    done = subprocess.run(
        [sys.executable, '-X', 'dev', '-W', 'error::ResourceWarning', '-c', """
from tapegrad import MLP, losses
from tapegrad.tape import TapeStep
step = TapeStep(MLP(2, [3, 1]), losses.mse)
print(step([[1.0, 2.0]], [0.5])[0] > 0, step.backend.waits)
"""], env=dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / 'new')), capture_output=True, text=True,
        timeout=900)
    assert done.stdout.split() == ['True', 'True'], done.stderr
    assert 'ResourceWarning' not in done.stderr and 'Exception ignored' not in done.stderr


def test_numba_loops_name_the_optim_code_they_compile():
    # numba's cache notices changes to replay_numba.py only: a change to the optimizers'
    # update functions must come with a new DEPENDS_ON there (the hash printed here)
    from tapegrad.tape import replay_numba
    assert replay_numba.DEPENDS_ON == replay_numba.dependency_hash(), (
        f"optim's update functions changed: set DEPENDS_ON = "
        f"{replay_numba.dependency_hash()!r} in tapegrad/tape/replay_numba.py")
