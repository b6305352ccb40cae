"""benchmarks/compiled.py compares like with like: every row trains the same network.

The benchmark times JAX, PyTorch, NumPy, micrograd 0.1.0 and tapegrad side by side; these
tests check (never time) that each of its rows computes what tapegrad's eager engine
computes on micrograd's moons demo: the losses of the first steps agree (float64 rows
within 1e-9 relative, float32 rows within 1e-4), and the first is the 0.895844 that
micrograd's demo notebook prints. JAX is not a dependency: where it is missing, the JAX
rows must say so in the table (tested on every machine with a Python that lacks it),
and where it is installed, its rows must agree like the others.
"""

import json
import subprocess
import sys
import venv
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / 'benchmarks'
sys.path.insert(0, str(BENCHMARKS))
import compiled  # noqa: E402
from eager import hand_written_step  # noqa: E402
from reference import fetch_micrograd  # noqa: E402
from rows import tapegrad_model, weights  # noqa: E402

DEMO_FIRST_LOSS = 0.895844  # micrograd's demo notebook, step 0, printed to 6 decimals


def eager_losses(workload, steps):
    """The reference: tapegrad's eager engine running the demo's loop by hand."""
    from tapegrad import Value
    sizes, n = compiled.WORKLOADS[workload]
    X, y = compiled.moons(n)
    model = tapegrad_model(sizes, weights(sizes))
    return [hand_written_step(model, X, y, Value, compiled.LR).data for _ in range(steps)]


def assert_same_losses(row, losses, reference):
    tolerance = 1e-4 if row.endswith('float32') else 1e-9
    assert losses and len(losses) <= len(reference), (row, losses)
    for k, (ours, theirs) in enumerate(zip(losses, reference)):
        assert ours == pytest.approx(theirs, rel=tolerance), (row, k)


@pytest.fixture(scope='module')
def quick_run(tmp_path_factory):
    """The whole benchmark on moons-small, as `--quick` with timings cut to the least."""
    saved = tmp_path_factory.mktemp('bench') / 'results.json'
    done = subprocess.run([sys.executable, str(BENCHMARKS / 'compiled.py'), '--quick',
                           '--workloads', 'moons-small', '--budget', '0', '--json', str(saved)],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    return done.stdout, json.loads(saved.read_text())


def test_every_row_but_jax_computes_the_eager_engines_losses(quick_run):
    out, report = quick_run
    rows = report['workloads']['moons-small']
    reference = eager_losses('moons-small', compiled.CHECKED_STEPS)
    assert reference[0] == pytest.approx(DEMO_FIRST_LOSS, abs=5e-7)
    for row in ('torch-float64', 'torch-float32', 'numpy', 'micrograd', 'eager', 'fit', 'compile'):
        assert 'losses' in rows[row], (row, rows[row])
        assert_same_losses(row, rows[row]['losses'], reference)
        assert rows[row]['ms'] > 0 and rows[row]['cores'] == [report['machine']['core']]
    assert report['agreement'] == [] and 'Every row computes the same losses' in out
    assert rows['fit']['engine'] == ['tape']   # fit() timed as users get it on this size
    for label in compiled.LABEL.values():
        assert f"\n  {label}" in out


def test_jax_rows_compute_the_same_losses_or_say_jax_is_missing(quick_run):
    out, report = quick_run
    rows = report['workloads']['moons-small']
    python, why = compiled.find_jax(None)
    if python is None:   # JAX is not installed here: the rows say so, the bars cannot tell
        assert why.startswith('JAX not installed') or 'TAPEGRAD_BENCH_JAX_PYTHON' in why
        for row in ('jax-float64', 'jax-float32'):
            assert rows[row] == {'skipped': why, 'ms': None}
            assert f"{compiled.LABEL[row]:{compiled.LABEL_WIDTH}}  {why}" in out
        assert "cannot tell: no time for JAX jit, float64" in out
        return
    reference = eager_losses('moons-small', compiled.CHECKED_STEPS)
    for row in ('jax-float64', 'jax-float32'):
        assert_same_losses(row, rows[row]['losses'], reference)
    assert rows['jax-float64']['x JAX float64'] == 1.0
    bar = next(line for line in out.splitlines() if 'fit() on moons-small, x JAX float64' in line)
    assert bar.endswith(('holds', 'does not hold'))   # the bar was judged


def test_a_python_without_jax_gives_a_row_saying_so(tmp_path, monkeypatch):
    bare = tmp_path / 'bare'
    venv.create(bare, with_pip=False)   # a Python with the standard library only
    python = str(bare / 'bin' / 'python')
    monkeypatch.setenv(compiled.JAX_PYTHON, python)
    found, why = compiled.find_jax(None)
    assert found is None and why == f"JAX not installed in {python} (from {compiled.JAX_PYTHON})"
    found, why = compiled.find_jax(str(tmp_path / 'no-such-python'))
    assert found is None and 'does not exist' in why and '--jax-python' in why


def test_the_estimate_of_micrograds_slow_workloads_counts_its_graph():
    """micrograd is too slow on the big workloads: its time there is moons-small's time a
    node x the graph's nodes, counted here on micrograd 0.1.0 itself."""
    cases = [([2, 16, 16, 1], *compiled.moons(100)), ([2, 3, 4, 1], *compiled.moons(7))]
    code = (f"import json, sys; sys.path[:0] = [{str(fetch_micrograd())!r}, {str(BENCHMARKS)!r}]\n"
            "from micrograd.engine import Value; from micrograd.nn import MLP\n"
            "from eager import count_nodes, demo_loss\n"
            "print(json.dumps([count_nodes(demo_loss(MLP(sizes[0], sizes[1:]), X, y, Value))\n"
            "                  for sizes, X, y in json.load(sys.stdin)]))")
    done = subprocess.run([sys.executable, '-c', code], input=json.dumps(cases),
                          capture_output=True, text=True, check=True)
    assert json.loads(done.stdout) == [compiled.graph_nodes(sizes, len(X)) for sizes, X, _ in cases]
