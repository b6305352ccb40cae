"""The playground's Python side without a browser: settings, frames, neuron graphs, export.

Numbers are checked against PyTorch float64 (the neuron graph's gradients, the boundary's
classes) and against micrograd's published moons demo (the first loss).
"""

import base64
import json
import math
import random
import re
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from tapegrad import fit
from tapegrad.playground import record_run, replay_html
from tapegrad.playground.frames import GRID, boundary, grid_points, plot_bounds
from tapegrad.playground.neuron_graph import GraphError, neuron_graph
from tapegrad.playground.server import OPTIONS, Session, allowed_hosts
from tapegrad.playground.settings import (DEFAULTS, MAX_UPLOAD_BYTES, SettingsError, build_model,
                                          built_in, make_xor, page_fields, parse_settings,
                                          parse_steps, read_csv, targets_for)
from tapegrad.playground.trainer import Sweep


# ----------------------------------------------------------------------------------
# Settings: every field's bad value gets one message naming it


@pytest.mark.parametrize('fields, field, fragment', [
    ({'layers': '0'}, 'layers', 'hidden layers: 0 is not possible here; give 1 to 6'),
    ({'layers': 'two'}, 'layers', "hidden layers must be a whole number from 1 to 6, got 'two'"),
    ({'widths': ['16', '10000']}, 'widths', 'hidden layer 2: a width of 10,000 neurons is not possible'),
    ({'widths': ['0', '4']}, 'widths', 'hidden layer 1: a width of 0 neurons'),
    ({'widths': ['4.5', '4']}, 'widths', "whole number of neurons from 1 to 64, got '4.5'"),
    ({'lr': 'quick'}, 'lr', "learning rate must be a number such as 0.1 or 1e-3, got 'quick'"),
    ({'lr': '-0.1'}, 'lr', 'learning rate must be a number above 0'),
    ({'lr': 'nan'}, 'lr', 'learning rate must be a number above 0'),
    ({'dataset': 'mnist'}, 'dataset', "no dataset 'mnist': choose one of moons, circles"),
    ({'act': 'gelu'}, 'act', "activation must be one of tanh, relu, sigmoid, linear; got 'gelu'"),
    ({'optimizer': 'lion'}, 'optimizer', "optimizer must be one of sgd, adam, adamw; got 'lion'"),
    ({'batch_size': '0'}, 'batch_size', 'batch size must be a whole number from 1'),
    ({'l2': 'lots'}, 'l2', "L2 must be a number, got 'lots'"),
    ({'seed': '-1'}, 'seed', 'seed must be a whole number from 0'),
    ({'steps_per_frame': '3'}, 'steps_per_frame', 'steps per frame must be one of 1, 2, 5, 10, 25'),
])
def test_a_bad_setting_names_its_field_and_value(fields, field, fragment):
    with pytest.raises(SettingsError) as caught:
        parse_settings(fields)
    assert fragment in str(caught.value)
    assert caught.value.field == field


def test_settings_are_never_run_as_code(tmp_path):
    marker = tmp_path / 'ran'
    payload = f"__import__('pathlib').Path({str(marker)!r}).touch()"
    for key in ('lr', 'l2', 'seed', 'dataset', 'act', 'layers', 'batch_size'):
        with pytest.raises(SettingsError):
            parse_settings({key: payload})
    with pytest.raises(SettingsError):
        parse_settings({'widths': [payload]})
    assert not marker.exists()


def test_good_settings_and_their_defaults():
    settings = parse_settings({'layers': '3', 'widths': ['8', '4'], 'lr': ' 1e-2 ', 'batch_size': '32'})
    assert settings.hidden == (8, 4, 4)  # a new layer takes the width of the one before
    assert settings.lr == 0.01 and settings.batch_size == 32
    assert parse_settings({}).hidden == (16, 16)
    assert parse_settings({'batch_size': 'all'}).batch_size is None


def test_the_page_is_given_the_defaults_as_its_fields():
    assert OPTIONS['defaults'] == page_fields(DEFAULTS)
    assert parse_settings(OPTIONS['defaults']) == DEFAULTS
    assert OPTIONS['defaults']['l2'] == '0.0001' and OPTIONS['defaults']['batch_size'] == 'all'


def test_the_sweeps_steps_are_checked_as_the_settings_are():
    assert parse_steps({'steps': ' 20 '}) == 20
    with pytest.raises(SettingsError, match="steps must be a whole number, got 'many': for example 100"):
        parse_steps({'steps': 'many'})
    with pytest.raises(SettingsError, match="steps must be a whole number from 1 to 10000, got '0'"):
        parse_steps({'steps': '0'})


