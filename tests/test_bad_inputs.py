"""The bad-input catalogue (docs/bad-input.md): one case a row, each one clear error.

The table and this file must list the same ids: a row without a case, or a case without
a row, fails the first test.
"""

import json
import math
import re
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tapegrad import MLP, Neuron, Value, checkpoint, fit
from tapegrad.checkpoint import CheckpointError
from tapegrad.data import DataError, day5, load_csv
from tapegrad.losses import binary_cross_entropy, cross_entropy, hinge, mse
from tapegrad.optim import SGD, Adam
from tapegrad.playground.settings import SettingsError, parse_settings, read_csv
from tapegrad.train import TrainingError

DOC = Path(__file__).resolve().parent.parent / 'docs' / 'bad-input.md'


def raises(error, pattern):
    return ('raises', error, pattern)


def equals(value):
    return ('equals', value)


def csv_file(tmp_path, text):
    path = tmp_path / 'data.csv'
    path.write_text(text)
    return path


def truncated_checkpoint(tmp_path):
    path = tmp_path / 'm.json'
    MLP(2, [3, 1]).save(path)
    path.write_text(path.read_text()[:200])
    return MLP.load(path)


def resume_other_architecture(tmp_path):
    path = tmp_path / 'm.json'
    MLP(3, [4, 1]).save(path)
    X, y = day5()
    return fit(MLP(3, [5, 1]), X, y, steps=1, progress=False, checkpoint=path, resume=True)


def diverge(tmp_path):
    X, y = day5()
    return fit(MLP(3, [4, 4, 1], act='linear'), X, y, lr=10.0, steps=500, engine='eager', progress=False)


def cli(*args):
    return lambda tmp_path: subprocess.run([sys.executable, '-m', 'tapegrad', *args], cwd=tmp_path,
                                           capture_output=True, text=True, timeout=120)


def unwritable_out(tmp_path):
    (tmp_path / 'file').write_text('')
    return cli('train', '--steps', '1', '--out', 'file/sub')(tmp_path)


def check_a_file(*options):
    def case(tmp_path):
        (tmp_path / 'x.py').write_text('x = 1\n')
        return cli('check', *options, 'x.py')(tmp_path)
    return case


def dropout_from_torch(tmp_path):
    import torch  # the case needs PyTorch, as interop does
    from tapegrad.interop import from_torch
    nn = torch.nn
    return from_torch(nn.Sequential(nn.Linear(2, 3), nn.Dropout(), nn.Linear(3, 1)))


def to_torch_with_a_numpy_dtype(tmp_path):
    from tapegrad.interop import to_torch  # the case needs PyTorch, as interop does
    return to_torch(MLP(2, [1]), dtype=np.float32)


