"""Training-step time of tapegrad's fit() and compile(), side by side with JAX, PyTorch, NumPy and micrograd.

    python benchmarks/compiled.py                 # every row, 3 rounds (about 15 minutes today)
    python benchmarks/compiled.py --quick         # fewer and shorter timings, no slow rows
    tapegrad bench --workloads moons-small --json results.json

One training step of micrograd's moons demo, written the way each tool's users write it:
forward over the whole batch, hinge loss mean(relu(1 - y*s)) + 1e-4 x sum of squared
parameters, backward, an SGD update with learning rate 0.05. Three sizes: moons-small is
the demo itself (MLP(2, [16, 16, 1]), ReLU hidden layers, linear output, 100 points);
moons-big is MLP(2, [64, 64, 1]) on 500 points; wide is MLP(2, [256, 256, 1]) on 1000.
Every row starts from the same data (make_moons(n, noise=0.1) after
np.random.seed(1337), labels +1/-1) and the same weights (micrograd's: random.seed(1337),
uniform(-1, 1)).

Every row runs in a fresh process pinned to one core (the same core for all), rounds
taken in turns so that a busy machine slows all rows alike; the table gives the median
milliseconds a step and ratios to JAX float64 and PyTorch float64.

JAX is not a dependency of tapegrad. Its rows run when the benchmark finds it: in this
Python (`uv run --group bench ...` or `pip install "jax[cpu]"` installs it), or in the
Python named by --jax-python or the environment variable TAPEGRAD_BENCH_JAX_PYTHON;
otherwise its rows say it is not installed. micrograd 0.1.0 is fetched from PyPI into a
cache folder. The one-off costs of numba's compiling are in benchmarks/startup.py.
"""

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / 'src'
sys.path.insert(0, str(HERE))
from reference import CACHE, fetch_micrograd  # noqa: E402
from rows import weights  # noqa: E402

WORKLOADS = {'moons-small': ([2, 16, 16, 1], 100),
             'moons-big': ([2, 64, 64, 1], 500),
             'wide': ([2, 256, 256, 1], 1000)}
LR, ALPHA = 0.05, 1e-4
CHECKED_STEPS = 3   # every row reports the loss of its first steps; they must agree
JAX_PYTHON = 'TAPEGRAD_BENCH_JAX_PYTHON'

# key, the row's name in the table, what it runs (printed below the tables)
ROWS = [
    ('jax-float64', 'JAX jit, float64',
     "jax.jit of one function doing the whole step (loss, jax.value_and_grad, SGD update), "
     "64-bit floats enabled, on the CPU"),
    ('jax-float32', 'JAX jit, float32', "the same in 32-bit floats, JAX's default"),
    ('torch-float64', 'PyTorch, float64',
     "torch.nn.Linear layers, loss.backward(), torch.optim.SGD; one thread"),
    ('torch-float32', 'PyTorch, float32', "the same in 32-bit floats, PyTorch's default"),
    ('numpy', 'NumPy by hand, float64',
     "forward, backward and update written out with NumPy matrix products"),
    ('micrograd', 'micrograd 0.1.0',
     "micrograd from PyPI, its moons demo's loop: loss.backward(), p.data -= lr * p.grad"),
    ('eager', 'tapegrad, loop by hand',
     "the same loop with tapegrad's Value and MLP, as code written for micrograd runs"),
    ('fit', 'tapegrad fit()',
     f"fit(model, X, y, loss='hinge', l2={ALPHA}, lr={LR}, steps=N, progress=False), as in "
     f"the README; the time a step of a long run (its start-up is below)"),
    ('compile-optimizer', 'tapegrad.compile, optimizer',
     "step = tapegrad.compile(loss_fn, model.parameters(), optimizer=SGD(...)), then "
     "step(X, y): the README's first compile loop, the update inside the call"),
    ('compile', 'tapegrad.compile + loop',
     "step = tapegrad.compile(loss_fn, model.parameters()), then the README's loop by hand: "
     "model.zero_grad(); step(X, y); p.data -= lr * p.grad"),
]
LABEL = {key: label for key, label, _ in ROWS}
LABEL_WIDTH = max(map(len, LABEL.values())) + 2
LIBRARY = {'jax': 'JAX', 'torch': 'PyTorch', 'numpy': 'NumPy', 'micrograd': 'micrograd',
           'eager': 'tapegrad', 'fit': 'tapegrad', 'compile': 'tapegrad',
           'compile-optimizer': 'tapegrad'}
