"""The tape against micrograd, tapegrad eager, PyTorch and NumPy on micrograd's moons step.

    python benchmarks/compiled.py            # everything, a few minutes
    python benchmarks/compiled.py --quick    # fewer steps, no slow rows, no cold JIT

One training step: forward over the batch, SVM hinge loss plus 1e-4 L2, zero the
gradients, backward, an SGD update. moons-small is micrograd's demo (MLP(2, [16, 16, 1]),
ReLU hidden layers and a linear output, 100 points); moons-big is MLP(2, [64, 64, 1]) over
500 points. Every row runs in a fresh process and prints the median milliseconds a step;
the table gives ratios to PyTorch float64 (one thread) and speed-ups over micrograd 0.1.0
(fetched from PyPI into a cache folder and put first on PYTHONPATH, since tapegrad ships
a `micrograd` drop-in of the same name). The tape's one-off costs are timed apart:
tracing (model, loss, passes) and numba's JIT, on an empty cache and on a full one, with
backend='numba' (which waits for numba) and with the default backend (which starts on
NumPy while numba compiles; see src/tapegrad/tape/backend.py). Python bytecode is cached
under the cache folder, as it is in an ordinary install.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from eager import hand_written_step  # noqa: E402  (micrograd's demo step, with Values)
from reference import CACHE, fetch_micrograd  # noqa: E402

WORKLOADS = {'moons-small': ([2, 16, 16, 1], 100), 'moons-big': ([2, 64, 64, 1], 500)}
LR, ALPHA = 0.05, 1e-4
SLOW_ROWS = ('micrograd', 'eager', 'compile')  # timed in the first round only
BARS = """\
moons-small: tape at most 0.5x PyTorch float64, at least 3000x faster than micrograd
moons-big: tape at most 3x PyTorch float64
moons-small: trace + compile at most 1 s (cold cache) and 0.3 s (warm), as the wait
  before the first step with the default backend (what fit() uses)
moons-big: trace at most 5 s"""


# ----------------------------------------------------------------------------------
# The workers: each builds the workload, times one kind of step, prints a JSON line


def moons(n):
    """micrograd's demo data: make_moons(n, noise=0.1) after np.random.seed(1337), y = +-1."""
    import numpy as np
    from tapegrad.data import make_moons
    np.random.seed(1337)
    X, y = make_moons(n_samples=n, noise=0.1)
    return X, [2 * label - 1 for label in y]


def weights(sizes):
    """The demo's initial weights, micrograd's order: random.seed(1337), uniform(-1, 1)."""
    import random
    random.seed(1337)
    return [[[random.uniform(-1, 1) for _ in range(nin)] + [0.0] for _ in range(nout)]
            for nin, nout in zip(sizes, sizes[1:])]


def tapegrad_model(sizes):
    from tapegrad import MLP
    model = MLP(sizes[0], sizes[1:], act='relu', out_act='linear')
    for layer, rows in zip(model.layers, weights(sizes)):
        for neuron, row in zip(layer.neurons, rows):
            for w, number in zip(neuron.w + [neuron.b], row):
                w.data = number
    return model


def time_steps(step, n):
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return times


def run_micrograd(sizes, X, y, steps):
    from micrograd.engine import Value
    from micrograd.nn import MLP
    import random
    random.seed(1337)
    model = MLP(sizes[0], sizes[1:])
    return {'times': time_steps(lambda: hand_written_step(model, X, y, Value, LR), steps)}


def run_eager(sizes, X, y, steps):
    from tapegrad import Value
    from tapegrad.engine import topological_order
    model = tapegrad_model(sizes)
    nodes = len(topological_order(hand_written_step(model, X, y, Value, LR)))
    return {'times': time_steps(lambda: hand_written_step(model, X, y, Value, LR), steps),
            'nodes': nodes}


def run_tape(sizes, X, y, steps, backend):
    result = {}
    if backend == 'numba':
        t0 = time.perf_counter()
        import numba  # noqa: F401
        result['import numba'] = time.perf_counter() - t0
    from tapegrad import losses
    from tapegrad.tape import TapeStep
    model = tapegrad_model(sizes)
    params = model.parameters()
    tape_step = TapeStep(model, losses.hinge, l2=ALPHA, backend=backend)

    def step():
        tape_step(X, y)
        for p in params:
            p.data -= LR * p.grad

    t0 = time.perf_counter()
    tape_step.tapes(X, y)  # trace the model and the loss, run the passes, lay out the rows
    result['trace'] = time.perf_counter() - t0
    result['first step'] = time_steps(step, 1)[0]
    result['times'] = time_steps(step, steps)
    return result