def test_a_loss_that_does_not_fit_the_targets_says_which_to_use():
    spiral = built_in('spiral')
    with pytest.raises(SettingsError, match='the hinge loss separates two classes, but spiral has 3'):
        targets_for('hinge', spiral)
    assert parse_settings({'dataset': 'spiral'}).loss_for(spiral) == 'cross_entropy'
    assert targets_for('bce', built_in('moons'))[:4] == built_in('moons').y[:4]
    assert set(targets_for('hinge', built_in('moons'))) == {-1, 1}


def test_the_model_is_micrograds_demo_model():
    """Seed 1337 draws micrograd's moons weights: the same first loss as its demo prints."""
    settings = parse_settings({})
    run = record_run(parse_settings({'steps': '2'}), frames=2)
    assert run['frames'][1]['loss'][0] == pytest.approx(0.895844, abs=5e-5)  # 4 digits kept
    model = build_model(settings, built_in('moons'))
    random.seed(1337)
    expected = [random.uniform(-1, 1) for _ in range(2)]
    assert [p.data for p in model.parameters()[:2]] == expected


def test_xor_puts_each_point_in_its_quadrant():
    X, y = make_xor(200, random_state=0)
    X = np.array(X)
    assert ((X[:, 0] * X[:, 1] > 0).astype(int) == y).all()
    assert np.abs(X).min() >= 0.1 and np.abs(X).max() <= 1.0


# ----------------------------------------------------------------------------------
# Uploads


def test_a_ragged_csv_names_the_line():
    with pytest.raises(SettingsError, match=r"^data.csv, line 3 has 2 columns; the header has 3$"):
        read_csv('data.csv', b'a,b,label\n1,2,0\n3,4\n')


def test_a_csv_over_the_limit_is_refused_before_reading():
    with pytest.raises(SettingsError, match='big.csv is 1,000,001 bytes; the playground takes CSV files up to'):
        read_csv('big.csv', b'1' * (MAX_UPLOAD_BYTES + 1))


@pytest.mark.parametrize('content, fragment', [
    (b'\xff\xfe\x00', 'is not UTF-8 text'),
    (b'a,b,y\nx,1,0\n2,3,1\n', "'x' is not a number"),
    (b'a,b,label\n1,2,1\n3,4,1\n', 'every target is 1'),
])
def test_other_bad_csv_files(content, fragment):
    with pytest.raises(SettingsError, match=fragment):
        read_csv('f.csv', content)


def test_a_good_csv_becomes_classes_or_numbers():
    classes = read_csv('c.csv', b'x,y,label\n0,0,3\n1,1,5\n2,2,3\n')
    assert classes.classes == 2 and classes.y == [0, 1, 0] and classes.feature_names == ['x', 'y']
    numbers = read_csv('n.csv', b'x,t\n0,0.5\n1,1.5\n2,2.25\n')
    assert numbers.classes == 0 and numbers.y == [0.5, 1.5, 2.25]


# ----------------------------------------------------------------------------------
# Frames and graphs, against PyTorch float64


def torch_model(model):
    """The MLP's layers as (W, b, act) tensors in float64, sharing its numbers."""
    layers = []
    for layer in model.layers:
        W = torch.tensor([[w.data for w in n.w] for n in layer.neurons], dtype=torch.float64,
                         requires_grad=True)
        b = torch.tensor([n.b.data for n in layer.neurons], dtype=torch.float64, requires_grad=True)
        layers.append((W, b, layer.neurons[0].act))
    return layers


def torch_forward(layers, X):
    h = torch.as_tensor(np.asarray(X), dtype=torch.float64)
    outputs = []
    for W, b, act in layers:
        z = h @ W.T + b
        h = z if act == 'linear' else getattr(torch, act)(z)
        outputs.append(h)
    return h, outputs


@pytest.mark.parametrize('dataset', ['moons', 'spiral'])
def test_the_boundary_gives_each_cell_the_class_pytorch_gives_it(dataset):
    data = built_in(dataset)
    settings = parse_settings({'dataset': dataset, 'widths': ['8', '8'], 'seed': '7'})
    model = build_model(settings, data)
    points = grid_points(plot_bounds(data.X))
    frame = boundary(model, points, data)
    cls = np.frombuffer(base64.b64decode(frame['cls']), dtype=np.uint8)
    assert len(cls) == GRID * GRID
    out, _ = torch_forward(torch_model(model), points)
    expected = (out[:, 0] > 0).numpy() if out.shape[1] == 1 else out.argmax(dim=1).numpy()
    assert (cls == expected).mean() > 0.999  # a cell on the boundary itself may round either way
    assert len(set(cls.tolist())) == data.classes


