"""tapegrad.viz: the drawings show the right numbers, render, and degrade gracefully.

References: PyTorch float64 for the data and gradients a drawing shows, micrograd's
published numbers for its README expression, the seeds' "41 parameters" for MLP(3, [4, 4, 1]),
and the eager model for the NumPy forward pass.
"""

import os
import random
import re
import shutil
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from types import SimpleNamespace

import matplotlib.image
import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from tapegrad import MLP, Neuron, Value
from tapegrad.data import make_moons
from tapegrad.viz import (draw_dot, draw_network, dump_graph, numpy_forward,
                          plot_decision_boundary, plot_gradients, plot_loss, plot_lr_sweep)
from tapegrad.viz.jupyter import graph_svg


def svg_texts(svg):
    """Every piece of text an SVG drawing shows."""
    root = ET.fromstring(svg)
    return [''.join(t.itertext()) for t in root.iter('{http://www.w3.org/2000/svg}text')]


def assert_png_shows_something(path):
    pixels = matplotlib.image.imread(path)  # decodes the PNG
    assert pixels.shape[0] > 10 and pixels.shape[1] > 10
    assert (pixels != pixels[0, 0]).any(), f"{path} is a single colour"


def numbers_after(word, texts):
    return [float(t.split()[-1]) for t in texts if t.startswith(word + ' ')]


# ----------------------------------------------------------------------------------
# draw_dot, dump_graph


def test_svg_shows_every_label_data_and_grad_as_pytorch_computes_them():
    a, b = Value(2.0, label='a'), Value(-3.0, label='b')
    c = a * b; c.label = 'c'
    sq = a ** 2; sq.label = 'sq'
    d = c + sq; d.label = 'd'
    e = d.tanh(); e.label = 'e'
    out = e * b; out.label = 'out'
    out.backward()

    ta = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
    tb = torch.tensor(-3.0, dtype=torch.float64, requires_grad=True)
    tc = ta * tb
    tsq = ta ** 2
    td = tc + tsq
    te = torch.tanh(td)
    tout = te * tb
    for t in (tc, tsq, td, te, tout):
        t.retain_grad()
    tout.backward()
    expected = [ta, tb, tc, tsq, td, te, tout]

    texts = svg_texts(draw_dot(out).pipe(format='svg'))
    for label in ('a', 'b', 'c', 'sq', 'd', 'e', 'out'):
        assert label in texts
    for op in ('*', '+', '**2', 'tanh'):
        assert op in texts
    shown_data, shown_grads = numbers_after('data', texts), numbers_after('grad', texts)
    assert len(shown_data) == len(shown_grads) == len(expected)
    for t in expected:  # 4 significant digits: within 5e-4 relative
        assert any(abs(x - t.item()) <= 5e-4 * abs(t.item()) for x in shown_data), t.item()
        assert any(abs(g - t.grad.item()) <= 5e-4 * abs(t.grad.item()) for g in shown_grads)


@pytest.mark.parametrize('rankdir', ['LR', 'TB'])
def test_labels_with_record_syntax_characters_are_drawn_as_written(tmp_path, rankdir):
    labels = ['x{1}', 'a|b', '<in>', 'say "hi"', 'back\\slash', '{|<>}']
    values = [Value(float(i), label=label) for i, label in enumerate(labels)]
    out = sum(values[1:], values[0])
    draw_dot(out, rankdir=rankdir, path=tmp_path / 'graph.svg')
    texts = svg_texts((tmp_path / 'graph.svg').read_text())
    for label in labels:
        assert label in texts


def test_png_decodes_to_a_picture(tmp_path):
    x = Value(0.5, label='x')
    y = (x * 3 + 1).sigmoid()
    y.backward()
    draw_dot(y, color_by_grad=True, path=tmp_path / 'graph.png')
    assert_png_shows_something(tmp_path / 'graph.png')
    written = draw_dot(y, path=tmp_path / 'no_suffix', format='png', return_path=True)
    assert written == tmp_path / 'no_suffix.png'  # the format names the suffix
    assert_png_shows_something(written)


