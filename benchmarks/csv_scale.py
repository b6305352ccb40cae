"""A CSV of a million rows: load time and memory, then training on it with bounded memory.

    python benchmarks/csv_scale.py               # 1,000,000 rows, a minute or two
    python benchmarks/csv_scale.py --rows 200000

Writes a moons-like CSV (two features, a 0/1 label) into a temporary folder; it is never
kept. Each measurement runs in a fresh process, which reports its own wall time and peak
resident memory (VmHWM): `load_csv` beside NumPy's `np.loadtxt` (its C reader) on the
same file, and beside the bytes of the numbers themselves; then `fit` as `tapegrad train`
runs it (mini-batches of 100, the default above 10,000 samples), timing steps once the
tape is traced; then the whole `tapegrad train` command.
"""

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def write_csv(path, rows):
    import numpy as np
    rng = np.random.RandomState(0)
    X = rng.normal(size=(rows, 2))
    labels = (X[:, 0] * X[:, 1] > 0).astype(int)   # two classes in opposite quadrants
    with open(path, 'w') as file:
        file.write('x1,x2,label\n')
        for a, b, label in zip(X[:, 0].tolist(), X[:, 1].tolist(), labels.tolist()):
            file.write(f'{a!r},{b!r},{label}\n')


def peak_mb():
    """This process's peak resident memory. Linux's VmHWM starts afresh at exec, where
    ru_maxrss keeps the parent's peak from before the fork."""
    try:
        status = Path('/proc/self/status').read_text()
        return int(status.split('VmHWM:')[1].split()[0]) / 1024
    except (OSError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20  # macOS: bytes


def worker(task, path):
    """One measurement in this fresh process; prints a JSON line."""
    start = time.perf_counter()
    if task == 'baseline':   # what the interpreter and NumPy take before any data
        import numpy  # noqa: F401

        import tapegrad.data  # noqa: F401
        return {'seconds': time.perf_counter() - start, 'peak_mb': peak_mb()}
    import numpy as np
    if task == 'train':   # the whole command, in this process
        import contextlib
        import io

        from tapegrad import cli
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            status = cli.main(['train', '--dataset', path, '--out', str(Path(path).parent / 'run')])
        return {'seconds': time.perf_counter() - start, 'peak_mb': peak_mb(), 'status': status,
                'printed': printed.getvalue()}
    if task == 'loadtxt':
        X = np.loadtxt(path, delimiter=',', skiprows=1)
        return {'seconds': time.perf_counter() - start, 'peak_mb': peak_mb(), 'rows': len(X)}
    from tapegrad.data import load_csv
    X, y, _ = load_csv(path)
    loaded = time.perf_counter() - start
    result = {'seconds': loaded, 'peak_mb': peak_mb(), 'rows': len(X),
              'data_mb': (X.nbytes + y.nbytes) / 2 ** 20}
    if task == 'fit':
        from tapegrad import MLP, fit
        stamps = []
        model = MLP(2, [16, 16, 1], act='tanh', out_act='linear')
        fit(model, X, 2 * y - 1, loss='hinge', lr=0.1, l2=1e-4, steps=300, batch_size=100,
            progress=False, callback=lambda k, history: stamps.append(time.perf_counter()))
        gaps = sorted(b - a for a, b in zip(stamps[50:], stamps[51:]))  # traced and warm by then
        result.update(step_ms=1000 * gaps[len(gaps) // 2], peak_mb=peak_mb())
    return result


def measure(*args):
    done = subprocess.run([sys.executable, __file__, '--worker', *map(str, args)],
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--rows', type=int, default=1_000_000)
    parser.add_argument('--worker', nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(*args.worker)))
        return
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / 'big.csv'
        write_csv(path, args.rows)
        size_mb = path.stat().st_size / 2 ** 20
        base = measure('baseline', path)
        ours = measure('load', path)
        numpy_reader = measure('loadtxt', path)
        trained = measure('fit', path)
        command = measure('train', path)
    print(f"{args.rows:,} rows, {size_mb:.1f} MB of CSV, {ours['data_mb']:.1f} MB of numbers "
          f"as float64/int64 arrays; peak memory of Python with NumPy and tapegrad imported: "
          f"{base['peak_mb']:.0f} MB\n")
    print(f"{'':34} {'seconds':>8} {'peak MB':>8} {'above baseline':>15}")
    for name, row in [('load_csv', ours), ('np.loadtxt (NumPy, in C)', numpy_reader)]:
        print(f"{name:34} {row['seconds']:8.2f} {row['peak_mb']:8.0f} "
              f"{row['peak_mb'] - base['peak_mb']:12.0f} MB")
    print(f"\nload_csv takes {ours['seconds'] / numpy_reader['seconds']:.1f}x np.loadtxt's time; "
          f"its memory above the baseline is {(ours['peak_mb'] - base['peak_mb']) / ours['data_mb']:.1f}x "
          f"the numbers' size")
    print(f"fit on mini-batches of 100, MLP(2, [16, 16, 1]): {trained['step_ms']:.2f} ms a step "
          f"(median of steps 51-300), peak {trained['peak_mb']:.0f} MB for the whole process")
    print(f"tapegrad train --dataset big.csv (load, 100 steps, final accuracy on every row, "
          f"pictures): {command['seconds']:.1f} s, peak {command['peak_mb']:.0f} MB, exit "
          f"{command['status']}")
    print(''.join('  ' + line + '\n' for line in command['printed'].splitlines()), end='')


if __name__ == '__main__':
    sys.exit(main())