def test_the_bounds_hold_every_point_in_a_square():
    X = [[-1.0, 0.0], [2.0, 0.5]]
    x0, x1, y0, y1 = plot_bounds(X)
    assert x1 - x0 == pytest.approx(y1 - y0)
    assert x0 < -1 and x1 > 2 and y0 < 0 and y1 > 0.5


@pytest.mark.parametrize('wrt', ['neuron', 'loss'])
def test_a_neurons_graph_has_pytorchs_data_and_grads(wrt):
    data = built_in('moons')
    settings = parse_settings({'act': 'tanh', 'widths': ['4', '3'], 'seed': '3'})
    model = build_model(settings, data)
    loss = settings.loss_for(data)
    targets = targets_for(loss, data)
    layer, neuron, sample = 1, 2, 5
    graph = neuron_graph(model, data.X, targets, loss, layer, neuron, sample, wrt)
    by_name = {n['name']: n for n in graph['nodes']}

    layers = torch_model(model)
    x = torch.tensor([data.X[sample]], dtype=torch.float64)
    out, outputs = torch_forward(layers, x)
    hidden = outputs[0]
    hidden.retain_grad()
    node_out = outputs[layer][0, neuron]
    if wrt == 'neuron':
        node_out.backward()
    else:  # the hinge loss on this sample alone (no L2)
        torch.relu(1 - targets[sample] * out[0, 0]).backward()
    W, b, _ = layers[layer]
    assert by_name['h2.3']['data'] == pytest.approx(node_out.item(), abs=1e-12)
    for i in range(4):
        assert by_name[f'w{i + 1}']['grad'] == pytest.approx(W.grad[neuron, i].item(), abs=1e-12)
        assert by_name[f'h1.{i + 1}']['data'] == pytest.approx(hidden[0, i].item(), abs=1e-12)
        if wrt == 'neuron':  # this neuron's share of each input's gradient
            assert by_name[f'h1.{i + 1}']['grad'] == pytest.approx(
                W[neuron, i].item() * (1 - node_out.item() ** 2), abs=1e-12)
    assert by_name['b']['grad'] == pytest.approx(b.grad[neuron].item(), abs=1e-12)
    # backward visits the output first and every Value after all that use it
    visit = {n['id']: n['visit'] for n in graph['nodes']}
    assert visit[by_name['h2.3']['id']] == 0
    for n in graph['nodes']:
        assert all(visit[c] > n['visit'] for c in n['children'])
    # laid out left to right, inputs before the values they make, no two boxes on one spot
    spots = [(n['x'], n['y']) for n in graph['nodes']]
    assert len(set(spots)) == len(spots)
    for n in graph['nodes']:
        assert all(by_id['x'] < n['x'] for by_id in (graph['nodes'][c] for c in n['children']))


def test_the_graph_explains_each_rule_with_its_numbers():
    data = built_in('day5')
    settings = parse_settings({'dataset': 'day5', 'act': 'tanh', 'widths': ['4', '4'], 'seed': '42'})
    model = build_model(settings, data)
    graph = neuron_graph(model, data.X, targets_for('mse', data), 'mse', 0, 0, 0)
    by_name = {n['name']: n for n in graph['nodes']}
    explain = {name: n['explain'] for name, n in by_name.items()}
    # each line is the engine's rule with the graph's names, then with the numbers
    data, grad = ({name: f"{n[key]:.4g}" for name, n in by_name.items()} for key in ('data', 'grad'))
    assert grad['h1.1'] == '1'  # backward() from the neuron's output
    assert explain['w1·x1'][0] == f"w1.grad += w1·x1.grad * x1.data = {grad['w1·x1']} * 2"
    h = data['h1.1'] if not data['h1.1'].startswith('-') else f"({data['h1.1']})"
    assert explain['h1.1'] == [f"s3.grad += h1.1.grad * (1.0 - h1.1.data * h1.1.data) = "
                               f"1 * (1.0 - {h} * {h})"]
    assert explain['s1'] == [f"b.grad += s1.grad = {grad['s1']}", f"w1·x1.grad += s1.grad = {grad['s1']}"]