def test_color_by_grad_fills_darker_for_larger_grads():
    a, b = Value(1.0, label='a'), Value(100.0, label='b')
    out = a * b  # a.grad = 100 (largest), b.grad = 1 (smallest)
    out.backward()
    source = draw_dot(out, color_by_grad=True).source
    fill = {label: re.search(rf'label="{label} \|[^\]]*fillcolor="(#\w+)"', source).group(1)
            for label in ('a', 'b')}
    brightness = {k: sum(int(v[i:i + 2], 16) for i in (1, 3, 5)) for k, v in fill.items()}
    assert brightness['a'] < brightness['b']
    assert 'share of the largest' in source


def test_a_graph_too_large_to_read_is_refused_with_what_to_do_instead():
    x = Value(1.0)
    for _ in range(600):
        x = x + 1.0
    with pytest.raises(ValueError, match=r'1201 values.*draw_network.*max_nodes'):
        draw_dot(x)
    with pytest.raises(TypeError, match='draw_network'):
        draw_dot([x, x])


def test_dump_graph_lists_micrograds_readme_example_in_topological_order():
    a = Value(-4.0, label='a')
    b = Value(2.0, label='b')
    c = a + b
    d = a * b + b ** 3
    c += c + 1
    c += 1 + c + (-a)
    d += d * 2 + (b + a).relu()
    d += 3 * d + (b - a).relu()
    e = c - d
    f = e ** 2
    g = f / 2.0
    g += 10.0 / f
    g.backward()
    lines = dump_graph(g).splitlines()
    fields = [re.fullmatch(r"(#\d+[^:]*): op='([^']*)', data=(\S+), grad=(\S+), parents=\[(.*)\]",
                           line).groups() for line in lines]
    # micrograd's README: g = 24.7041, dg/da = 138.8338, dg/db = 645.5773
    name, op, data, grad, parents = fields[-1]
    assert op == '+' and float(data) == pytest.approx(24.7041, abs=1e-4) and float(grad) == 1.0
    by_label = {f[0]: f for f in fields}
    assert float(by_label['#0 a'][3]) == pytest.approx(138.8338, abs=1e-4)
    assert float(by_label['#1 b'][3]) == pytest.approx(645.5773, abs=1e-4)
    assert any(op == '**3' for _, op, *_ in fields) and any(op == '**2' for _, op, *_ in fields)
    seen = set()
    for name, _, _, _, parents in fields:  # every parent is listed before its child
        assert all(p in seen for p in filter(None, parents.split(', ')))
        seen.add(name)


# ----------------------------------------------------------------------------------
# draw_network


def edges_of(source):
    """(from, to, colour, width) for every line of a network diagram."""
    return [(m[1], m[2], m[3], float(m[4])) for m in re.finditer(
        r'\t(\w+) -> (\w+) \[color="(#\w+)" penwidth=([\d.]+)', source)]


@pytest.mark.parametrize('show', ['weights', 'grads'])
def test_network_of_mlp_3_4_4_1_accounts_for_its_41_parameters(tmp_path, show):
    random.seed(42)
    model = MLP(3, [4, 4, 1])
    model([2.0, 3.0, -1.0]).backward()
    source = draw_network(model, show=show, path=tmp_path / 'network.svg').source

    assert len(re.findall(r'^\tx\d+ \[', source, re.M)) == 3
    assert len(re.findall(r'^\tlayer\d+_neuron\d+ \[', source, re.M)) == 4 + 4 + 1
    biases = re.findall(r'>(b|b\.grad) (\S+)</font>', source)
    edges = edges_of(source)
    assert len(edges) + len(biases) == 41  # the seeds' count
    assert '41 parameters: (3x4+4) + (4x4+4) + (4x1+1)' in source

    # each line: blue for a positive amount, red for a negative one; wider for a larger one
    def amount(v):
        return v.data if show == 'weights' else v.grad
    names = ['x1', 'x2', 'x3']
    drawn = []
    for number, layer in enumerate(model.layers, start=1):
        for i, neuron in enumerate(layer.neurons):
            for source_name, w in zip(names, neuron.w):
                target = f"layer{number}_neuron{i + 1}"
                edge = next(e for e in edges if e[:2] == (source_name, target))
                assert edge[2].startswith('#2166ac' if amount(w) > 0 else '#b2182b')
                drawn.append((abs(amount(w)), edge[3]))
        names = [f"layer{number}_neuron{i + 1}" for i in range(len(layer.neurons))]
    widths_by_size = [width for _, width in sorted(drawn)]
    assert widths_by_size == sorted(widths_by_size)
    shown = sorted(float(b) for _, b in biases)
    assert shown == pytest.approx(sorted(amount(n.b) for l in model.layers for n in l.neurons),
                                  abs=5e-3)
    texts = svg_texts((tmp_path / 'network.svg').read_text())
    assert 'hidden 1 (4)' in texts and 'x3' in texts


