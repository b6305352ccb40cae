"""tapegrad's one-off costs: numba compiling its loops on a new machine, loading them after, and the wait before the first step.

    python benchmarks/startup.py           # about half a minute; numba compiles twice

On moons-small (micrograd's demo: MLP(2, [16, 16, 1]), 100 points, hinge + 1e-4 L2),
each measurement in a fresh process pinned to one core:

- compile(loss_fn, params, backend='numba') on an empty numba cache (a new machine),
  then on the cache that run filled: tracing, numba compiling or loading its loops, and
  the first call done;
- the same with the default backend, which never waits for numba: on a new machine it
  replays with NumPy while a separate process compiles numba's loops, and moves to them
  when they are ready; then on the cache that filled;
- `import tapegrad` to the end of fit()'s first step, numba's cache warm (issue 12's
  bar: 0.3 s), as this Python is installed and without scipy (numba imports scipy at
  start-up when it is installed; tapegrad does not need it).

Each empty cache is a temporary folder given to numba as NUMBA_CACHE_DIR, so the cache
of your own runs is left alone. benchmarks/compiled.py times the steps themselves.
"""

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from compiled import (START_UP_BAR, default_core, job_for, run_worker, time_first_steps,  # noqa: E402
                      warm_numba, worker_env)

RUNS = (('numba', "backend='numba'"), (None, 'default backend'))


def compile_costs(core, env, backend, limit):
    """Two fresh processes on one new, empty numba cache: a new machine, then the next run."""
    folder = Path(tempfile.mkdtemp(prefix='tapegrad-numba-'))
    folder_env = dict(env, NUMBA_CACHE_DIR=str(folder))
    job = job_for('compile-first-calls', 'moons-small', core, backend=backend, budget=limit)
    try:
        cold = run_worker(job, env=folder_env)
        # the default backend's compiling process may still be filling the cache: wait for it
        subprocess.run([sys.executable, '-c', 'from tapegrad.tape.backend import compile_once; '
                                              'compile_once()'], env=folder_env, check=False,
                       capture_output=True)
        warm = run_worker(job, env=folder_env)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return cold, warm


def describe(run, backend):
    if 'error' in run:
        return f"failed: {run['error']}"
    text = f"first call done after {run['first call']:.2f} s (tracing {run['trace']:.2f} s"
    if backend == 'numba':
        numba = run['first call'] - run['trace'] - run['steady call']
        text += f", numba {numba:.2f} s)"
    elif run['numba from'] is None:
        text += '); numba\'s loops not in use (yet)' if run['calls before numba'] else ')'
    elif run['calls before numba']:
        text += (f", on NumPy); numba's loops from {run['numba from']:.2f} s, after "
                 f"{run['calls before numba']} calls on NumPy")
    else:
        text += ', on numba\'s loops)'
    return text + f"; import numba {run['import numba']:.2f} s before"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog='\n'.join(__doc__.splitlines()[1:]))
    parser.add_argument('--core', type=int, default=None,
                        help='the core every process is pinned to (default: the last one)')
    parser.add_argument('--limit', type=float, default=120.0, metavar='SECONDS',
                        help="how long the default backend may replay with NumPy waiting for "
                             "numba's loops before the measurement stops (default 120)")
    args = parser.parse_args(argv)
    core = default_core() if args.core is None else args.core
    env = worker_env()
    lines = [f"One-off costs on moons-small, each in a fresh process "
             f"({'pinned to core ' + str(core) if core is not None else 'not pinned'})", '',
             "tapegrad.compile(loss_fn, model.parameters(), backend=...), first call:"]
    started = time.perf_counter()
    for backend, name in RUNS:
        print(f"{name}: new machine, then the next run...", file=sys.stderr, flush=True)
        cold, warm = compile_costs(core, env, backend, args.limit)
        lines += [f"  {name}, new machine: {describe(cold, backend)}",
                  f"  {name}, numba's cache filled: {describe(warm, backend)}"]
    print("import tapegrad to fit()'s first step...", file=sys.stderr, flush=True)
    warm_numba(env)  # numba's own cache this time, as your runs use it
    lines += ['', f"import tapegrad, then fit() on moons-small, numba's cache warm (median of 3; "
                  f"bar: {START_UP_BAR} s):"]
    for name, measured in time_first_steps(core, 3, env).items():
        lines.append(f"  {name}: first step done after {measured['seconds']:.3f} s"
                     if 'seconds' in measured else f"  {name}: failed: {measured['error']}")
    lines.append(f"\n({time.perf_counter() - started:.0f} s in all)")
    print('\n'.join(lines))


if __name__ == '__main__':
    main()