SLOW_ROWS = ('micrograd', 'eager')  # timed for a few steps; beyond moons-small, in the first
                                    # round only
COMPILE_MAX_NODES = 10_000_000   # compile() runs on moons-small and moons-big only
WARMUP = {'jax-float64': 5, 'jax-float32': 5, 'torch-float64': 10, 'torch-float32': 10,
          'numpy': 3, 'compile': 3, 'compile-optimizer': 3}  # JAX compiles, compile() traces


# ----------------------------------------------------------------------------------
# What to run


def graph_nodes(sizes, n):
    """Nodes of micrograd's graph for one step of the demo's loss on n points: for each
    point its inputs, a multiply and an add per weight, a ReLU per hidden neuron and 6 for
    its hinge term; then the squared parameters and their sum. (Counted on micrograd 0.1.0:
    65,818 for moons-small.)"""
    per_point = sizes[0] + 6 + sum(nout * (2 * nin + (i < len(sizes) - 2))
                                   for i, (nin, nout) in enumerate(zip(sizes, sizes[1:])))
    return n * per_point + 3 * parameters(sizes) + 7


def parameters(sizes):
    return sum((nin + 1) * nout for nin, nout in zip(sizes, sizes[1:]))


def slow_row_steps(row, workload, quick):
    """Steps to time of micrograd and tapegrad's loop by hand; None: estimate instead."""
    if workload == 'moons-small':
        return {'micrograd': 2 if quick else 5, 'eager': 3 if quick else 10}[row]
    if workload == 'moons-big' and row == 'eager' and not quick:
        return 2   # about 4 million nodes a step; micrograd would take about a minute
    return None


def compile_runs(workload, quick):
    """None if the compile() row runs on `workload`, else why not. compile() traces the whole
    batch as one graph, which today takes minutes and gigabytes beyond moons-small (moons-big:
    3.5 minutes and 5 GB on our 2-core machines), so the row runs there once, in the first
    round, and not at all on larger graphs."""
    nodes = graph_nodes(*WORKLOADS[workload])
    if nodes > COMPILE_MAX_NODES:
        return (f"not run: compile() would trace all points as one graph of "
                f"{nodes / 1e6:.0f} million nodes, too big to hold in memory")
    if quick and workload != 'moons-small':
        return (f"not run with --quick: its first call traces {nodes / 1e6:.1f} million nodes, "
                f"which takes minutes")
    return None


def short_fit_steps(sizes, n):
    """Steps of fit()'s short run. fit() trains small runs eagerly (README: fewer than
    200,000 weight uses, steps x points x parameters); the short run must use the same
    engine as the long one, so it has twice that (the worker reports the engines used)."""
    return max(2, math.ceil(400_000 / (n * parameters(sizes))))


def plan(args):
    """[(workload, row, job or None, why not)] in table order."""
    budget = args.budget if args.budget is not None else (0.3 if args.quick else 2.0)
    planned = []
    for workload in args.workloads:
        sizes, n = WORKLOADS[workload]
        for row in (row for row, _, _ in ROWS if row in args.rows):
            job = dict(budget=budget, least=5, most=200_000, check=CHECKED_STEPS,
                       warmup=WARMUP.get(row, 0), few=short_fit_steps(sizes, n))
            why = compile_runs(workload, args.quick) if row.startswith('compile') else None
            if why:
                job = None
            elif row in SLOW_ROWS:
                steps = slow_row_steps(row, workload, args.quick)
                job.update(least=steps, most=steps, budget=0, check=min(2, steps or 0))
                if steps is None:
                    job, why = None, 'estimate'
            planned.append((workload, row, job, why))
    return planned