def test_network_of_one_neuron_and_of_the_moons_model_render(tmp_path):
    source = draw_network(Neuron(3, act='relu')).source
    assert len(edges_of(source)) == 3 and '4 parameters: (3x1+1)' in source
    model = MLP(2, [16, 16, 1], act='relu', out_act='linear', rng=random.Random(1))
    draw_network(model, path=tmp_path / 'moons.png')
    assert_png_shows_something(tmp_path / 'moons.png')


# ----------------------------------------------------------------------------------
# without graphviz's `dot`, without matplotlib, without paying for either


def test_without_dot_drawing_writes_the_source_and_one_line_of_advice(tmp_path):
    dot_dirs = {d for d in os.environ['PATH'].split(os.pathsep) if shutil.which('dot', path=d)}
    assert dot_dirs, "graphviz's dot must be installed for this test to mean anything"
    path = os.pathsep.join(d for d in os.environ['PATH'].split(os.pathsep) if d not in dot_dirs)
    script = textwrap.dedent("""
        from tapegrad import Value, MLP
        from tapegrad.viz import draw_dot, draw_network
        x = Value(2.0, label='x')
        draw_dot((x * x).tanh(), path='graph.svg')
        print(draw_network(MLP(2, [3, 1]), path='network.png', return_path=True))
    """)
    done = subprocess.run([sys.executable, '-c', script], cwd=tmp_path, capture_output=True,
                          text=True, env={**os.environ, 'PATH': path}, timeout=120)
    assert done.returncode == 0, done.stderr
    assert 'Traceback' not in done.stderr + done.stdout
    assert done.stdout.strip() == 'network.dot'  # what was written instead of the picture
    hints = done.stderr.strip().splitlines()
    assert len(hints) == 2  # one line per drawing
    for hint, name in zip(hints, ('graph', 'network')):
        assert f"{name}.dot" in hint and 'apt-get install graphviz' in hint
        assert 'brew install graphviz' in hint
        assert (tmp_path / f"{name}.dot").read_text().startswith('digraph')
    assert not (tmp_path / 'graph.svg').exists()


def test_without_matplotlib_the_error_names_the_extra_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, 'matplotlib', None)  # makes `import matplotlib` fail
    with pytest.raises(ImportError, match=re.escape("pip install 'tapegrad[viz]'")):
        plot_loss([3.0, 2.0, 1.0])


def test_importing_viz_imports_neither_numpy_nor_matplotlib_nor_graphviz():
    done = subprocess.run(
        [sys.executable, '-c', "import sys, tapegrad.viz; "
         "print([m for m in ('numpy', 'matplotlib', 'graphviz') if m in sys.modules])"],
        capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == '[]', done.stderr


# ----------------------------------------------------------------------------------
# Jupyter


def test_jupyter_shows_small_graphs_as_svg_and_big_ones_as_text():
    script = textwrap.dedent("""
        from IPython.core.interactiveshell import InteractiveShell
        from tapegrad import Value
        from tapegrad.viz import register_jupyter_display
        shell = InteractiveShell.instance()
        assert register_jupyter_display()
        x = Value(2.0, label='x')
        big = x
        for _ in range(65000):
            big = big + 1.0
        for value in (x, (x * x).tanh(), big):
            formats, _ = shell.display_formatter.format(value)
            print(sorted(formats))
    """)
    done = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "['text/plain']", "['image/svg+xml', 'text/plain']", "['text/plain']"]


def test_graph_svg_is_the_drawing_with_the_values_data():
    x = Value(0.25, label='x')
    svg = graph_svg((x * 4).exp())
    assert 'data 2.718' in svg_texts(svg)


# ----------------------------------------------------------------------------------
# plots