def test_every_ops_rule_is_explained_with_numbers_that_give_its_gradient():
    # every op of the engine, each input: the numbers shown compute (to their 4 digits)
    # the gradient PyTorch gives that input
    from tapegrad import Value
    from tapegrad.engine import OPS
    from tapegrad.playground.neuron_graph import _explain
    x, w = Value(1.7, label='x'), Value(0.6, label='w')
    made = {'+': x + w, '*': x * w, '/': x / w, '**': x ** w, '**k': x ** 3, 'exp': x.exp(),
            'log': x.log(), 'tanh': x.tanh(), 'sigmoid': x.sigmoid(), 'relu': x.relu()}
    assert set(made) == set(OPS)
    tx, tw = (torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (1.7, 0.6))
    torch_made = {'+': tx + tw, '*': tx * tw, '/': tx / tw, '**': tx ** tw, '**k': tx ** 3,
                  'exp': tx.exp(), 'log': tx.log(), 'tanh': tx.tanh(), 'sigmoid': tx.sigmoid(),
                  'relu': tx.relu()}
    for op, out in made.items():
        out.label, out.grad = 'out', 1.0
        lines = _explain(out, {id(v): v.label for v in (x, w, out)})
        inputs = [tx, tw][:len(out._prev)]
        expected = torch.autograd.grad(torch_made[op], inputs)
        assert len(lines) == len(inputs), op
        for line, grad in zip(lines, expected):
            numbers = line.split(' = ')[1]
            shown = eval(numbers, {'pow': math.pow, 'log': math.log, 'exp': math.exp})
            assert shown == pytest.approx(grad.item(), rel=1e-3), (op, line)


@pytest.mark.parametrize('args, fragment', [
    ((5, 0, 0), 'layer must be a whole number from 0 to 2, got 5'),
    ((0, 16, 0), 'neuron must be a whole number from 0 to 15, got 16'),
    ((0, 0, 100), 'sample must be a whole number from 0 to 99, got 100'),
    ((0, 0, '1'), "sample must be a whole number from 0 to 99, got '1'"),
])
def test_a_neuron_or_sample_that_is_not_there(args, fragment):
    data = built_in('moons')
    model = build_model(parse_settings({}), data)
    with pytest.raises(GraphError, match=fragment):
        neuron_graph(model, data.X, targets_for('hinge', data), 'hinge', *args)


# ----------------------------------------------------------------------------------
# Export


def test_the_export_is_one_file_with_every_frame_and_no_outside_reference():
    run = record_run(parse_settings({'steps': '30'}), frames=10)
    steps = [f['step'] for f in run['frames']]
    assert steps == [0, 3, 6, 9, 12, 15, 18, 21, 24, 27, 30]
    losses = [x for f in run['frames'] for x in f['loss']]
    assert len(losses) == 30 and losses[-1] < losses[0]
    page = replay_html(run)
    assert not re.search(r'(src|href)\s*=\s*["\']?(https?:)?//', page), "the page loads something"
    assert '<script src' not in page and '<link' not in page and 'EventSource' not in page
    data = page.split('<script id="run-data" type="application/json">')[1].split('</script>')[0]
    assert json.loads(data)['steps'] == 30


def test_a_diverging_export_keeps_the_message():
    run = record_run(parse_settings({'loss': 'mse', 'lr': '10', 'steps': '50'}), frames=10)
    assert run['message'].startswith('Training stopped: step 5: the loss is inf (not finite)')
    assert run['frames'][-1]['step'] == 5
    assert all(v is None or math.isfinite(v) for v in run['frames'][-1]['params'])


# ----------------------------------------------------------------------------------
# The command line


