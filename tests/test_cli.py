"""The `tapegrad` command, end to end in a subprocess, as a user runs it."""

import json
import subprocess
import sys

import pytest


def tapegrad(*args, cwd=None, timeout=300):
    return subprocess.run([sys.executable, '-m', 'tapegrad', *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


def assert_one_line_error(result, *fragments):
    assert result.returncode == 1, result.stderr
    assert 'Traceback' not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('tapegrad: error: '), result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_demo_trains_both_examples_and_writes_every_picture(tmp_path):
    result = tapegrad('demo', '--out', tmp_path / 'out')
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert 'Day 5' in out and 'step  50 | loss' in out and 'predictions after training' in out
    assert "moons" in out and 'final training accuracy 100%' in out
    # micrograd's demo notebook prints this loss at step 0 for the same seeds
    assert 'step   0 | loss 0.895844' in out
    for name in ['neuron-graph.svg', 'network-grads.svg', 'network-trained.svg', 'gradients.png',
                 'day5-loss.png', 'day5-lr-sweep.png', 'moons-loss.png', 'moons-boundary.png']:
        assert (tmp_path / 'out' / name).stat().st_size > 1000, name
        assert name in out


def test_train_on_a_builtin_dataset(tmp_path):
    result = tapegrad('train', '--dataset', 'moons', '--steps', '60', '--out', tmp_path)
    assert result.returncode == 0, result.stderr
    assert 'training accuracy' in result.stdout and str(tmp_path) in result.stdout
    history = json.loads((tmp_path / 'history.json').read_text())
    assert len(history['loss']) == 60 and history['loss'][-1] < history['loss'][0]
    assert (tmp_path / 'loss.png').exists() and (tmp_path / 'boundary.png').exists()


def test_train_on_a_csv_with_a_named_target(tmp_path):
    rows = ['y,a,b'] + [f"{int(a + b > 0)},{a},{b}" for a in (-1.0, -0.5, 0.5, 1.0) for b in (-1.0, 1.0, 0.25)]
    (tmp_path / 'd.csv').write_text('\n'.join(rows) + '\n')
    result = tapegrad('train', '--dataset', tmp_path / 'd.csv', '--target', 'y', '--loss', 'bce',
                      '--hidden', '4', '--steps', '40', '--out', tmp_path / 'o')
    assert result.returncode == 0, result.stderr
    assert 'loss bce' in result.stdout


def test_train_multiclass_uses_cross_entropy(tmp_path):
    result = tapegrad('train', '--dataset', 'blobs', '--steps', '20', '--lr', '0.05', '--out', tmp_path)
    assert result.returncode == 0, result.stderr
    assert 'loss cross_entropy' in result.stdout


def test_bad_csv_is_one_line_naming_file_line_and_column(tmp_path):
    (tmp_path / 'bad.csv').write_text('a,b,y\n1,2,0\n3,x,1\n')
    result = tapegrad('train', '--dataset', tmp_path / 'bad.csv', '--out', tmp_path / 'o')
    assert_one_line_error(result, 'bad.csv', 'line 3', 'column 2', "'x'")


@pytest.mark.parametrize('args, fragment', [
    (['train', '--dataset', 'nosuch'], "no dataset 'nosuch'"),
    (['train', '--dataset', 'moons', '--target', 'y'], '--target applies to CSV files'),
    (['train', '--loss', 'hinge', '--dataset', 'blobs'], 'use --loss cross_entropy'),
    (['graph', 'tanh(a +'], 'cannot read'),
    (['graph', 'a * b', '--set', 'a=1'], "add --set b=NUMBER"),
    (['graph', 'a', '--set', 'a=one'], '--set takes NAME=NUMBER'),
    (['graph'], 'give a formula'),
    (['graph', '--mlp', '3'], '--mlp takes the input size then the layer sizes'),
])
def test_run_failures_are_one_line(tmp_path, args, fragment):
    assert_one_line_error(tapegrad(*args, cwd=tmp_path), fragment)


def test_an_output_folder_that_cannot_be_written(tmp_path):
    (tmp_path / 'file').write_text('')
    result = tapegrad('train', '--steps', '1', '--out', tmp_path / 'file' / 'sub')
    assert_one_line_error(result, 'cannot write to the output folder', 'choose another with --out')


@pytest.mark.parametrize('args', [[], ['nosuch'], ['train', '--steps', 'ten'], ['train', '--act', 'gelu'],
                                  ['demo', '--engine', 'gpu'], ['graph', '--mlp', 'x']])
def test_bad_arguments_exit_2_with_usage(args):
    result = tapegrad(*args)
    assert result.returncode == 2
    assert 'usage: tapegrad' in result.stderr and 'Traceback' not in result.stderr


def test_debug_shows_the_traceback(tmp_path):
    result = tapegrad('--debug', 'train', '--dataset', 'nosuch', cwd=tmp_path)
    assert result.returncode == 1 and 'Traceback' in result.stderr


def test_graph_of_a_formula_and_of_a_network(tmp_path):
    result = tapegrad('graph', 'tanh(2*a + b)', '--set', 'a=1', 'b=-3', '--out', tmp_path / 'g.svg')
    assert result.returncode == 0, result.stderr
    svg = (tmp_path / 'g.svg').read_text()
    # d tanh(u)/du = 1 - tanh(u)^2 at u = 2*1 - 3 = -1; da = 2 * that
    grad_a = 2 * (1 - __import__('math').tanh(-1.0) ** 2)
    for text in ['>a<', '>b<', '>tanh<', f'>grad {grad_a:.4g}<']:
        assert text in svg, text
    assert "op='tanh'" in result.stdout      # the text listing printed beside the picture
    result = tapegrad('graph', '--mlp', '3', '4', '4', '1', '--out', tmp_path / 'n.png')
    assert result.returncode == 0, result.stderr
    assert (tmp_path / 'n.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