def test_plot_loss_of_a_list_and_of_a_history(tmp_path):
    losses = [4.0 * 0.9 ** k for k in range(60)]  # 4 down to 0.008: over two decades
    assert plot_loss(losses, tmp_path / 'loss.png') == tmp_path / 'loss.png'
    assert_png_shows_something(tmp_path / 'loss.png')
    figure = plot_loss(losses)
    assert isinstance(figure, Figure) and figure.axes[0].get_yscale() == 'log'
    assert plot_loss([3.0, 2.5, 2.0]).axes[0].get_yscale() == 'linear'

    history = SimpleNamespace(loss=losses, accuracy=[min(1.0, k / 40) for k in range(60)],
                              lr=[0.1 * (1 - k / 60) for k in range(60)])
    plot_loss(history, tmp_path / 'history.png')
    assert_png_shows_something(tmp_path / 'history.png')
    assert len(plot_loss(history).axes) == 3  # loss, accuracy beside it, the varying lr below


def test_plot_lr_sweep_survives_diverging_curves(tmp_path):
    curves = {0.001: [5.0 - 0.01 * k for k in range(50)],
              0.1: [5.0 * 0.9 ** k for k in range(50)],
              1.0: [5.0, 9.0, 80.0, float('inf')] + [float('nan')] * 46,
              3.0: [float('nan')] * 50}
    plot_lr_sweep(curves, tmp_path / 'sweep.png')
    assert_png_shows_something(tmp_path / 'sweep.png')
    legend = [t.get_text() for t in plot_lr_sweep(curves).axes[0].get_legend().get_texts()]
    assert legend[0].startswith('lr 0.001: final loss 4.51')
    assert legend[2] == 'lr 1: diverged at step 2'  # 80 is past 10x the starting 5
    assert legend[3] == 'lr 3: diverged at step 0'


def test_plot_decision_boundary_counts_what_the_eager_model_gets_right(tmp_path):
    X, y = make_moons(n_samples=40, noise=0.1, random_state=0)
    model = MLP(2, [8, 1], act='relu', out_act='linear', bias='uniform', rng=random.Random(3))
    plot_decision_boundary(model, X, y, tmp_path / 'boundary.png', resolution=60)
    assert_png_shows_something(tmp_path / 'boundary.png')
    correct = sum((model(x).data > 0) == (label == 1) for x, label in zip(X, y))
    title = plot_decision_boundary(model, X, y, resolution=20).axes[0].get_title()
    assert title.startswith(f"Decision boundary: {correct} of 40 ")
    with pytest.raises(ValueError, match='2 inputs'):
        plot_decision_boundary(MLP(3, [1]), [[0, 0, 0]], [0])


def test_plot_gradients_after_backward(tmp_path):
    random.seed(42)
    model = MLP(3, [4, 4, 1])
    model([2.0, 3.0, -1.0]).backward()
    plot_gradients(model, tmp_path / 'gradients.png')
    assert_png_shows_something(tmp_path / 'gradients.png')
    figure = plot_gradients(model)
    panels = [ax for ax in figure.axes if ax.get_title().startswith('layer')]
    assert [ax.images[0].get_array().shape for ax in panels] == [(4, 4), (4, 5), (1, 5)]
    first = panels[0].images[0].get_array()  # row = neuron, columns = |w.grad|..., |b.grad|
    assert first[2, 0] == abs(model.layers[0].neurons[2].w[0].grad)
    assert first[2, 3] == abs(model.layers[0].neurons[2].b.grad)


# ----------------------------------------------------------------------------------
# the NumPy forward pass behind the decision boundary


@pytest.mark.parametrize('act', ['tanh', 'relu', 'sigmoid', 'linear'])
def test_numpy_forward_equals_the_eager_model(act):
    rng = random.Random(5)
    model = MLP(2, [6, 5, 1], act=act, bias='uniform', rng=rng)
    points = [[rng.uniform(-3, 3), rng.uniform(-3, 3)] for _ in range(50)]
    eager = np.array([[model(p).data] for p in points])
    assert np.max(np.abs(numpy_forward(model, points) - eager)) <= 1e-12

    wide = MLP(3, [4, 2], act=act, rng=rng)  # two outputs: one column each
    points = [[rng.uniform(-3, 3) for _ in range(3)] for _ in range(20)]
    eager = np.array([[v.data for v in wide(p)] for p in points])
    assert np.max(np.abs(numpy_forward(wide, points) - eager)) <= 1e-12
