"""The notebooks run top to bottom in a fresh kernel and show what their text says.

Each notebook in notebooks/ is executed with nbclient, in a temporary working directory, by
a kernel running this environment's Python; a cell that raises fails the test. A cell added
after the notebook's own reports some of its variables as JSON, and the tests compare them
with independent references: calculus, numbers published by micrograd and Karpathy's
lecture, the seeds' 41 parameters, and PyTorch float64 twins of the Day 4, Day 5 and moons
models (same weights, drawn as tapegrad draws them; moons data from scikit-learn); the
moons run handed to PyTorch halfway ends as the twin's run does. Every
cell that ends by drawing must display an image that decodes and is not all one colour.
"""

import base64
import functools
import importlib.util
import io
import json
import math
import random
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.datasets import make_moons

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / 'notebooks'
EXPECTED = ['01-derivatives-and-backprop.ipynb', '02-neuron-layer-mlp.ipynb',
            '03-training.ipynb', '04-moons.ipynb', '05-to-pytorch.ipynb']
MAX_NOTEBOOK_BYTES = 1_000_000  # pictures included: committed notebooks stay small


def _load_script():
    spec = importlib.util.spec_from_file_location('execute_notebooks',
                                                  ROOT / 'scripts' / 'execute_notebooks.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


execute_notebooks = _load_script()

# The seeds' Day 5 data, written out here rather than read from tapegrad.data.
DAY5_X = [[2.0, 3.0, -1.0], [3.0, -1.0, 0.5], [0.5, 1.0, 1.0], [1.0, 1.0, -1.0]]
DAY5_Y = [1.0, -1.0, -1.0, 1.0]

# What the added last cell reports, per notebook: name -> expression in the notebook's namespace.
REPORTS = {
    '01-derivatives-and-backprop.ipynb': {
        'slope': 'slope',
        'chain_grads': '{v.label: v.grad for v in topological_order(L)}',
        'used_twice_grads': '{v.label: v.grad for v in topological_order(f)}',
        'stress': '[g.data, a.grad, b.grad]',
    },
    '02-neuron-layer-mlp.ipynb': {
        'neuron_grads': '{v.label: v.grad for v in topological_order(o)}',
        'neuron_out': 'o.data',
        'n_parameters': 'len(model.parameters())',
        'output': 'out.data',
        'grads': '[p.grad for p in model.parameters()]',
    },
    '03-training.ipynb': {
        'hand_losses': 'hand_losses',
        'fit_losses': 'history.loss',
        'curves': '{str(rate): curve for rate, curve in curves.items()}',
    },
    '04-moons.ipynb': {
        'loss': 'history.loss',
        'accuracy': 'history.accuracy',
        'engine': 'history.engine',
        'engine_runs': 'runs',
    },
    '05-to-pytorch.ipynb': {
        'fit_losses': 'history.loss',
        'torch_losses': 'torch_losses',
        'score_gap': 'score_gap',
        'net_state': '{k: v.tolist() for k, v in net.state_dict().items()}',
        'trained_state': 'trained.state_dict()',
        'loss_here': 'loss_here',
        'loss_there': 'loss_there.item()',
        'grads_here': 'grads_here',
        'grads_there': 'grads_there',
    },
}


# ----------------------------------------------------------------------------------
# Running a notebook


@functools.cache
def executed(name):
    """Run notebook `name` in a fresh kernel; return (the executed notebook, its report)."""
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    expressions = {'python': 'sys.prefix', **REPORTS.get(name, {})}
    report_source = ("import json, sys\n"
                     "from tapegrad.engine import topological_order\n"
                     "print(json.dumps({"
                     + ", ".join(f"{key!r}: {expr}" for key, expr in expressions.items())
                     + "}))")
    (report_cell,) = execute_notebooks.execute(notebook, [nbformat.v4.new_code_cell(report_source)])
    report = json.loads(''.join(o['text'] for o in report_cell.outputs if o.get('name') == 'stdout'))
    return notebook, report


def stdout(notebook):
    return ''.join(o.get('text', '') for cell in notebook.cells if cell.cell_type == 'code'
                   for o in cell.outputs if o.get('name') == 'stdout')


def images(cell):
    """(mime type, bytes) of every image a cell displays."""
    found = []
    for output in cell.outputs:
        data = output.get('data', {})
        if 'image/png' in data:
            found.append(('image/png', base64.b64decode(data['image/png'])))
        elif 'image/svg+xml' in data:
            found.append(('image/svg+xml', data['image/svg+xml'].encode()))
    return found


def assert_shows_something(mime, content, where):
    if mime == 'image/png':
        pixels = np.asarray(Image.open(io.BytesIO(content)).convert('RGB'))
        assert pixels.shape[0] > 50 and pixels.shape[1] > 50, f"{where}: a tiny image"
        assert (pixels != pixels[0, 0]).any(), f"{where}: the image is one colour"
    else:
        root = ET.fromstring(content)
        texts = [''.join(t.itertext()).strip()
                 for t in root.iter('{http://www.w3.org/2000/svg}text')]
        assert any(texts), f"{where}: the SVG drawing shows no text"


DRAWS = re.compile(r'^(draw_dot|draw_network|plot_\w+)\(|^plt\.show\(\)')


# ----------------------------------------------------------------------------------
# Every notebook


def test_every_notebook_is_there():
    assert set(EXPECTED) <= {p.name for p in NOTEBOOKS.glob('*.ipynb')}


@pytest.mark.parametrize('name', sorted(p.name for p in NOTEBOOKS.glob('*.ipynb')))
def test_runs_in_this_python_and_every_drawing_shows_something(name):
    notebook, report = executed(name)
    assert report['python'] == sys.prefix, "the kernel ran another Python than this one"
    drawing_cells = 0
    for i, cell in enumerate(notebook.cells):
        if cell.cell_type != 'code':
            continue
        last_line = cell.source.strip().splitlines()[-1]
        shown = images(cell)
        if DRAWS.match(last_line):
            drawing_cells += 1
            assert shown, f"{name}, cell {i} ends with {last_line!r} but displays no image"
        for mime, content in shown:
            assert_shows_something(mime, content, f"{name}, cell {i}")
    assert drawing_cells >= 2, f"{name} draws only {drawing_cells} pictures"


@pytest.mark.parametrize('name', sorted(p.name for p in NOTEBOOKS.glob('*.ipynb')))
def test_committed_with_the_outputs_the_code_prints_now(name):
    """A learner reads the committed outputs without running anything: they must be current.

    Every code cell is saved executed, and what it printed then is what it prints now. If
    this fails after a change, run scripts/execute_notebooks.py and commit the notebooks.
    """
    committed = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(committed)
    assert (NOTEBOOKS / name).stat().st_size < MAX_NOTEBOOK_BYTES, f"{name}: pictures too large"
    notebook, _ = executed(name)
    fix = "run `python scripts/execute_notebooks.py` and commit the notebooks"
    code = [c for c in committed.cells if c.cell_type == 'code']
    fresh = [c for c in notebook.cells if c.cell_type == 'code']
    assert [c.source for c in code] == [c.source for c in fresh]
    for i, (old, new) in enumerate(zip(code, fresh), start=1):
        assert old.execution_count == i, f"{name}, code cell {i} is saved without running: {fix}"
        if images(new):
            assert images(old), f"{name}, code cell {i}: its picture is not saved: {fix}"
        was, now = execute_notebooks.printed(old), execute_notebooks.printed(new)
        assert was == now, (f"{name}, code cell {i} printed, when committed:\n{was}\nand prints "
                            f"now:\n{now}\n{fix}")


# ----------------------------------------------------------------------------------
# What each notebook claims


def test_01_derivatives_and_gradients():
    notebook, report = executed('01-derivatives-and-backprop.ipynb')
    assert report['slope'] == pytest.approx(6 * 3.0 - 4, abs=1e-6)  # f'(x) = 6x - 4 at x = 3
    # L = (a*b + c) * f at a=2, b=-3, c=10, f=-2: the chain rule by hand
    assert report['chain_grads'] == {'a': 6.0, 'b': -4.0, 'c': -2.0, 'f': 4.0,
                                     'e': -2.0, 'd': -2.0, 'L': 1.0}
    # f = (a*b)(a+b) at a=-2, b=3: the product rule, b(a+b) + ab and a(a+b) + ab
    a, b = -2.0, 3.0
    grads = report['used_twice_grads']
    assert (grads['a'], grads['b']) == (b * (a + b) + a * b, a * (a + b) + a * b)
    # micrograd's README: 24.7041, 138.8338, 645.5773
    assert [round(x, 4) for x in report['stress']] == [24.7041, 138.8338, 645.5773]
    text = stdout(notebook)
    assert 'db/da (should be 2): 2.0' in text
    # d(x*x)/dx = 6 at x = 3; a leaf accumulates it over two backward() calls
    assert 'after a second one:       x.grad = 12.0, y.grad = 1.0' in text


def torch_mlp(sizes, seed):
    """[W1, b1, W2, b2, ...] in float64, weights drawn as tapegrad's MLP draws them.

    random.uniform(-1, 1), neuron by neuron and weight by weight; biases 0.
    """
    rng = random.Random(seed)
    params = []
    for nin, nout in zip(sizes, sizes[1:]):
        weights = [[rng.uniform(-1, 1) for _ in range(nin)] for _ in range(nout)]
        params += [torch.tensor(weights, dtype=torch.float64, requires_grad=True),
                   torch.zeros(nout, dtype=torch.float64, requires_grad=True)]
    return params


def torch_forward(params, X, act=torch.tanh, out_act=torch.tanh):
    """One output per row of X."""
    h = torch.as_tensor(X, dtype=torch.float64)
    for i in range(0, len(params), 2):
        h = h @ params[i].T + params[i + 1]
        h = out_act(h) if i == len(params) - 2 else act(h)
    return h[:, 0]


def flat_grads(params):
    """Gradients in tapegrad's parameters() order: each neuron's weights, then its bias."""
    grads = []
    for weights, bias in zip(params[::2], params[1::2]):
        for row, b in zip(weights.grad.tolist(), bias.grad.tolist()):
            grads += row + [b]
    return grads


def test_02_neuron_and_mlp_gradients():
    _, report = executed('02-neuron-layer-mlp.ipynb')
    # Karpathy's neuron: o = tanh(0.8814) = 1/sqrt(2), so 1 - o^2 = 0.5
    assert report['neuron_out'] == pytest.approx(1 / math.sqrt(2), abs=1e-12)
    grads = report['neuron_grads']
    expected = {'x1': -1.5, 'w1': 1.0, 'x2': 0.5, 'w2': 0.0, 'b': 0.5, 'n': 0.5, 'o': 1.0}
    assert {k: grads[k] for k in expected} == pytest.approx(expected, abs=1e-12)

    assert report['n_parameters'] == 41 == (3 * 4 + 4) + (4 * 4 + 4) + (4 * 1 + 1)
    params = torch_mlp([3, 4, 4, 1], seed=42)
    out = torch_forward(params, [[2.0, 3.0, -1.0]])[0]
    out.backward()
    assert report['output'] == pytest.approx(out.item(), abs=1e-14)
    assert report['grads'] == pytest.approx(flat_grads(params), abs=1e-14)


def torch_day5_losses(lr, steps=50):
    """The Day 5 run in PyTorch: summed squared error, plain gradient descent."""
    params = torch_mlp([3, 4, 4, 1], seed=42)
    targets = torch.tensor(DAY5_Y, dtype=torch.float64)
    losses = []
    for _ in range(steps):
        loss = ((torch_forward(params, DAY5_X) - targets) ** 2).sum()
        grads = torch.autograd.grad(loss, params)
        with torch.no_grad():
            for p, g in zip(params, grads):
                p.add_(g, alpha=-lr)
        losses.append(loss.item())
    return losses


def test_03_hand_loop_fit_and_sweep_follow_pytorch():
    _, report = executed('03-training.ipynb')
    hand, fitted = report['hand_losses'], report['fit_losses']
    assert len(hand) == len(fitted) == 50
    assert hand == pytest.approx(fitted, abs=1e-12)  # the same run, two ways
    assert hand == pytest.approx(torch_day5_losses(0.05), abs=1e-12)

    curves = {float(rate): curve for rate, curve in report['curves'].items()}
    assert sorted(curves) == [0.001, 0.01, 0.1, 1.0]
    for rate, curve in curves.items():
        assert curve == pytest.approx(torch_day5_losses(rate), abs=1e-9), f"lr {rate}"
    # what the text says of each curve
    assert curves[0.001][-1] > 3 and 0.1 < curves[0.01][-1] < 1
    assert min(i for i, loss in enumerate(curves[0.1]) if loss < 0.1) < 13
    assert curves[1.0][-1] == pytest.approx(8.0, abs=1e-6)


def torch_moons_run():
    """micrograd's moons demo in PyTorch: (loss, accuracy) of each step."""
    X, labels = make_moons(n_samples=100, noise=0.1, random_state=1337)
    X, y = torch.tensor(X), torch.tensor(2.0 * labels - 1)
    params = torch_mlp([2, 16, 16, 1], seed=1337)
    losses, accuracy = [], []
    for k in range(100):
        scores = torch_forward(params, X, act=torch.relu, out_act=lambda z: z)
        loss = torch.relu(1 - y * scores).mean() + 1e-4 * sum((p * p).sum() for p in params)
        grads = torch.autograd.grad(loss, params)
        with torch.no_grad():
            for p, g in zip(params, grads):
                p.add_(g, alpha=-(1.0 - 0.9 * k / 100))
        losses.append(loss.item())
        accuracy.append(((scores > 0) == (y > 0)).double().mean().item())
    return losses, accuracy


def test_04_moons_reaches_every_point_as_pytorch_does():
    _, report = executed('04-moons.ipynb')
    losses, accuracy = torch_moons_run()
    assert report['loss'] == pytest.approx(losses, abs=1e-9)
    assert report['accuracy'] == accuracy
    assert report['accuracy'][-1] == 1.0
    assert report['engine'] in ('tape', 'eager')
    runs = report['engine_runs']
    assert runs['eager'] == pytest.approx(runs['auto'], abs=1e-12)
    assert runs['eager'] == pytest.approx(losses[:5], abs=1e-12)


def test_05_a_run_handed_to_pytorch_halfway_ends_as_pytorch_s_own():
    _, report = executed('05-to-pytorch.ipynb')
    losses, _ = torch_moons_run()
    assert len(report['fit_losses']) == len(report['torch_losses']) == 50
    assert report['fit_losses'] + report['torch_losses'] == pytest.approx(losses, abs=1e-9)
    assert report['score_gap'] < 1e-12
    # from_torch took the trained weights, bit for bit
    assert report['trained_state'] == report['net_state']
    # the compiled loss through PyTorch's autograd
    assert report['loss_there'] == pytest.approx(report['loss_here'], rel=1e-12)
    assert report['grads_there'] == pytest.approx(report['grads_here'], rel=1e-12, abs=1e-15)