def run_tape_default(sizes, X, y, limit=120.0):
    """The default backend from a fresh process: when the first step is done, when numba runs."""
    t0 = time.perf_counter()
    import numba  # noqa: F401
    result = {'import numba': time.perf_counter() - t0}
    from tapegrad import losses
    from tapegrad.tape import TapeStep
    model = tapegrad_model(sizes)
    params = model.parameters()
    t0 = time.perf_counter()
    tape_step = TapeStep(model, losses.hinge, l2=ALPHA)  # backend=None
    steps = 0
    while True:
        tape_step(X, y)
        for p in params:
            p.data -= LR * p.grad
        steps += 1
        if steps == 1:
            result['first step'] = time.perf_counter() - t0
        if tape_step.backend.active == 'numba' or time.perf_counter() - t0 > limit:
            break
    result.update({'numba after': time.perf_counter() - t0, 'steps': steps,
                   'backend': tape_step.backend.active})
    return result


def run_compile(sizes, X, y, steps):
    """compile() on the demo's own loss function: the whole batch's graph as one tape."""
    from tapegrad.tape import compile
    model = tapegrad_model(sizes)
    params = model.parameters()

    def loss(X, y):
        scores = [model(x) for x in X]
        data_loss = sum((1 + -yi * si).relu() for yi, si in zip(y, scores)) * (1.0 / len(scores))
        return data_loss + ALPHA * sum(p * p for p in params)

    compiled = compile(loss, params)

    def step():
        model.zero_grad()
        compiled(X, y)
        for p in params:
            p.data -= LR * p.grad

    t0 = time.perf_counter()
    compiled.tape(X, y)
    return {'trace': time.perf_counter() - t0, 'first step': time_steps(step, 1)[0],
            'times': time_steps(step, steps)}


def run_torch(sizes, X, y, steps, dtype_name):
    import torch
    torch.set_num_threads(1)
    dtype = getattr(torch, dtype_name)
    params = []
    for rows in weights(sizes):
        params.append(torch.tensor([r[:-1] for r in rows], dtype=dtype, requires_grad=True))
        params.append(torch.tensor([r[-1] for r in rows], dtype=dtype, requires_grad=True))
    Xt, yt = torch.tensor(X, dtype=dtype), torch.tensor(y, dtype=dtype)

    def step():
        h = Xt
        for i in range(0, len(params), 2):
            h = h @ params[i].T + params[i + 1]
            if i < len(params) - 2:
                h = torch.relu(h)
        loss = torch.relu(1 - yt * h[:, 0]).mean() + ALPHA * sum((p * p).sum() for p in params)
        for p in params:
            p.grad = None
        loss.backward()
        with torch.no_grad():
            for p in params:
                p -= LR * p.grad

    time_steps(step, 10)  # PyTorch's first calls allocate and dispatch slowly
    return {'times': time_steps(step, steps)}


def run_numpy(sizes, X, y, steps):
    """The step written by hand with NumPy matrices: forward, backward, update."""
    import numpy as np
    Ws = [np.array([r[:-1] for r in rows]) for rows in weights(sizes)]
    bs = [np.array([r[-1] for r in rows]) for rows in weights(sizes)]
    Xa, ya = np.array(X), np.array(y, dtype=float)

    def step():
        hs, zs = [Xa], []
        for i, (W, b) in enumerate(zip(Ws, bs)):
            zs.append(hs[-1] @ W.T + b)
            hs.append(np.maximum(zs[-1], 0) if i < len(Ws) - 1 else zs[-1])
        margins = 1 - ya * hs[-1][:, 0]
        g = (np.where(margins > 0, -ya, 0.0) / len(ya))[:, None]
        for i in reversed(range(len(Ws))):
            gW, gb = g.T @ hs[i] + 2 * ALPHA * Ws[i], g.sum(0) + 2 * ALPHA * bs[i]
            if i:
                g = (g @ Ws[i]) * (zs[i - 1] > 0)
            Ws[i] -= LR * gW
            bs[i] -= LR * gb

    time_steps(step, 10)
    return {'times': time_steps(step, steps)}