# ----------------------------------------------------------------------------------
# Where each row runs


def has_module(python, module):
    if python == sys.executable:
        import importlib.util
        return importlib.util.find_spec(module) is not None
    done = subprocess.run([python, '-c', f'import importlib.util, sys; '
                                          f'sys.exit(importlib.util.find_spec({module!r}) is None)'],
                          capture_output=True, check=False)
    return done.returncode == 0


def find_jax(option):
    """(python, None) for the interpreter that runs the JAX rows, or (None, why not)."""
    python = option or os.environ.get(JAX_PYTHON) or sys.executable
    where = ('--jax-python' if option else JAX_PYTHON) if python != sys.executable else None
    if not Path(python).is_file():
        return None, f"JAX not run: {where} names {python}, which does not exist"
    if not has_module(python, 'jax'):
        if where:
            return None, f"JAX not installed in {python} (from {where})"
        return None, (f'JAX not installed: pip install "jax[cpu]" (or uv run --group bench), '
                      f'or set {JAX_PYTHON} to a Python that has it')
    return python, None


def worker_env(extra_path=()):
    env = dict(os.environ)
    env.pop('PYTHONDONTWRITEBYTECODE', None)   # as an ordinary install: bytecode cached
    env['PYTHONPYCACHEPREFIX'] = str(CACHE / 'pycache')
    for threads in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'):
        env[threads] = '1'
    env['JAX_PLATFORMS'] = 'cpu'
    env['PYTHONPATH'] = os.pathsep.join([*map(str, extra_path), str(SRC)]
                                        + ([env['PYTHONPATH']] if env.get('PYTHONPATH') else []))
    return env