def tapegrad(*args, timeout=120):
    return subprocess.run([sys.executable, '-m', 'tapegrad', 'playground', *map(str, args)],
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize('args, fragment', [
    (['--lr', 'fast'], "learning rate must be a number such as 0.1 or 1e-3, got 'fast'"),
    (['--hidden', '10000'], 'hidden layer 1: a width of 10,000 neurons is not possible'),
    (['--dataset', 'mnist'], "no dataset 'mnist'"),
])
def test_export_with_a_bad_option_says_so_in_one_line(tmp_path, args, fragment):
    result = tapegrad('--export', tmp_path / 'run.html', *args)
    assert result.returncode == 1 and 'Traceback' not in result.stderr
    assert result.stderr.strip().splitlines() == [f"tapegrad: error: {result.stderr.split('error: ', 1)[1].strip()}"]
    assert fragment in result.stderr
    assert not (tmp_path / 'run.html').exists()


def test_export_of_a_csv_file(tmp_path):
    csv = tmp_path / 'points.csv'
    csv.write_text('a,b,label\n' + ''.join(f"{i / 10},{(i % 3) / 3},{i % 2}\n" for i in range(30)))
    result = tapegrad('--export', tmp_path / 'run.html', '--dataset', csv, '--steps', 20)
    assert result.returncode == 0, result.stderr
    assert 'frames of 20 steps on points.csv' in result.stdout


def test_a_port_in_use_is_one_line_naming_it():
    with socket.socket() as taken:
        taken.bind(('127.0.0.1', 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = tapegrad('--no-browser', '--port', port, timeout=60)
    assert result.returncode == 1 and 'Traceback' not in result.stderr
    assert f"cannot serve on 127.0.0.1:{port}" in result.stderr and 'choose another --port' in result.stderr


# ----------------------------------------------------------------------------------
# The server's sessions: runs and sweeps without a browser


def recording_session():
    """A Session whose events are kept in a list rather than streamed to a page."""
    session = Session('test', loop=None)
    events = []
    session.publish = events.append
    return session, events


def wait_until(condition, timeout=60):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "waited too long"
        time.sleep(0.02)


def test_the_sweep_trains_with_every_setting_of_the_page_but_the_rate():
    """Its mini-batches too: fit() gets the page's seed, and the global random state is left alone."""
    settings = parse_settings({'batch_size': '10', 'seed': '7', 'widths': ['4', '4'], 'l2': '0',
                               'steps': '6'})
    data, events = built_in('moons'), []
    state = random.getstate()
    sweep = Sweep(1, settings, data, events.append)
    sweep.start()
    wait_until(lambda: any(e['type'] == 'sweep-done' for e in events))
    assert random.getstate() == state
    final = next(e for e in events if e['type'] == 'sweep-done')['final']
    for rate in sweep.rates:
        page = parse_settings({'batch_size': '10', 'seed': '7', 'widths': ['4', '4'], 'l2': '0',
                               'lr': str(rate)})
        history = fit(build_model(page, data), data.X, targets_for('hinge', data), steps=6,
                      progress=False, **page.fit_options(data))
        assert final[str(rate)] == history.loss[-1], rate


def test_new_settings_stop_the_sweep_and_nothing_of_it_is_sent_after():
    session, events = recording_session()
    session.new_run(parse_settings({}))
    sweep = session.new_sweep(steps=10_000)
    wait_until(lambda: any(e['type'] == 'sweep' for e in events))
    session.new_run(parse_settings({'lr': '0.5'}))  # another rate: the same sweep, kept
    session.new_run(parse_settings({}))               # Reset: kept
    assert session.sweep is sweep
    session.new_run(parse_settings({'dataset': 'circles'}))
    assert session.sweep is None
    sent = len(events)
    sweep._thread.join(timeout=30)
    assert not sweep._thread.is_alive()
    stopped = [e for e in events if e['type'] == 'sweep-stopped']
    assert stopped == [{'type': 'sweep-stopped', 'sweep': sweep.id, 'message':
                        'stopped: the settings changed (run the sweep again for the new ones)'}]
    assert len(events) == sent and events[-1]['type'] == 'frame'  # the new run's first frame
    session.close()


def test_the_frame_rate_changes_without_a_new_run():
    session, events = recording_session()
    run = session.new_run(parse_settings({}))
    run.set_steps_per_frame(5)
    run.control('train')
    wait_until(lambda: sum(e['type'] == 'frame' for e in events) >= 5)
    run.control('pause')
    steps = [e['step'] for e in events if e['type'] == 'frame'][1:5]  # after the first frame
    assert all(step % 5 == 0 for step in steps), steps
    session.close()


def test_warm_up_starts_loading_numbas_loops():
    """What it is for: a page's first run finds numba's loops loaded, or on their way."""
    code = ("from tapegrad.playground.trainer import warm_up\n"
            "from tapegrad.tape.backend import LOADER\n"
            "warm_up()\n"
            "assert LOADER.thread is not None, 'warm_up() did not start loading numba'\n"
            "assert LOADER.wait(120), LOADER.why\n")
    result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr


def test_on_port_80_the_host_without_its_port_is_served():
    """Browsers leave HTTP's own port out of the Host header."""
    assert {'127.0.0.1', 'localhost', '[::1]', '127.0.0.1:80'} <= allowed_hosts('127.0.0.1', 80)
    assert '127.0.0.1' not in allowed_hosts('127.0.0.1', 8080)
    assert '[::1]' in allowed_hosts('::1', 80) and '[::1]:80' in allowed_hosts('::1', 80)