def worker(row, workload, steps):
    if os.environ.get('TAPEGRAD_BENCH_NO_SCIPY'):
        # as in an install of tapegrad[all]: scipy is here only for the tests' scikit-learn,
        # and numba imports it at start-up when it is installed
        sys.modules['scipy'] = None
    sizes, n = WORKLOADS[workload]
    X, y = moons(n)
    if row == 'micrograd':
        result = run_micrograd(sizes, X, y, steps)
    elif row == 'eager':
        result = run_eager(sizes, X, y, steps)
    elif row == 'tape-default':
        result = run_tape_default(sizes, X, y)
    elif row.startswith('tape-'):
        result = run_tape(sizes, X, y, steps, row[len('tape-'):])
    elif row == 'compile':
        result = run_compile(sizes, X, y, steps)
    elif row.startswith('torch-'):
        result = run_torch(sizes, X, y, steps, row[len('torch-'):])
    else:
        result = run_numpy(sizes, X, y, steps)
    print(json.dumps(result))


# ----------------------------------------------------------------------------------
# The driver


def run_worker(row, workload, steps, env):
    done = subprocess.run([sys.executable, __file__, '--worker', row, workload, str(steps)],
                          env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ['(no output)'])[-1]
        return {'error': last}
    return json.loads(done.stdout.strip().splitlines()[-1])


def available(module):
    import importlib.util
    return importlib.util.find_spec(module) is not None


def worker_env(cache):
    env = dict(os.environ)
    env.pop('PYTHONDONTWRITEBYTECODE', None)
    for threads in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'):
        env[threads] = '1'  # one thread everywhere, as PyTorch's rows
    env['PYTHONPYCACHEPREFIX'] = str(cache / 'pycache')
    src = HERE.parent / 'src'
    env['PYTHONPATH'] = os.pathsep.join(p for p in [str(src), env.get('PYTHONPATH')] if p)
    return env