def run_worker(job, python=None, env=None):
    """Run benchmarks/rows.py on `job` in a fresh process; its JSON result, or {'error': ...}."""
    done = subprocess.run([python or sys.executable, str(HERE / 'rows.py')],
                          input=json.dumps(job), env=env or worker_env(),
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or ['(no output)']
        return {'error': lines[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


class Runner:
    """Runs the rows: knows which interpreter and environment each needs, and why one cannot run."""

    def __init__(self, jax_python=None, core=None):
        self.core = core
        self.env = worker_env()
        self.python = {}   # row -> interpreter
        self.missing = {}  # row -> why it cannot run
        jax, why = find_jax(jax_python)
        for row in ('jax-float64', 'jax-float32'):
            self.python[row] = jax
            if why:
                self.missing[row] = why
        if not has_module(sys.executable, 'torch'):
            for row in ('torch-float64', 'torch-float32'):
                self.missing[row] = 'PyTorch not installed: pip install torch'
        self.micrograd_env = None
        try:
            self.micrograd_env = worker_env([fetch_micrograd()])
        except RuntimeError as error:
            self.missing['micrograd'] = f'micrograd 0.1.0 unavailable: {str(error).splitlines()[0]}'

    def run(self, row, workload, **settings):
        env = self.micrograd_env if row == 'micrograd' else self.env
        return run_worker(job_for(row, workload, self.core, **settings), self.python.get(row), env)


def job_for(row, workload, core, **settings):
    """What benchmarks/rows.py needs to run `row` on `workload`, pinned to `core`."""
    sizes, n = WORKLOADS[workload]
    X, y = moons(n)
    return dict(settings, row=row, sizes=sizes, X=X, y=y, weights=weights(sizes), lr=LR,
                alpha=ALPHA, core=core)


_MOONS = {}


def moons(n):
    """micrograd's demo data: make_moons(n, noise=0.1) after np.random.seed(1337), y = +-1."""
    if n not in _MOONS:
        import numpy as np
        if str(SRC) not in sys.path:
            sys.path.append(str(SRC))  # a checkout run without installing tapegrad
        from tapegrad.data import make_moons
        np.random.seed(1337)
        X, y = make_moons(n_samples=n, noise=0.1)
        _MOONS[n] = [[float(x) for x in row] for row in X], [2 * int(label) - 1 for label in y]
    return _MOONS[n]


def warm_numba(env):
    """Fill numba's cache with tapegrad's compiled loops before timing, as on a machine that
    has run tapegrad before (a cold cache is benchmarks/startup.py's business). This runs
    what fit() itself starts in the background on a new machine. None, or what went wrong."""
    done = subprocess.run([sys.executable, '-c', 'from tapegrad.tape.backend import compile_once; '
                                                 'compile_once()'],
                          env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return (done.stderr.strip().splitlines() or ['(no output)'])[-1]
    return None


def default_core():
    """The last core this process may run on (core 0 takes most interrupts); None if the
    platform cannot pin a process (then rows are not pinned, and the report says so)."""
    if not hasattr(os, 'sched_setaffinity'):
        return None
    return max(os.sched_getaffinity(0))


# ----------------------------------------------------------------------------------
# The run


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog='\n'.join(__doc__.splitlines()[1:]))
    parser.add_argument('--quick', action='store_true',
                        help='shorter timings, one round, and micrograd and tapegrad\'s loop '
                             'by hand on moons-small only (estimated on the others)')
    parser.add_argument('--workloads', nargs='+', choices=list(WORKLOADS), default=list(WORKLOADS),
                        metavar='NAME', help=f"some of {', '.join(WORKLOADS)} (default: all)")
    parser.add_argument('--rows', nargs='+', choices=list(LABEL), default=list(LABEL),
                        metavar='ROW', help=f"some of {', '.join(LABEL)} (default: all)")
    parser.add_argument('--rounds', type=int, default=None,
                        help='fresh processes a row, taken in turns (default 3, 1 with --quick)')
    parser.add_argument('--budget', type=float, default=None, metavar='SECONDS',
                        help='seconds of timed steps a row and process (default 2, 0.3 with --quick)')
    parser.add_argument('--core', type=int, default=None,
                        help='the core every row is pinned to (default: the last one this '
                             'process may use)')
    parser.add_argument('--jax-python', metavar='PYTHON',
                        help=f'a Python that has JAX, for the JAX rows (default: ${JAX_PYTHON}, '
                             f'else this Python)')
    parser.add_argument('--json', metavar='FILE', help='also save the results to FILE')
    args = parser.parse_args(argv)
    rounds = args.rounds or (1 if args.quick else 3)
    core = default_core() if args.core is None else args.core
    if rounds < 1 or (args.budget is not None and args.budget < 0):
        parser.error(f"--rounds must be at least 1 and --budget at least 0; got "
                     f"{args.rounds} and {args.budget}")
    if args.core is not None and core not in getattr(os, 'sched_getaffinity', lambda _: {core})(0):
        parser.error(f"--core {core}: this process may run on cores "
                     f"{sorted(os.sched_getaffinity(0))} only")

    def say(message):
        print(message, file=sys.stderr, flush=True)

    machine = machine_facts(core)
    runner = Runner(args.jax_python, core)
    numba_note = None
    if has_module(sys.executable, 'numba'):
        say("making sure numba's compiled loops are in its cache...")
        error = warm_numba(runner.env)
        if error:
            numba_note = f"numba's cache could not be filled before timing ({error})"
    else:
        numba_note = 'numba not installed: fit() and compile() ran on NumPy (pip install tapegrad[fast])'

    planned = plan(args)
    results = {(workload, row): ({'skipped': runner.missing[row]} if row in runner.missing
                                 else {'skipped': why} if job is None else None)
               for workload, row, job, why in planned}
    for turn in range(rounds):
        for workload, row, job, _ in planned:
            if results[workload, row] is not None and 'skipped' in results[workload, row]:
                continue
            if turn and workload != 'moons-small' and (row in SLOW_ROWS or
                                                       row.startswith('compile')):
                continue   # slow: one round
            say(f"{workload}: {LABEL[row]} (round {turn + 1} of {rounds})...")
            result = runner.run(row, workload, **job)
            done = results[workload, row]
            if done is None or 'error' in result:
                results[workload, row] = result
            elif 'times' in done:
                for key in ('times', 'start-up'):
                    if key in result:
                        done[key] = done.get(key, []) + result[key]
    first_steps = {}
    if 'fit' in args.rows:
        say("import tapegrad to fit()'s first step...")
        first_steps = time_first_steps(core, 1 if args.quick else 3)
    machine['load average after'] = os.getloadavg()[0]
    report = build_report(results, first_steps, machine, runner, numba_note, rounds)
    print(render(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1) + '\n')
        print(f"\nsaved to {args.json}")


def time_first_steps(core, repeats, env=None):
    """Seconds from `import tapegrad` to the end of fit()'s first step on moons-small, in
    fresh processes (after one untimed run, so that Python's bytecode cache is warm); also
    without scipy when it is installed (numba imports it at start-up; tapegrad does not
    need it)."""
    variants = {'as installed': {}}
    if has_module(sys.executable, 'scipy'):
        variants['without scipy'] = {'no scipy': True}
    measured = {}
    for name, extra in variants.items():
        job = job_for('first-fit-step', 'moons-small', core, **extra)
        runs = [run_worker(job, env=env) for _ in range(repeats + 1)]
        errors = [run['error'] for run in runs if 'error' in run]
        measured[name] = ({'error': errors[0]} if errors else
                          {'seconds': statistics.median(run['first step'] for run in runs[1:]),
                           'engine': runs[-1]['engine']})
    return measured


# ----------------------------------------------------------------------------------
# The report: plain data (saved by --json), then text


def median_ms(result):
    return statistics.median(result['times']) * 1e3 if result and result.get('times') else None


def build_report(results, first_steps, machine, runner, numba_note, rounds):
    workloads = {}
    for (workload, row), result in results.items():
        workloads.setdefault(workload, {})[row] = dict(result or {}, ms=median_ms(result))
    for workload, rows in workloads.items():
        sizes, n = WORKLOADS[workload]
        for row in SLOW_ROWS:
            small = workloads.get('moons-small', {}).get(row, {}).get('ms')
            if rows.get(row, {}).get('skipped') == 'estimate':
                nodes = graph_nodes(sizes, n)
                rows[row] = ({'ms': small * nodes / graph_nodes(*WORKLOADS['moons-small']),
                              'estimated': True, 'nodes': nodes} if small else
                             {'skipped': 'timed on moons-small only, and estimated from it'})
        jax, torch = rows.get('jax-float64', {}).get('ms'), rows.get('torch-float64', {}).get('ms')
        for result in rows.values():
            if result.get('ms'):
                result['x JAX float64'] = result['ms'] / jax if jax else None
                result['x PyTorch float64'] = result['ms'] / torch if torch else None
    versions = {}
    for rows in workloads.values():
        for row, result in rows.items():
            if 'version' in result:
                versions[LIBRARY[row.split('-')[0]]] = result['version']
    if 'JAX' in versions and runner.python['jax-float64'] != sys.executable:
        versions['JAX'] += f" (in {runner.python['jax-float64']})"
    if has_module(sys.executable, 'numba'):
        from importlib.metadata import version
        versions['numba'] = version('numba')
    return {'workloads': workloads, 'first fit step': first_steps, 'machine': machine,
            'versions': versions, 'rounds': rounds, 'numba': numba_note,
            'agreement': agreement(workloads), 'bars': bars(workloads, first_steps)}


def agreement(workloads):
    """Do all rows compute the same losses in their first steps? Float64 rows within 1e-9
    relative of the first float64 row, float32 rows within 1e-4. A list of findings."""
    findings = []
    for workload, rows in workloads.items():
        timed = {row: r['losses'] for row, r in rows.items() if r.get('losses')}
        reference = next((row for row in ('eager', 'numpy', 'fit', 'torch-float64', 'jax-float64')
                          if row in timed), None)
        if reference is None:
            continue
        for row, losses in timed.items():
            tolerance = 1e-4 if row.endswith('float32') else 1e-9
            for k, (ours, theirs) in enumerate(zip(losses, timed[reference])):
                if abs(ours - theirs) > tolerance * abs(theirs):
                    findings.append(f"{workload}: {LABEL[row]} computes loss {ours!r} at step "
                                    f"{k}, {LABEL[reference]} {theirs!r}")
                    break
    return findings


BARS = [  # (what, workload, row, limit): a ratio to JAX float64
    ("fit() on moons-small, x JAX float64", 'moons-small', 'fit', 1.0),
    ("fit() on moons-big, x JAX float64", 'moons-big', 'fit', 1.5),
    ("fit() on wide, x JAX float64", 'wide', 'fit', 2.0),
    ("compile() with the README's loop on moons-small, x JAX float64", 'moons-small',
     'compile-optimizer', 1.5),
]
START_UP_BAR = 0.3   # seconds from `import tapegrad` to the end of fit()'s first step
EAGER_BAR = 10       # tapegrad's loop by hand at least this many times faster than micrograd


def bars(workloads, first_steps):
    """[(what, measured, bar, verdict)] for issue 12's bars, as text."""
    found = []
    for what, workload, row, limit in BARS:
        rows = workloads.get(workload, {})
        ratio = rows.get(row, {}).get('x JAX float64')
        if ratio is not None:
            found.append((what, f"{number(ratio)}x", f"<= {limit:g}x", verdict(ratio <= limit)))
        elif workload not in workloads:
            found.append((what, '-', f"<= {limit:g}x", f"cannot tell: {workload} not in this run"))
        else:
            missing = next(LABEL[r] for r in ('jax-float64', row) if rows.get(r, {}).get('ms') is None)
            found.append((what, '-', f"<= {limit:g}x", f"cannot tell: no time for {missing}"))
    for name, measured in first_steps.items():
        what = f"import tapegrad to fit()'s first step, moons-small ({name})"
        if 'seconds' in measured:
            found.append((what, f"{measured['seconds']:.3f} s", f"<= {START_UP_BAR} s",
                          verdict(measured['seconds'] <= START_UP_BAR)))
        else:
            found.append((what, '-', f"<= {START_UP_BAR} s", 'cannot tell: it failed'))
    small = workloads.get('moons-small', {})
    micrograd, eager = small.get('micrograd', {}).get('ms'), small.get('eager', {}).get('ms')
    if micrograd and eager:
        found.append(("tapegrad's loop by hand, moons-small: times faster than micrograd",
                      f"{micrograd / eager:.1f}x", f">= {EAGER_BAR}x",
                      verdict(micrograd / eager >= EAGER_BAR)))
    return found


def verdict(holds):
    return 'holds' if holds else 'does not hold'


def number(x):
    """A time or ratio with about three significant digits and no exponent."""
    if x >= 100:
        return f"{x:,.0f}"
    return f"{x:.3f}" if x < 1 else f"{x:.2f}" if x < 10 else f"{x:.1f}"


def render(report):
    machine = report['machine']
    pinned = (f"each pinned to core {machine['core']}" if machine['core'] is not None
              else 'not pinned (this platform cannot pin a process to a core)')
    lines = [f"Time of one training step, milliseconds (medians; every row in fresh processes, "
             f"{pinned}; {plural(report['rounds'], 'round')})"]
    for workload, rows in report['workloads'].items():
        sizes, n = WORKLOADS[workload]
        lines += ['', f"{workload}: MLP({sizes[0]}, {sizes[1:]}) on {n} moons points, "
                      f"{parameters(sizes):,} parameters",
                  f"  {'':{LABEL_WIDTH}}{'ms a step':>11}{'x JAX f64':>11}{'x PyTorch f64':>15}"]
        for row, label, _ in ROWS:
            result = rows.get(row)
            if result is None:
                continue
            if result.get('ms') is None:
                why = result.get('skipped') or f"failed: {result.get('error', 'no result')}"
                lines.append(f"  {label:{LABEL_WIDTH}}  {why}")
                continue
            ratios = ''.join(f"{number(r) + 'x' if r else '-':>{w}}" for r, w in
                             ((result.get('x JAX float64'), 11), (result.get('x PyTorch float64'), 15)))
            lines.append(f"  {label:{LABEL_WIDTH}}{number(result['ms']):>11}{ratios}   {note(row, result)}".rstrip())
    lines += ['', 'Every row computes the same losses:' if not report['agreement'] else
              'Rows that compute different losses (a bug in the benchmark or the library):']
    first = first_loss(report)
    lines += [f"  {finding}" for finding in report['agreement']] or [
        f"  the losses of the first {CHECKED_STEPS} steps agree (float64 rows within 1e-9, "
        f"float32 within 1e-4)" + (f"; on moons-small the first is {first:.6f}, as "
                                   f"micrograd's demo prints" if not math.isnan(first) else '')]
    lines += ['', 'What each row runs (one step: forward over all points, hinge loss + '
                  f'{ALPHA} x sum of squared parameters, backward, SGD with lr {LR}):']
    shown = {row for rows in report['workloads'].values() for row in rows}
    lines += [f"  {label:{LABEL_WIDTH}}{what}" for row, label, what in ROWS if row in shown]
    lines += ['', "Start-up, not in the times above:"]
    for name, measured in report['first fit step'].items():
        lines.append(f"  import tapegrad, then fit() on moons-small: first step done after "
                     f"{measured['seconds']:.3f} s ({name}; numba's cache warm)"
                     if 'seconds' in measured else f"  import tapegrad to fit()'s first step "
                     f"({name}): failed: {measured['error']}")
    for row, what in (('fit', "fit(): its first call in a program, before its first step"),
                      ('compile', "compile(): its first call (tracing the function)")):
        costs = [f"{workload} {seconds(rows[row])}" for workload, rows in report['workloads'].items()
                 if seconds(rows.get(row, {}))]
        if costs:
            lines.append(f"  {what}: {', '.join(costs)}")
    lines.append("  numba's first compile on a new machine: python benchmarks/startup.py")
    if report['numba']:
        lines.append(f"  {report['numba']}")
    lines += ['', f"Machine: {machine['cpu']}, {machine['cores']} cores; load average "
                  f"{machine['load average before']:.2f} before, {machine['load average after']:.2f} after",
              f"Software: Python {machine['python']}; "
              + ', '.join(f"{name} {version}" for name, version in sorted(report['versions'].items())),
              '', "Bars (issue 12), in this run:"]
    width = max(len(what) for what, _, _, _ in report['bars'])
    lines += [f"  {what:{width}}{measured:>10}{bar:>10}   {outcome}"
              for what, measured, bar, outcome in report['bars']]
    return '\n'.join(lines)


def note(row, result):
    if result.get('estimated'):
        return (f"estimated: moons-small's time a graph node x this graph's "
                f"{result['nodes'] / 1e6:.1f} million nodes")
    if row in SLOW_ROWS:
        return plural(len(result['times']), 'step')
    if row == 'fit':
        engines = result.get('engine', [])
        return f"engine {', '.join(engines)}" if engines != ['tape'] else ''
    return ''


def plural(count, noun):
    return f"{count} {noun}{'s' if count != 1 else ''}"


def seconds(result):
    values = result.get('start-up') or ([result['first call']] if result.get('first call') else [])
    return f"{statistics.median(values):.2f} s" if values else None


def first_loss(report):
    for result in report['workloads'].get('moons-small', {}).values():
        if result.get('losses'):
            return result['losses'][0]
    return math.nan


def machine_facts(core):
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path('/proc/cpuinfo').read_text().splitlines():
            if line.startswith('model name'):
                cpu = line.split(':', 1)[1].strip()
                break
    except OSError:
        pass
    return {'cpu': cpu, 'cores': os.cpu_count(), 'core': core, 'python': platform.python_version(),
            'load average before': os.getloadavg()[0]}


if __name__ == '__main__':
    main()
