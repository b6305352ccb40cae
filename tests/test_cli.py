"""The `tapegrad` command, end to end in a subprocess, as a user runs it."""

import json
import re
import resource
import subprocess
import sys
from importlib.metadata import version

import numpy as np
import pytest

from tapegrad import MLP, cli, data, train
from tapegrad.data import make_moons


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
    assert 'training samples right' in result.stdout and str(tmp_path) in result.stdout
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
    (['graph', 'a', '--set', 'a=1', '--out', 'g.txt'],
     "cannot tell how to draw 'g.txt': give --out a file ending in .svg, .png or .pdf, such as --out g.svg"),
    (['graph', '--mlp', '2', '1', '--out', 'g'], "give --out a file ending in .svg, .png or .pdf"),
    (['playground', '--export', 'p.html', '--frames', '0'], '--frames must be a whole number >= 1, got 0'),
    (['playground', '--export', 'p.html', '--frames', '-3'], '--frames must be a whole number >= 1, got -3'),
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


# ----------------------------------------------------------------------------------
# tapegrad train: results that fit the task, reported for the final model


def recount(model_path, X, labels):
    """How many samples the saved model classifies right, by the eager engine: an
    independent count to hold the printed accuracy against."""
    model = MLP.load(model_path)
    classes = sorted(set(labels))
    scores = [model(x) for x in X]
    if isinstance(scores[0], list):
        return sum(max(range(len(s)), key=lambda k: s[k].data) == classes.index(t)
                   for s, t in zip(scores, labels))
    return sum((s.data > 0) == (t == classes[-1]) for s, t in zip(scores, labels))


def test_day5_trains_to_its_targets_with_the_defaults(tmp_path):
    result = tapegrad('train', '--dataset', 'day5', '--out', tmp_path)
    assert result.returncode == 0, result.stderr
    assert "out_act='linear'" in result.stdout and 'loss mse' in result.stdout
    model = MLP.load(tmp_path / 'model.json')
    X, y = data.day5()
    # a linear output reaches the negative targets: every prediction near its target
    assert all(abs(model(x).data - t) < 0.2 for x, t in zip(X, y))
    assert 'classifies 4 of 4 training samples right: accuracy 100.0%' in result.stdout


def test_a_run_whose_loss_blows_up_says_so_and_fails(tmp_path):
    result = tapegrad('train', '--dataset', 'day5', '--act', 'relu', '--out', tmp_path)
    assert_one_line_error(result, 'training diverged: the loss grew from', 'try a smaller --lr (now 0.1)')
    losses = json.loads((tmp_path / 'history.json').read_text())['loss']
    assert losses[-1] > 10 * losses[0]      # the record of the run is kept, to look at


@pytest.mark.parametrize('extra', [[], ['--batch-size', '10']])
def test_the_accuracy_printed_is_the_final_models_on_every_sample(tmp_path, extra):
    result = tapegrad('train', '--dataset', 'moons', '--steps', '40', '--out', tmp_path, *extra)
    assert result.returncode == 0, result.stderr
    X, labels = make_moons(n_samples=100, noise=0.1, random_state=1337)
    right = recount(tmp_path / 'model.json', X, labels)
    assert f'classifies {right} of 100 training samples right: accuracy {right / 100:.1%}' in result.stdout
    assert json.loads((tmp_path / 'history.json').read_text())['final_accuracy'] == right / 100