def plan(args):
    """[(workload, label, row, steps)] for the rows this run times (0 steps: skipped)."""
    rows = []
    for workload in WORKLOADS:
        big = workload == 'moons-big'
        steps = 20 if args.quick else (100 if big else 300)
        if big:
            micrograd = 1 if args.micrograd_big == 'run' and not args.quick else 0
            eager = 0 if args.quick else args.eager_big_steps
        else:
            micrograd, eager = (2, 3) if args.quick else (5, 10)
        rows += [(workload, 'micrograd 0.1.0', 'micrograd', micrograd),
                 (workload, 'tapegrad eager', 'eager', eager),
                 (workload, 'tapegrad tape, numba', 'tape-numba', steps),
                 (workload, 'tapegrad tape, numpy', 'tape-numpy', max(steps // 5, 5))]
        if not big:
            rows.append((workload, 'tapegrad compile(), numba', 'compile', 0 if args.quick else 50))
        rows += [(workload, 'PyTorch float64', 'torch-float64', steps),
                 (workload, 'PyTorch float32', 'torch-float32', steps),
                 (workload, 'NumPy by hand', 'numpy', steps)]
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--quick', action='store_true',
                        help='fewer steps; skip the slow rows and the cold-cache JIT')
    parser.add_argument('--micrograd-big', choices=['estimate', 'run'], default='estimate',
                        help='moons-big on micrograd takes minutes a step: estimate it from '
                             "moons-small's time per graph node (default), or run one step")
    parser.add_argument('--eager-big-steps', type=int, default=1,
                        help='timed steps of tapegrad eager on moons-big (0 skips it)')
    parser.add_argument('--rounds', type=int, default=None,
                        help='fresh processes per row, taken in turns so that a busy machine '
                             'slows all rows alike (default 3, 1 with --quick)')
    parser.add_argument('--worker', nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        row, workload, steps = args.worker
        return worker(row, workload, int(steps))

    cache = CACHE / 'compiled-benchmark'
    cache.mkdir(parents=True, exist_ok=True)
    env = worker_env(cache)
    torch_ok, numba_ok = available('torch'), available('numba')
    try:
        micrograd_env = dict(env, PYTHONPATH=os.pathsep.join([str(fetch_micrograd()),
                                                              env['PYTHONPATH']]))
    except RuntimeError as error:
        micrograd_env, micrograd_error = None, str(error).splitlines()[0]

    rounds = args.rounds or (1 if args.quick else 3)
    rows = plan(args)
    results = {(workload, label): None for workload, label, _, _ in rows}  # in table order
    for workload, label, row, steps in rows:
        if row.startswith('torch') and not torch_ok:
            results[workload, label] = {'skipped': 'PyTorch is not installed'}
        elif row in ('tape-numba', 'compile') and not numba_ok:
            results[workload, label] = {'skipped': 'numba is not installed '
                                                   '(pip install tapegrad[fast])'}
        elif row == 'micrograd' and micrograd_env is None:
            results[workload, label] = {'skipped': f'micrograd unavailable: {micrograd_error}'}
        elif steps == 0:
            results[workload, label] = {'skipped': 'skipped'}
    jit = {}
    if numba_ok:
        print("timing numba's one-off costs...", file=sys.stderr, flush=True)
        jit = jit_costs('moons-small', env, quick=args.quick)
    for turn in range(rounds):  # every row once a turn, each time in a fresh process
        for workload, label, row, steps in rows:
            done = results[workload, label]
            if (done and 'skipped' in done) or (turn and row in SLOW_ROWS):
                continue
            print(f"timing {workload}: {label} ({steps} steps, round {turn + 1} of {rounds})...",
                  file=sys.stderr, flush=True)
            result = run_worker(row, workload, steps,
                                micrograd_env if row == 'micrograd' else env)
            if done and 'times' in done and 'times' in result:
                done['times'] += result['times']
            else:
                results[workload, label] = result
    report(results, jit)


def jit_costs(workload, env, quick):
    """numba's one-off costs, each in a fresh process: backend='numba' on an empty cache,
    then on the cache it filled; then the default backend on another empty cache (it
    starts on NumPy while a separate process compiles) and on the cache that filled.

    With --quick, numba's usual cache instead: a first run fills it if need be, and the
    second is timed as the warm one; the cold costs are not measured.
    """
    if quick:
        run_worker('tape-numba', workload, 1, env)
        return {'warm': run_worker('tape-numba', workload, 1, env),
                'default warm': run_worker('tape-default', workload, 1, env),
                'default warm, no scipy': run_worker('tape-default', workload, 1,
                                                     dict(env, TAPEGRAD_BENCH_NO_SCIPY='1'))}
    costs = {}
    for rows in (('cold', 'warm'), ('default cold', 'default warm')):
        folder = Path(tempfile.mkdtemp(prefix='tapegrad-numba-'))
        folder_env = dict(env, NUMBA_CACHE_DIR=str(folder))
        try:
            for name in rows:
                row = 'tape-default' if name.startswith('default') else 'tape-numba'
                costs[name] = run_worker(row, workload, 1, folder_env)
                if name == 'default cold':  # let its compiling process finish filling the cache
                    time.sleep(1.0)
            if rows[0] == 'default cold':
                costs['default warm, no scipy'] = run_worker(
                    'tape-default', workload, 1, dict(folder_env, TAPEGRAD_BENCH_NO_SCIPY='1'))
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    return costs


# ----------------------------------------------------------------------------------
# The report


def median_ms(result):
    return statistics.median(result['times']) * 1e3 if result and 'times' in result else None


def report(results, jit):
    for workload, (sizes, n) in WORKLOADS.items():
        nodes = results.get((workload, 'tapegrad eager'), {}).get('nodes')
        small_nodes = results.get(('moons-small', 'tapegrad eager'), {}).get('nodes')
        print(f"\n{workload}: MLP({sizes[0]}, {sizes[1:]}), {n} points, hinge + {ALPHA} L2, SGD"
              + (f"; {nodes:,} graph nodes a step" if nodes else ''))
        torch_ms = median_ms(results.get((workload, 'PyTorch float64')))
        micrograd_ms = median_ms(results.get((workload, 'micrograd 0.1.0')))
        micrograd_note = ''
        if micrograd_ms is None and workload == 'moons-big' and nodes and small_nodes:
            small = median_ms(results.get(('moons-small', 'micrograd 0.1.0')))
            if small:
                micrograd_ms = small / small_nodes * nodes
                micrograd_note = "estimated: moons-small's time per graph node x this graph's nodes"
        print(f"  {'':28}{'ms a step':>12}{'x PyTorch f64':>15}{'x faster than micrograd':>25}")
        for (w, label), result in results.items():
            if w != workload:
                continue
            ms = median_ms(result)
            if label == 'micrograd 0.1.0' and ms is None and micrograd_ms:
                vs_torch = f"{micrograd_ms / torch_ms:14.0f}x" if torch_ms else f"{'-':>15}"
                print(f"  {label:28}{micrograd_ms:12.1f}{vs_torch}{'1':>24}x  ({micrograd_note})")
                continue
            if ms is None:
                print(f"  {label:28}  {result.get('skipped') or result.get('error')}")
                continue
            vs_torch = f"{ms / torch_ms:14.2f}x" if torch_ms else f"{'-':>15}"
            vs_micrograd = f"{micrograd_ms / ms:24.0f}x" if micrograd_ms else f"{'-':>25}"
            print(f"  {label:28}{ms:12.3f}{vs_torch}{vs_micrograd}")
        tape = results.get((workload, 'tapegrad tape, numba'), {})
        numpy_tape = results.get((workload, 'tapegrad tape, numpy'), {})
        compiled = results.get((workload, 'tapegrad compile(), numba'), {})
        costs = [f"trace (model, loss, passes) {t['trace']:.3f} s"
                 for t in (tape or numpy_tape,) if 'trace' in t]
        if 'trace' in compiled:
            costs.append(f"compile() trace of the whole graph {compiled['trace']:.2f} s")
        if costs:
            print('  one-off: ' + '; '.join(costs))
        if workload == 'moons-small' and jit:
            print_jit(jit)
    print('\nbars (the issue):\n' + BARS)
    print_bars(results, jit)


def first_call_jit(run):
    """Seconds the first step spent on numba beyond a steady step: compiling or loading."""
    return run['first step'] - statistics.median(run['times'])


JIT_RUNS = (('cold', "backend='numba', cold cache"), ('warm', "backend='numba', warm cache"),
            ('default cold', 'default backend, cold cache'),
            ('default warm', 'default backend, warm cache'),
            ('default warm, no scipy', 'default backend, warm cache, no scipy'))


def print_jit(jit):
    lines = []
    for name, label in JIT_RUNS:
        run = jit.get(name)
        if not run or 'first step' not in run:
            lines.append(f"{label}: {run.get('error') if run else 'not timed (--quick)'}")
            continue
        if name.startswith('default'):
            what = (f"first step done after {run['first step']:.2f} s; numba's loops ran from "
                    f"{run['numba after']:.2f} s, after {run['steps'] - 1} steps on NumPy")
        else:
            what = (f"trace {run['trace']:.3f} s + JIT {first_call_jit(run):.2f} s"
                    f" = {run['trace'] + first_call_jit(run):.2f} s")
        lines.append(f"{label}: {what} (+ import numba {run['import numba']:.2f} s)")
    print('  numba, fresh processes:\n' + '\n'.join('    ' + line for line in lines))


def print_bars(results, jit):
    def ms(workload, label):
        return median_ms(results.get((workload, label)))

    small_tape = ms('moons-small', 'tapegrad tape, numba')
    small_torch = ms('moons-small', 'PyTorch float64')
    big_tape, big_torch = ms('moons-big', 'tapegrad tape, numba'), ms('moons-big', 'PyTorch float64')
    micrograd = ms('moons-small', 'micrograd 0.1.0')
    checks = []
    if small_tape and small_torch:
        checks.append(('moons-small tape / PyTorch f64', small_tape / small_torch, '<= 0.5'))
    if small_tape and micrograd:
        checks.append(('moons-small speed-up over micrograd', micrograd / small_tape, '>= 3000'))
    if big_tape and big_torch:
        checks.append(('moons-big tape / PyTorch f64', big_tape / big_torch, '<= 3'))
    for name, run, limit in (
            ('moons-small to first step, cold (s)', jit.get('default cold'), 1.0),
            ('moons-small to first step, warm (s)', jit.get('default warm'), 0.3),
            ('  the same without scipy, as tapegrad[all]', jit.get('default warm, no scipy'), 0.3)):
        if run and 'first step' in run:
            checks.append((name, run['first step'], f'<= {limit}'))
    big = results.get(('moons-big', 'tapegrad tape, numba'), {})
    if 'trace' in big:
        checks.append(('moons-big trace (s)', big['trace'], '<= 5'))
    for name, value, bar in checks:
        op, limit = bar.split()
        ok = value <= float(limit) if op == '<=' else value >= float(limit)
        print(f"  {name:42}{value:10.3f}  {bar:>8}  {'met' if ok else 'NOT MET'}")


if __name__ == '__main__':
    main()