def run_in(tmp_path, *args, limit_file_size=None):
    def limits():
        if limit_file_size:   # writes past it fail as on a full disk (Python ignores SIGXFSZ)
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit_file_size, limit_file_size))
    return subprocess.run([sys.executable, '-m', 'tapegrad', *map(str, args)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300, preexec_fn=limits)


def train_on_csv(text):
    def run(tmp_path):
        csv_file(tmp_path, text)
        return run_in(tmp_path, 'train', '--dataset', 'data.csv', '--out', 'out')
    return run


def latin1_csv(tmp_path):
    path = tmp_path / 'data.csv'
    path.write_bytes('a,b,y\n1,2,0\n3,\u00e9,1\n'.encode('latin-1'))
    return load_csv(path)


def exercises_into_a_file(tmp_path):
    (tmp_path / 'afile').write_text('')
    return run_in(tmp_path, 'exercises', 'afile')


def fit_lr_inf_keeps_the_optimizer(tmp_path):
    model = MLP(3, [1])
    opt = SGD(model.parameters(), lr=0.1)
    before = [p.data for p in model.parameters()]
    try:
        fit(model, X4, y4, optimizer=opt, lr=math.inf, progress=False)
    finally:
        assert opt.lr == 0.1 and [p.data for p in model.parameters()] == before


def steps_as_numpy_int(tmp_path):
    return len(fit(MLP(3, [1]), X4, y4, steps=np.int64(3), progress=False))


def checkpoint_changed(change, text_change=None):
    """Load a checkpoint written by fit(), changed by `change` (its checksum made to match)."""
    def load(tmp_path):
        path = tmp_path / 'ck.json'
        model = MLP(2, [4, 1])
        fit(model, [[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]], [1, -1, 1], loss='hinge', steps=3,
            optimizer=Adam(model.parameters()), progress=False, checkpoint=path)
        document = json.loads(path.read_text())
        change(document)
        text = checkpoint._text(document)
        path.write_text(text_change(text) if text_change else text)
        return MLP.load(path)
    return load


def change_a_digit(text):
    start = text.index('"parameters": [') + len('"parameters": [')
    digit = next(i for i in range(start + 12, len(text)) if text[i].isdigit())
    return text[:digit] + str((int(text[digit]) + 1) % 10) + text[digit + 1:]


def describe_a_huge_model(document):
    document['model'].update(nin=100_000, nouts=[100_000, 1])


a, b = Value(1.0), Value(2.0)
X4, y4 = day5()

CASES = {
    'value-text': (lambda t: Value('1.0'), raises(TypeError, "got str: '1.0'")),
    'value-none': (lambda t: Value(None), raises(TypeError, 'got NoneType')),
    'value-complex': (lambda t: Value(1 + 2j), raises(TypeError, 'got complex')),
    'value-list': (lambda t: Value([1.0]), raises(TypeError, 'got list')),
    'value-huge-int': (lambda t: Value(1.0) + 10**400, raises(ValueError, r'integer too large for a float: 10000000000000000000\.\.\. \(401 digits\)')),
    'value-nested': (lambda t: Value(Value(1.0)), raises(TypeError, 'got a Value.*use that Value itself')),
    'value-numpy-bool': (lambda t: Value(np.bool_(True)).data, equals(1.0)),
    'fit-loss-float': (lambda t: fit(MLP(3, [1]), X4, y4, loss=lambda p, y: 1.0, progress=False), raises(TypeError, r'the loss function must return a Value computed from the predictions .* got float: 1.0')),
    'check-timeout-zero': (cli('check', '--timeout', '0', 'x.py'), ('cli', 2, r"argument --timeout: the time limit must be a positive, finite number of seconds; got '0'")),
    'op-text': (lambda t: Value(1.0) + 'a', raises(TypeError, "'Value' and 'str'")),
    'exponent-text': (lambda t: Value(2.0) ** 'k', raises(TypeError, "'Value' and 'str'")),
    'exponent-list': (lambda t: Value(2.0) ** [1], raises(TypeError, "'Value' and 'list'")),
    'log-negative': (lambda t: Value(-1.0).log().data, equals(math.nan)),
    'log-zero': (lambda t: Value(0.0).log().data, equals(-math.inf)),
    'divide-zero': (lambda t: (1 / Value(0.0)).data, equals(math.inf)),
    'exp-overflow': (lambda t: Value(1000.0).exp().data, equals(math.inf)),
    'input-length': (lambda t: Neuron(3)([2.0, 3.0]), raises(ValueError, r'Neuron expects 3 inputs, got 2: \[2.0, 3.0\]')),
    'layer-size-zero': (lambda t: MLP(3, [4, 0]), raises(ValueError, 'each layer size in nouts must be a whole number >= 1, got 0')),
    'layer-size-negative': (lambda t: MLP(-3, [4]), raises(ValueError, r'nin \(number of inputs\) must be a whole number >= 1, got -3')),
    'nouts-empty': (lambda t: MLP(3, []), raises(ValueError, r'nouts must be a non-empty list of layer sizes, such as \[4, 4, 1\]; got \[\]')),
    'activation': (lambda t: MLP(3, [4, 1], act='gelu'), raises(ValueError, "act must be one of 'tanh', 'relu', 'sigmoid', 'linear'; got 'gelu'")),
    'hinge-labels': (lambda t: hinge([a, b], [0, 1]), raises(ValueError, 'labels must be \\+1 or -1, got 0 at index 0; map 0/1 labels')),
    'bce-targets': (lambda t: binary_cross_entropy([a], [2.0]), raises(ValueError, 'probabilities from 0 to 1, got 2.0 at index 0')),
    'class-range': (lambda t: cross_entropy([[a, b]], [2]), raises(ValueError, 'class 2 at index 0 is out of range for 2 classes')),
    'class-type': (lambda t: cross_entropy([[a, b]], [0.5]), raises(TypeError, 'must be an integer, got float 0.5')),
    'loss-lengths': (lambda t: mse([a], [1.0, 2.0]), raises(ValueError, '1 predictions but 2 targets')),
    'xy-lengths': (lambda t: fit(MLP(3, [1]), X4, y4[:2], progress=False), raises(DataError, 'X has 4 samples but y has 2')),
    'dataset-empty': (lambda t: fit(MLP(3, [1]), [], [], progress=False), raises(DataError, 'the dataset is empty')),
    'row-length': (lambda t: fit(MLP(2, [1]), [[1, 2], [1]], [1, -1], progress=False), raises(DataError, r'X\[1\] has 1 features, expected 2 like X\[0\]')),
    'row-text': (lambda t: fit(MLP(2, [1]), [[1, 'x']], [1], progress=False), raises(DataError, r"X\[0\]\[1\] is not a number: 'x'")),
    'csv-ragged': (lambda t: load_csv(csv_file(t, 'a,b,y\n1,2,0\n3,1\n')), raises(DataError, 'data.csv, line 3 has 2 columns; the header has 3')),
    'csv-missing': (lambda t: load_csv(csv_file(t, 'a,b,y\n1,2,0\n3,,1\n')), raises(DataError, r"data.csv, line 3, column 2 \('b'\): missing value")),
    'csv-text': (lambda t: load_csv(csv_file(t, 'a,b,y\n1,2,0\n3,x,1\n')), raises(DataError, r"data.csv, line 3, column 2 \('b'\): 'x' is not a number")),
    'lr-negative': (lambda t: SGD([a], lr=-1), raises(ValueError, 'SGD: lr must be a finite number >= 0, got -1')),
    'diverging': (diverge, raises(TrainingError, r'step \d+: the (loss|gradient).*\(not finite\).*keeps its parameters.*smaller learning rate')),
    'checkpoint-truncated': (truncated_checkpoint, raises(CheckpointError, 'm.json: not valid JSON at line .*truncated or corrupted')),
    'checkpoint-architecture': (resume_other_architecture, raises(CheckpointError, r'nouts=\[4, 1\].*not a MLP.*nouts=\[5, 1\]')),
    'out-unwritable': (unwritable_out, ('cli', 1, 'cannot write to the output folder .*choose another with --out')),
    'cli-unknown-command': (cli('nosuch'), ('cli', 2, "invalid choice: 'nosuch'")),
    'cli-bad-number': (cli('train', '--steps', 'ten'), ('cli', 2, "argument --steps: invalid int value: 'ten'")),
    'cli-bad-choice': (cli('train', '--loss', 'l1'), ('cli', 2, "argument --loss: invalid choice: 'l1'")),
    'check-report-suffix': (check_a_file('--report', 'grades.xlsx'), ('cli', 1, r"--report grades.xlsx: the grades are written as .csv or .html; give a file name that ends in one of them, such as grades.csv")),
    'check-memory-range': (check_a_file('--memory', '99999999999999'), ('cli', 1, r"--memory must be a whole number of MiB from 64 to 134217728 \(128 TiB\); got 99999999999999")),
    'cli-no-dataset': (cli('train', '--dataset', 'nosuch'), ('cli', 1, "no dataset 'nosuch': give a CSV file or one of day5, exercise_2d, moons")),
    'cli-bad-formula': (cli('graph', 'tanh(a +'), ('cli', 1, r"cannot read 'tanh\(a \+'")),
    # the playground's checks; tests/test_playground_browser.py shows each message on the page
    'playground-layers-zero': (lambda t: parse_settings({'layers': '0'}), raises(SettingsError, 'hidden layers: 0 is not possible here; give 1 to 6')),
    'playground-width': (lambda t: parse_settings({'widths': ['10000']}), raises(SettingsError, 'hidden layer 1: a width of 10,000 neurons is not possible here')),
    'playground-lr-text': (lambda t: parse_settings({'lr': 'fast'}), raises(SettingsError, "learning rate must be a number such as 0.1 or 1e-3, got 'fast'")),
    'playground-csv-ragged': (lambda t: read_csv('data.csv', b'a,b,y\n1,2,0\n3,1\n'), raises(SettingsError, 'data.csv, line 3 has 2 columns; the header has 3')),
    'playground-csv-too-big': (lambda t: read_csv('big.csv', b'1' * 1_000_001), raises(SettingsError, 'big.csv is 1,000,001 bytes; the playground takes CSV files up to 1,000,000 bytes')),
    'playground-dataset': (lambda t: parse_settings({'dataset': 'mnist'}), raises(SettingsError, "no dataset 'mnist': choose one of moons, circles, spiral, blobs, xor, day5, or upload a CSV file")),
    'state-dict-keys': (lambda t: MLP(2, [1]).load_state_dict({'0.weight': [[1.0, 2.0]]}), raises(ValueError, r"missing keys '0.bias' \(strict=False loads the keys that match\)")),
    'state-dict-shape': (lambda t: MLP(2, [3]).load_state_dict(MLP(2, [4]).state_dict()), raises(ValueError, r"'0.weight' is shape \(4, 2\) in the state dict, shape \(3, 2\) in the model")),
    'from-torch-layer': (dropout_from_torch, raises(TypeError, "layer 1 is a Dropout; tapegrad's MLP has Linear layers")),
    'csv-not-utf8': (latin1_csv, raises(DataError, r'data.csv, line 3: byte 0xe9 is not UTF-8 text; save the file as UTF-8')),
    'csv-underscore': (lambda t: load_csv(csv_file(t, 'a,b,y\n1,2,0\n1_0,1,1\n')), raises(DataError, r"data.csv, line 3, column 1 \('a'\): '1_0' is not a number; write it without '_'")),
    'csv-mixed-target': (lambda t: load_csv(csv_file(t, 'a,b,y\n1,2,cat\n4,5,6\n')), raises(DataError, r"line 3, column 3 \('y'\): '6' is a number, but the column's first value, line 2, is the class name 'cat'")),
    'fit-batch-size-zero': (lambda t: fit(MLP(3, [1]), X4, y4, batch_size=0, progress=False), raises(ValueError, r'fit: batch_size must be a whole number >= 1 or None \(the whole set\), got 0')),
    'fit-seed-none': (lambda t: fit(MLP(3, [1]), X4, y4, batch_size=2, seed=None, progress=False), raises(ValueError, r'fit: seed .* must be a whole number from 0 to 2\*\*32 - 1 \(4294967295\), got None')),
    'fit-l2-negative': (lambda t: fit(MLP(3, [1]), X4, y4, l2=-1, progress=False), raises(ValueError, 'fit: l2 must be a finite number >= 0, got -1')),
    'fit-lr-inf': (fit_lr_inf_keeps_the_optimizer, raises(ValueError, 'fit: lr must be a finite number >= 0, got inf')),
    'fit-steps-numpy': (steps_as_numpy_int, equals(3)),
    'cli-steps-zero': (cli('train', '--steps', '0'), ('cli', 1, '--steps must be a whole number >= 1, got 0')),
    'cli-batch-size': (cli('train', '--batch-size', '-5'), ('cli', 1, '--batch-size must be a whole number >= 1, got -5')),
    'cli-seed-negative': (cli('train', '--seed', '-1'), ('cli', 1, r'--seed must be a whole number from 0 to 2\*\*32 - 1 \(4294967295\), got -1')),
    'cli-lr-inf': (cli('train', '--lr', 'inf'), ('cli', 1, '--lr must be a finite number >= 0, got inf')),
    'cli-l2-negative': (cli('train', '--l2', '-1'), ('cli', 1, r'--l2 must be a finite number >= 0, got -1.0')),
    'cli-one-class': (train_on_csv('a,b,y\n1,2,yes\n3,4,yes\n'), ('cli', 1, "every target of data.csv is 'yes': a classifier needs at least two classes")),
    'cli-one-row': (train_on_csv('a,b,y\n1,2,0.5\n'), ('cli', 1, 'data.csv has 1 sample; training needs at least 2')),
    'cli-diverging': (cli('train', '--dataset', 'day5', '--act', 'relu'), ('cli', 1, r'training diverged: the loss grew from 45.06 at the first step to \S+ at the last; try a smaller --lr \(now 0.1\)')),
    'graph-long-sum': (cli('graph', '+'.join(['a'] * 3000), '--set', 'a=1'), ('cli', 1, 'makes 3,000 values; a drawing of more than 500 is unreadable')),
    'graph-deep-power': (cli('graph', '**'.join(['a'] * 5000), '--set', 'a=1'), ('cli', 1, 'makes 5,000 values; a drawing of more than 500 is unreadable')),
    'exercises-file': (exercises_into_a_file, ('cli', 1, r"cannot write to the output folder 'afile' \('afile' is a file\); choose another folder")),
    'out-proc': (cli('graph', 'a', '--set', 'a=1', '--out', '/proc/x.svg'), ('cli', 1, r"cannot write to the output folder '/proc' \(files cannot be made in '/proc'\); choose another with --out")),
    'disk-full': (lambda t: run_in(t, 'train', '--steps', '1', '--out', 'out', limit_file_size=2048), ('cli', 1, r"File too large: 'out/model.json'")),
    'checkpoint-huge-model': (checkpoint_changed(describe_a_huge_model), raises(CheckpointError, r'ck.json: describes a MLP\(nin=100000, nouts=\[100000, 1\].*\) with 10,000,200,001 parameters, but "parameters" holds 17')),
    'checkpoint-long-integer': (checkpoint_changed(lambda d: None, lambda text: re.sub(r'(?<="parameters": \[)[^,]+', '7' * 5000, text)), raises(CheckpointError, r'ck.json: "parameters\[0\]" is an integer of 5000 digits: not a number')),
    'checkpoint-deep': (checkpoint_changed(lambda d: None, lambda text: text.replace('"training": {', '"training": ' + '[' * 100_000 + ']' * 100_000 + ', "x": {')), raises(CheckpointError, r'ck.json: "training" is nested too deeply')),
    'checkpoint-setting': (checkpoint_changed(lambda d: d['model'].update(rng='x')), raises(CheckpointError, r'ck.json: "model.rng" is not a setting of MLP')),
    'checkpoint-class': (checkpoint_changed(lambda d: d.pop('class')), raises(CheckpointError, r'ck.json: "class" must name the model.s class, such as "MLP"; got null')),
    'checkpoint-optimizer-lr': (checkpoint_changed(lambda d: d['optimizer']['state'].update(lr='fast')), raises(CheckpointError, r'ck.json: "optimizer.state.lr" is "fast": not a number')),
    'checkpoint-step': (checkpoint_changed(lambda d: d['training'].update(step='x')), raises(CheckpointError, r'ck.json: "training.step" must be a whole number >= 0, got "x"')),
    'checkpoint-history': (checkpoint_changed(lambda d: d['training'].update(history=None)), raises(CheckpointError, r'ck.json: "training.history" must hold the lists loss, accuracy and lr, got null')),
    'checkpoint-checksum': (checkpoint_changed(lambda d: None, change_a_digit), raises(CheckpointError, r'ck.json: the checksum does not match the contents')),
    'cli-whole-number-targets': (train_on_csv('a,b,price\n' + ''.join(f'{i},{i % 7},{100 + 5 * i}\n' for i in range(30))), ('cli', 1, r'the targets of data.csv are whole numbers with 30 different values \(100, 105, 110, 115, 120, \.\.\.\): numbers to fit, or class labels\? give --loss mse for numbers \(such as prices or counts\), or --loss cross_entropy for 30 classes')),
    'csv-target-number': (lambda t: load_csv(csv_file(t, 'a,2019,y\n1,2,0\n3,4,1\n'), target='2019')[1][0], equals(2)),
    'playground-frames-zero': (cli('playground', '--export', 'p.html', '--frames', '0'), ('cli', 1, '--frames must be a whole number >= 1, got 0')),
    'graph-out-format': (cli('graph', 'a', '--set', 'a=1', '--out', 'g.txt'), ('cli', 1, r"cannot tell how to draw 'g.txt': give --out a file ending in .svg, .png or .pdf, such as --out g.svg")),
    'to-torch-dtype': (to_torch_with_a_numpy_dtype, raises(TypeError, r"to_torch: dtype must be a floating-point torch dtype such as torch.float64 \(the default\) or torch.float32, or its name, 'float64' or 'float32'; got <class 'numpy.float32'>")),
}


def test_the_table_and_the_cases_list_the_same_rows():
    ids = re.findall(r'^\| ([a-z0-9-]+) \|', DOC.read_text(), flags=re.MULTILINE)[1:]  # [0] is the header
    assert len(ids) == len(set(ids))
    assert set(ids) == set(CASES)


@pytest.mark.parametrize('row', list(CASES))
def test_bad_input(row, tmp_path):
    action, expected = CASES[row]
    if expected[0] == 'raises':
        _, error, pattern = expected
        with pytest.raises(error, match=pattern):
            action(tmp_path)
    elif expected[0] == 'equals':
        got = action(tmp_path)
        assert (math.isnan(got) and math.isnan(expected[1])) or got == expected[1]
    else:
        _, status, pattern = expected
        result = action(tmp_path)
        assert result.returncode == status, result.stderr
        assert 'Traceback' not in result.stderr
        assert re.search(pattern, result.stderr), result.stderr
        if status == 1:
            assert len(result.stderr.strip().splitlines()) == 1