def test_train_saves_a_model_that_loads(tmp_path):
    result = tapegrad('train', '--dataset', 'blobs', '--steps', '5', '--out', tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"load the model with: MLP.load({str(tmp_path / 'model.json')!r})" in result.stdout
    assert MLP.load(tmp_path / 'model.json').sizes == [2, 16, 16, 3]


def test_class_names_in_a_csv_are_classes(tmp_path):
    X, labels = make_moons(n_samples=40, noise=0.1, random_state=0)
    names = ['dog', 'cat']
    rows = ['a,b,animal'] + [f'{a!r},{b!r},{names[t]}' for (a, b), t in zip(X, labels)]
    (tmp_path / 'pets.csv').write_text('\n'.join(rows) + '\n')
    result = tapegrad('train', '--dataset', tmp_path / 'pets.csv', '--steps', '30', '--out', tmp_path / 'o')
    assert result.returncode == 0, result.stderr
    assert "classes: a score above 0 means class 'dog', below 0 class 'cat'" in result.stdout
    assert json.loads((tmp_path / 'o' / 'model.json').read_text())['classes'] == ['cat', 'dog']
    right = recount(tmp_path / 'o' / 'model.json', X, [names[t] for t in labels])
    assert f'classifies {right} of 40 training samples right' in result.stdout
    rows = ['a,b,animal'] + [f'{a!r},{b!r},{["bird", "cat", "dog"][i % 3]}' for i, (a, b) in enumerate(X)]
    (tmp_path / 'three.csv').write_text('\n'.join(rows) + '\n')
    result = tapegrad('train', '--dataset', tmp_path / 'three.csv', '--steps', '3', '--out', tmp_path / 'p')
    assert result.returncode == 0, result.stderr
    assert "classes: output 0 = 'bird', output 1 = 'cat', output 2 = 'dog'" in result.stdout


def test_a_regression_csv_with_two_features_trains_and_draws_what_fits(tmp_path):
    rng = np.random.RandomState(0)
    rows = ['a,b,y'] + [f'{a!r},{b!r},{a - 2 * b!r}' for a, b in rng.uniform(-1, 1, size=(50, 2)).tolist()]
    (tmp_path / 'reg.csv').write_text('\n'.join(rows) + '\n')
    result = tapegrad('train', '--dataset', tmp_path / 'reg.csv', '--steps', '20', '--out', tmp_path / 'o')
    assert result.returncode == 0, result.stderr
    assert 'loss mse' in result.stdout and 'wrote model.json, history.json, loss.png to' in result.stdout
    assert not (tmp_path / 'o' / 'boundary.png').exists()


@pytest.mark.parametrize('text, message', [
    ('a,b,y\n1,2,yes\n3,4,yes\n5,6,yes\n', "every target of DATA is 'yes': a classifier needs at least two classes"),
    ('a,b,y\n1,2,0.5\n', 'DATA has 1 sample; training needs at least 2'),
])
def test_a_csv_that_cannot_train_is_refused_before_training(tmp_path, text, message):
    path = tmp_path / 'd.csv'
    path.write_text(text)
    result = tapegrad('train', '--dataset', path, '--out', tmp_path / 'o')
    assert_one_line_error(result, message.replace('DATA', str(path)))
    assert 'training' not in result.stdout and not (tmp_path / 'o' / 'model.json').exists()


def whole_number_targets(path, n_samples, values):
    rng = np.random.RandomState(0)
    rows = ['a,b,price'] + [f'{a!r},{b!r},{values[i % len(values)]}'
                            for i, (a, b) in enumerate(rng.uniform(size=(n_samples, 2)).tolist())]
    path.write_text('\n'.join(rows) + '\n')
    return path


def test_whole_number_targets_of_many_values_ask_for_the_loss(tmp_path):
    prices = whole_number_targets(tmp_path / 'prices.csv', 100, range(100, 400, 5))
    result = tapegrad('train', '--dataset', prices, '--target', 'price', '--out', tmp_path / 'o')
    assert_one_line_error(result, f'the targets of {prices} are whole numbers with ', 'with 60 different values (100, 105, 110, 115, 120, ...)',
                          'give --loss mse for numbers (such as prices or counts), or --loss cross_entropy for ')
    assert not (tmp_path / 'o' / 'model.json').exists()
    result = tapegrad('train', '--dataset', prices, '--loss', 'mse', '--steps', '2', '--lr', '1e-6',
                      '--out', tmp_path / 'o')
    assert result.returncode == 0, result.stderr
    assert 'loss mse' in result.stdout and MLP.load(tmp_path / 'o' / 'model.json').sizes == [2, 16, 16, 1]
    result = tapegrad('train', '--dataset', prices, '--loss', 'cross_entropy', '--steps', '2', '--out', tmp_path / 'c')
    assert result.returncode == 0, result.stderr
    assert MLP.load(tmp_path / 'c' / 'model.json').sizes == [2, 16, 16, 60]
    # few whole numbers, each many times, are still classes; more than half the samples are not
    digits = whole_number_targets(tmp_path / 'digits.csv', 100, range(10))
    result = tapegrad('train', '--dataset', digits, '--steps', '2', '--out', tmp_path / 'd')
    assert result.returncode == 0, result.stderr
    assert 'loss cross_entropy' in result.stdout
    few = whole_number_targets(tmp_path / 'few.csv', 6, range(10))
    assert_one_line_error(tapegrad('train', '--dataset', few, '--out', tmp_path / 'f'), 'give --loss mse')


def test_a_target_written_as_a_number_is_a_column_name_first(tmp_path):
    path = tmp_path / 'years.csv'
    path.write_text('a,2019,y\n' + ''.join(f'{i / 10},{i % 2},{i / 7}\n' for i in range(20)))
    result = tapegrad('train', '--dataset', path, '--target', '2019', '--steps', '2', '--out', tmp_path / 'o')
    assert result.returncode == 0, result.stderr
    assert 'loss hinge' in result.stdout     # the 0/1 column named 2019, not an index
    result = tapegrad('train', '--dataset', path, '--target', '-1', '--steps', '2', '--out', tmp_path / 'o')
    assert result.returncode == 0, result.stderr
    assert 'loss mse' in result.stdout       # the last column, y
    assert_one_line_error(tapegrad('train', '--dataset', path, '--target', '2020', '--out', tmp_path / 'o'),
                          'no column index 2020')


def test_a_large_csv_trains_on_mini_batches_by_default_and_says_so(tmp_path):
    X, labels = make_moons(n_samples=20_000, noise=0.2, random_state=0)
    path = tmp_path / 'big.csv'
    np.savetxt(path, np.column_stack([X, labels]), delimiter=',', fmt=['%.17g', '%.17g', '%d'])
    result = tapegrad('train', '--dataset', path, '--steps', '30', '--out', tmp_path / 'o')
    assert result.returncode == 0, result.stderr
    assert 'batches of 100 (the default above 10,000 samples)' in result.stdout
    assert '(on its batch of 100)' in result.stdout and 'of 20,000 training samples right' in result.stdout
    assert (tmp_path / 'o' / 'boundary.png').exists()


def test_the_moons_pictures_label_the_classes_alike_in_demo_and_train(tmp_path, monkeypatch):
    from tapegrad import viz
    drawn = []
    def remember_labels(model, X, y, path=None, **kwargs):
        drawn.append(sorted(set(np.asarray(y).tolist())))
        return path
    monkeypatch.setattr(viz, 'plot_decision_boundary', remember_labels)
    model, X, labels, _ = cli.demo_moons('eager')
    viz.plot_decision_boundary(model, X, labels)       # as demo_pictures draws it
    assert cli.main(['train', '--steps', '2', '--out', str(tmp_path)]) == 0
    assert drawn[0] == drawn[1] == [0, 1]


def test_a_full_disk_names_where_it_was_writing(tmp_path):
    def small_files():   # writes past 2 KB fail, as on a full disk (Python ignores SIGXFSZ)
        resource.setrlimit(resource.RLIMIT_FSIZE, (2048, 2048))
    result = subprocess.run([sys.executable, '-m', 'tapegrad', 'train', '--steps', '2', '--out', tmp_path],
                            capture_output=True, text=True, timeout=300, preexec_fn=small_files)
    assert_one_line_error(result, 'File too large', str(tmp_path))


def test_train_numbers_out_of_range_are_refused_before_anything_runs(tmp_path):
    for args, message in [(['--steps', '0'], '--steps must be a whole number >= 1, got 0'),
                          (['--batch-size', '-5'], '--batch-size must be a whole number >= 1, got -5'),
                          (['--seed', '-1'], '--seed must be a whole number from 0 to 2**32 - 1'),
                          (['--lr', 'inf'], '--lr must be a finite number >= 0, got inf'),
                          (['--l2', '-1'], '--l2 must be a finite number >= 0, got -1.0'),
                          (['--hidden', '4', '0'], '--hidden: each layer size must be a whole number >= 1')]:
        result = tapegrad('train', *args, '--out', tmp_path / 'o')
        assert_one_line_error(result, message)
        assert not (tmp_path / 'o').exists()


# ----------------------------------------------------------------------------------
# The command line itself


def test_version_is_the_packages():
    result = tapegrad('--version')
    assert result.returncode == 0 and result.stdout.strip() == f"tapegrad {version('tapegrad')}"


def test_debug_is_taken_after_the_command_too(tmp_path):
    result = tapegrad('train', '--dataset', 'nosuch', '--debug', cwd=tmp_path)
    assert result.returncode == 1 and 'Traceback' in result.stderr


def test_every_option_has_help():
    parser = cli.build_parser()
    commands = next(a for a in parser._actions if isinstance(a, type(parser._subparsers._group_actions[0])))
    for name, command in [('tapegrad', parser)] + list(commands.choices.items()):
        for action in command._actions:
            if action.option_strings:
                assert action.help, f"{name} {action.option_strings or action.dest} has no help"


def test_the_names_the_help_lists_are_the_ones_the_modules_know():
    assert cli.DATASETS == tuple(data.DATASETS)
    assert cli.LOSSES == tuple(train.LOSSES) and cli.OPTIMIZERS == tuple(train.OPTIMIZERS)


def test_help_does_not_import_numpy():
    done = subprocess.run([sys.executable, '-X', 'importtime', '-m', 'tapegrad', '--help'],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and 'usage: tapegrad' in done.stdout
    imported = re.findall(r'\|\s+([\w.]+)$', done.stderr, flags=re.MULTILINE)
    assert 'tapegrad.cli' in imported and 'numpy' not in imported


def test_defaults_kept_by_other_modules_are_theirs():
    from tapegrad.checker.sandbox import MEMORY_MIB
    from tapegrad.playground.settings import DEFAULTS
    assert cli.given(cli.parse(['check', 'x.py']).memory) == MEMORY_MIB
    assert cli.parse(['check', 'x.py', '--memory', '512']).memory == 512
    help_text = tapegrad('check', '--help').stdout
    assert f'(default: {MEMORY_MIB}' in help_text
    args = cli.parse(['playground'])
    for setting in cli.PLAYGROUND_SETTINGS:
        assert cli.given(getattr(args, setting)) == getattr(DEFAULTS, setting), setting
    help_text = ' '.join(tapegrad('playground', '--help').stdout.split())
    assert f'--act ACT --export: default {DEFAULTS.act}' in help_text
    assert f"(default: {' '.join(map(str, DEFAULTS.hidden))})" in help_text


def test_graph_help_names_the_formats_drawn():
    from tapegrad.viz._common import GRAPH_FORMATS
    graph_help = tapegrad('graph', '--help').stdout
    assert all(f'.{f}' in graph_help for f in GRAPH_FORMATS)


def test_bench_help_shows_the_benchmarks_options():
    result = tapegrad('bench', '--help')
    assert result.returncode == 0, result.stderr
    assert 'usage: tapegrad bench' in result.stdout and '--quick' in result.stdout


def test_a_formula_starting_with_a_minus(tmp_path):
    result = tapegrad('graph', '-a', '--set', 'a=2', '--out', tmp_path / 'g.svg')
    assert result.returncode == 0, result.stderr
    assert "op='*', data=-2.0, grad=1.0" in result.stdout   # -a is a * -1, as in micrograd
    result = tapegrad('graph', '--sett', 'a=2', '-a')
    assert result.returncode == 2 and 'unrecognized arguments: --sett' in result.stderr


@pytest.mark.parametrize('formula', ['+'.join(['a'] * 3000), '**'.join(['a'] * 5000)])
def test_a_formula_too_big_to_draw_is_one_line(tmp_path, formula):
    result = tapegrad('graph', formula, '--set', 'a=1', '--out', tmp_path / 'g.svg')
    assert_one_line_error(result, 'values; a drawing of more than 500 is unreadable')


def test_demo_checks_its_folder_before_training(tmp_path):
    (tmp_path / 'file').write_text('')
    result = tapegrad('demo', '--out', tmp_path / 'file' / 'sub')
    assert_one_line_error(result, f"'{tmp_path / 'file'}' is a file", 'choose another with --out')
    assert 'Day 5' not in result.stdout


@pytest.mark.parametrize('args, fragment', [
    (['graph', 'a', '--set', 'a=1', '--out', '/proc/tapegrad.svg'], "files cannot be made in '/proc'"),
    (['exercises', 'afile'], "'afile' is a file); choose another folder"),
])
def test_output_folders_that_cannot_be_written_say_why(tmp_path, args, fragment):
    (tmp_path / 'afile').write_text('')
    assert_one_line_error(tapegrad(*args, cwd=tmp_path), fragment)
