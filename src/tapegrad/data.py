"""Datasets for training: the seeds' toy sets, seeded generators, mini-batches and CSV files.

Everything speaks plain Python: X is a list of rows of floats, y a list of labels (ints)
or targets (floats); only `load_csv` returns NumPy arrays, so that a large file stays
compact (fit() takes either). The generators draw their random numbers exactly as
scikit-learn does, so `make_moons`, `make_circles` and `make_blobs` give the same floats
as `sklearn.datasets` for the same arguments, without depending on scikit-learn.

    >>> X, y = make_moons(n_samples=100, noise=0.1, random_state=1337)
    >>> len(X), len(X[0]), sorted(set(y))
    (100, 2, [0, 1])
"""

import codecs
import csv
import itertools
import math
import numbers
from array import array
from functools import partial
from pathlib import Path

import numpy as np

from . import validate
from .validate import DataError  # noqa: F401  (raised here; importable from here)


def _random_state(random_state):
    """None: NumPy's global generator (as scikit-learn does); an int: a new seeded one."""
    if random_state is None:
        return np.random.mtrand._rand
    if isinstance(random_state, np.random.RandomState):
        return random_state
    return np.random.RandomState(random_state)


# ----------------------------------------------------------------------------------
# The seeds' toy sets


def day5():
    """The Day 5 notebook's data: four samples of three features, targets +1/-1."""
    X = [[2.0, 3.0, -1.0],
         [3.0, -1.0, 0.5],
         [0.5, 1.0, 1.0],
         [1.0, 1.0, -1.0]]
    y = [1.0, -1.0, -1.0, 1.0]
    return X, y


def exercise_2d():
    """The exercise notebook's final example: four 2-D points, targets +1/-1."""
    X = [[2.0, 3.0],
         [1.0, -1.0],
         [-1.0, -2.0],
         [-2.0, 2.0]]
    y = [1.0, -1.0, -1.0, 1.0]
    return X, y


# ----------------------------------------------------------------------------------
# Generated sets (scikit-learn's draws, in scikit-learn's order)


def _shuffle_then_add_noise(X, y, rng, shuffle, noise):
    """The last two steps of scikit-learn's moons and circles, drawing as it does."""
    if shuffle:
        order = np.arange(len(X))
        rng.shuffle(order)
        X, y = X[order], y[order]
    if noise is not None:
        X = X + rng.normal(scale=noise, size=X.shape)
    return X.tolist(), y.tolist()


def _two_classes(points_0, points_1):
    """Stack two (xs, ys) point sets into X, with labels 0 and 1."""
    X = np.vstack([np.append(points_0[0], points_1[0]),
                   np.append(points_0[1], points_1[1])]).T
    y = np.hstack([np.zeros(len(points_0[0]), dtype=np.intp),
                   np.ones(len(points_1[0]), dtype=np.intp)])
    return X, y


def make_moons(n_samples=100, *, shuffle=True, noise=None, random_state=None):
    """Two interleaving half circles, labels 0 and 1: scikit-learn's make_moons, float for float.

    micrograd's demo calls `np.random.seed(1337)` and then `make_moons(n_samples=100,
    noise=0.1)`; `random_state=None` uses the same global generator, so it gets the same set.
    """
    n_out = n_samples // 2
    n_in = n_samples - n_out
    rng = _random_state(random_state)
    t_out = np.linspace(0, np.pi, n_out)
    t_in = np.linspace(0, np.pi, n_in)
    X, y = _two_classes((np.cos(t_out), np.sin(t_out)),
                        (1 - np.cos(t_in), 1 - np.sin(t_in) - 0.5))
    return _shuffle_then_add_noise(X, y, rng, shuffle, noise)


def make_circles(n_samples=100, *, shuffle=True, noise=None, random_state=None, factor=0.8):
    """A circle (label 0) around a smaller one (label 1): scikit-learn's make_circles.

    The inner circle's radius is `factor`; for an odd n_samples it has the extra point.
    """
    n_out = n_samples // 2
    n_in = n_samples - n_out
    rng = _random_state(random_state)
    # endpoint=False: the first point of a circle is also its last
    t_out = np.linspace(0, 2 * np.pi, n_out, endpoint=False)
    t_in = np.linspace(0, 2 * np.pi, n_in, endpoint=False)
    X, y = _two_classes((np.cos(t_out), np.sin(t_out)),
                        (np.cos(t_in) * factor, np.sin(t_in) * factor))
    return _shuffle_then_add_noise(X, y, rng, shuffle, noise)


def make_blobs(n_samples=100, n_features=2, *, centers=None, cluster_std=1.0,
               center_box=(-10.0, 10.0), shuffle=True, random_state=None):
    """Gaussian clusters labelled 0, 1, ...: scikit-learn's make_blobs for an int n_samples.

    `centers` is a number of centers (drawn uniformly in `center_box`; 3 when None) or a
    list of center points. `cluster_std` is one standard deviation or one per center. The
    samples are shared out evenly, the first clusters taking one more when it does not divide.
    """
    rng = _random_state(random_state)
    if centers is None:
        centers = 3
    if isinstance(centers, numbers.Integral):
        centers = rng.uniform(center_box[0], center_box[1], size=(centers, n_features))
    else:
        centers = np.asarray(centers, dtype=np.float64)
    n_centers, n_features = centers.shape
    if isinstance(cluster_std, numbers.Real):
        cluster_std = [cluster_std] * n_centers
    if len(cluster_std) != n_centers:
        raise ValueError(f"make_blobs: cluster_std needs one value per center ({n_centers}), "
                         f"got {len(cluster_std)}: {list(cluster_std)!r}")
    sizes = [n_samples // n_centers + (i < n_samples % n_centers) for i in range(n_centers)]
    X = np.vstack([rng.normal(loc=center, scale=std, size=(size, n_features))
                   for center, std, size in zip(centers, cluster_std, sizes)])
    y = np.repeat(np.arange(n_centers), sizes)
    return _shuffle_then_add_noise(X, y, rng, shuffle, noise=None)


def make_spiral(n_samples=300, n_classes=3, noise=0.2, random_state=None):
    """Interleaved spiral arms, one per class (labels 0, 1, ...): the CS231n spiral.

    Arm k holds n points at radius r = linspace(0, 1, n) and angle
    t = linspace(4k, 4(k + 1), n) + noise * (n standard normal draws), that is the points
    (r sin t, r cos t); the arms follow one another, unshuffled. The samples are shared
    out as in make_blobs. Not linearly separable: a small MLP needs its hidden layers.
    """
    rng = _random_state(random_state)
    X, y = [], []
    for k in range(n_classes):
        n = n_samples // n_classes + (k < n_samples % n_classes)
        r = np.linspace(0.0, 1, n)
        t = np.linspace(k * 4, (k + 1) * 4, n) + rng.randn(n) * noise
        X += np.column_stack([r * np.sin(t), r * np.cos(t)]).tolist()
        y += [k] * n
    return X, y


# The sets `tapegrad train --dataset NAME` knows, each sized for a demo that runs in seconds.
# 'moons' is micrograd's demo set (its np.random.seed(1337) then make_moons without a seed).
DATASETS = {
    'day5': day5,
    'exercise_2d': exercise_2d,
    'moons': partial(make_moons, n_samples=100, noise=0.1, random_state=1337),
    'circles': partial(make_circles, n_samples=100, noise=0.05, factor=0.5, random_state=1337),
    'blobs': partial(make_blobs, n_samples=150, centers=3, random_state=1337),
    'spiral': partial(make_spiral, n_samples=150, n_classes=3, noise=0.2, random_state=1337),
}


# ----------------------------------------------------------------------------------
# Mini-batches


def _check_same_length(X, y):
    if len(X) != len(y):
        raise DataError(f"X has {len(X)} samples but y has {len(y)}; they must pair up one to one")


def batches(X, y, batch_size, shuffle=True, random_state=None):
    """One epoch: yield (X_batch, y_batch) pairs that cover every sample exactly once.

    The last batch is smaller when batch_size does not divide the set. With shuffle the
    order is one `permutation` draw from `random_state` (an int gives the same order every
    epoch; pass a np.random.RandomState to get a fresh order each epoch). batch_size=None
    yields the whole set once, in order, drawing nothing.
    """
    _check_same_length(X, y)
    if validate.batch_size('batches: batch_size', batch_size) is None:
        yield list(X), list(y)
        return
    order = list(range(len(X)))
    if shuffle:
        order = _random_state(random_state).permutation(len(X)).tolist()
    for start in range(0, len(order), batch_size):
        chosen = order[start:start + batch_size]
        yield [X[i] for i in chosen], [y[i] for i in chosen]


def sample_batch(X, y, batch_size, random_state=None):
    """A random batch drawn as micrograd's demo draws it: `permutation(len(X))[:batch_size]`.

    With random_state=None this uses NumPy's global generator, like the demo's
    `np.random.permutation`, so after the same `np.random.seed` the batches are the same.
    batch_size=None is the whole set, in order, drawing nothing (the demo's full batch).
    """
    _check_same_length(X, y)
    if validate.batch_size('sample_batch: batch_size', batch_size) is None:
        return list(X), list(y)
    chosen = _random_state(random_state).permutation(len(X))[:batch_size].tolist()
    return [X[i] for i in chosen], [y[i] for i in chosen]


# ----------------------------------------------------------------------------------
# CSV files


def load_csv(path, target=None, header='auto'):
    """Read a comma-separated file: returns (X, y, feature_names).

    X is a NumPy array of floats, one row a sample: 8 bytes a number, so a file of a
    million rows loads in seconds into about the memory its numbers take. `target` is the
    target column's name or its index (0-based; negative counts from the end); None means
    the last column. Text written as an integer ('2019', '-1') is a column's name when the
    header has that name, and an index otherwise (the command line's --target is text).
    The target column holds numbers or class names, not both: y is an array of ints when
    the numbers are all whole (class labels, or counts and prices: the caller decides), of
    floats otherwise, and of str for names such as `yes`/`no` (an object array).

    `header` is True, False, or 'auto': the first row is a header when one of its feature
    cells is not a number. Without a header the columns are named 'column 1', 'column 2',
    ... . Blank lines are skipped. Numbers are written as decimals (`1.5`, `-2e-3`; `1_0`
    is not one). Anything else raises DataError naming the file, line, column and value.
    """
    if header not in (True, False, 'auto'):
        raise ValueError(f"load_csv: header must be True, False or 'auto', got {header!r}")
    try:
        with open(path, newline='', encoding='utf-8-sig') as file:
            return _read_csv(path, csv.reader(file), target, header)
    except UnicodeDecodeError:
        raise DataError(_not_utf8(path)) from None


def _read_csv(path, reader, target, header):
    # (line number, cells) for each non-blank row; line_num counts the lines read so far
    rows = ((reader.line_num, row) for row in reader if ''.join(row).strip())
    first = next(rows, None)
    if first is None:
        raise DataError(f"{path} is empty: expected rows of comma-separated numbers")
    target = _name_or_index(target, first[1], header)
    if header == 'auto':  # a class name in the target column (when known) makes no header
        target_cell = len(first[1]) - 1 if target is None else target
        header = any(_number(cell) is None for k, cell in enumerate(first[1])
                     if isinstance(target_cell, str) or k != target_cell % len(first[1]))
    if header:
        names = [cell.strip() for cell in first[1]]
        width, what_sets_width = len(names), 'the header has'
    else:
        rows = itertools.chain([first], rows)
        width, what_sets_width = len(first[1]), f'line {first[0]} has'
        names = [f'column {k}' for k in range(1, width + 1)]
    if width < 2:
        raise DataError(f"{path} has {width} column; expected feature columns and a target column")
    target_index = _target_index(path, names, target)
    feature_columns = [k for k in range(width) if k != target_index]

    def cell_number(line, row, k):
        value = _number(row[k])
        if value is None or not math.isfinite(value):
            raise DataError(_not_a_number(path, names if header else None, line, k, row[k]))
        return value

    features = array('d')
    targets = _TargetColumn(path, names if header else None, target_index)
    for line, row in rows:
        if len(row) != width:
            raise DataError(f"{path}, line {line} has {len(row)} columns; "
                            f"{what_sets_width} {width}")
        for k in feature_columns:
            features.append(cell_number(line, row, k))
        targets.add(line, row[target_index])
    if not features:
        raise DataError(f"{path} has a header but no data rows")
    X = np.frombuffer(features, dtype=np.float64).reshape(-1, len(feature_columns))
    return X, targets.array(), [names[k] for k in feature_columns]


class _TargetColumn:
    """The target cells, kept as numbers or as class names (whichever the first one is)."""

    def __init__(self, path, names, index):
        self.path, self.names, self.index = path, names, index
        self.first = None   # (line, text, is it a number?) of the first: numbers or names
        self.numbers = array('d')
        self.codes = array('q')        # for names: the position of each one in self.classes
        self.classes = {}

    def add(self, line, cell):
        value = _number(cell)
        if self.first is None:
            self.first = (line, cell.strip(), value is not None)
        line_1, cell_1, numbers = self.first
        if numbers and value is not None and math.isfinite(value):
            self.numbers.append(value)
            return
        if not numbers and value is None and cell.strip():
            self.codes.append(self.classes.setdefault(cell.strip(), len(self.classes)))
            return
        problem = _not_a_number(self.path, self.names, line, self.index, cell)
        if numbers and cell.strip() and value is None:
            problem += (f"; the column's first value, line {line_1}, is the number {cell_1}: "
                        f"it holds numbers or class names, not both")
        elif not numbers and value is not None:
            problem = (f"{_where(self.path, self.names, line, self.index)}: {cell.strip()!r} is a "
                       f"number, but the column's first value, line {line_1}, is the class name "
                       f"{cell_1!r}: it holds numbers or class names, not both")
        raise DataError(problem)

    def array(self):
        if not self.first[2]:
            return np.array(list(self.classes), dtype=object)[np.frombuffer(self.codes, dtype=np.int64)]
        y = np.frombuffer(self.numbers, dtype=np.float64)
        whole = np.all(np.abs(y) <= 2 ** 53) and np.all(y == np.floor(y))
        return y.astype(np.int64) if whole else y


def _number(cell):
    """The number written in a cell, or None when it does not hold one (nan and inf do)."""
    text = cell.strip()
    if not text.isascii() or '_' in text:  # float() also reads '1_0' and other scripts' digits
        return None
    try:
        return float(text)
    except ValueError:
        return None


def _where(path, names, line, k):
    return f"{path}, line {line}, column {k + 1}" + (f" ({names[k]!r})" if names else "")


def _not_a_number(path, names, line, k, cell):
    where = _where(path, names, line, k)
    text = cell.strip()
    if not text:
        return f"{where}: missing value (an empty cell)"
    if _number(cell) is not None:
        return f"{where}: {text!r} is not a finite number"
    if '_' in text and _number(text.replace('_', '')) is not None:
        return f"{where}: {text!r} is not a number; write it without '_'"
    return f"{where}: {text!r} is not a number"


def _not_utf8(path):
    """Where a file stops being UTF-8 text, for the error message."""
    raw = Path(path).read_bytes()
    start = len(codecs.BOM_UTF8) if raw.startswith(codecs.BOM_UTF8) else 0
    try:
        raw[start:].decode('utf-8')
        return f"{path} is not UTF-8 text"
    except UnicodeDecodeError as error:
        at = start + error.start
    line = raw.count(b'\n', 0, at) + 1
    return (f"{path}, line {line}: byte 0x{raw[at]:02x} is not UTF-8 text; save the file as "
            f"UTF-8 (in a spreadsheet, as \"CSV UTF-8\")")


def _name_or_index(target, first_row, header):
    """A target written as an integer ('2019', '-1'): the header's name if it has that
    name, else the index. Other targets are returned as they are."""
    if not isinstance(target, str):
        return target
    digits = target[1:] if target.startswith('-') else target
    if not (digits.isascii() and digits.isdigit()):
        return target
    cells = [cell.strip() for cell in first_row]
    has_header = header is True or (header == 'auto' and any(_number(cell) is None for cell in cells))
    return target if has_header and target in cells else int(target)


def _target_index(path, names, target):
    """The 0-based index of the target column, from a name, an index or None (the last)."""
    if target is None:
        return len(names) - 1
    if isinstance(target, str):
        if target in names:
            return names.index(target)
        raise DataError(f"{path} has no column {target!r}; its columns are: "
                        f"{', '.join(map(repr, names))}")
    if isinstance(target, numbers.Integral) and not isinstance(target, bool):
        if -len(names) <= target < len(names):
            return target % len(names)
        raise DataError(f"{path} has no column index {target}; it has {len(names)} columns "
                        f"(indices 0 to {len(names) - 1}): {', '.join(map(repr, names))}")
    raise TypeError(f"load_csv: target must be a column name, an index or None, got {target!r}")


# ----------------------------------------------------------------------------------
# Checking a dataset before training


def check_dataset(X, y):
    """Check X and y before training; return (n_samples, n_features).

    X must be a non-empty list (or 2-D array) of rows of equal length holding finite
    numbers, and y one finite number per row. The first problem found raises DataError
    (a ValueError) with its position and value.
    """
    if len(X) == 0:
        raise DataError("the dataset is empty: X has no samples")
    _check_same_length(X, y)
    if _numeric_array(X, ndim=2):
        n_features = X.shape[1]
        if n_features == 0:
            raise DataError("X[0] is an empty row: each sample needs at least one feature")
        _first_not_finite('X', X)
    else:
        n_features = _check_rows(X)
    if _numeric_array(y, ndim=1):
        _first_not_finite('y', y)
    else:
        for i, value in enumerate(y):
            validate.data_value(f"y[{i}]", value)
    return len(X), n_features


def _numeric_array(a, ndim):
    return isinstance(a, np.ndarray) and a.ndim == ndim and a.dtype.kind in 'fiu'


def _first_not_finite(name, a):
    """Raise DataError naming the first value of array `a` that is not finite, if any."""
    bad = ~np.isfinite(a)
    if bad.any():
        position = np.argwhere(bad)[0].tolist()
        validate.data_value(name + ''.join(f'[{i}]' for i in position), a[tuple(position)].item())


def _check_rows(X):
    """n_features of a list of rows, each checked value by value."""
    n_features = None
    for i, row in enumerate(X):
        if isinstance(row, str) or not hasattr(row, '__len__'):
            raise DataError(f"X[{i}] should be a row of numbers, got {row!r}; "
                            f"X is a list of rows, e.g. [[2.0, 3.0], [1.0, -1.0]]")
        if n_features is None:
            n_features = len(row)
            if n_features == 0:
                raise DataError("X[0] is an empty row: each sample needs at least one feature")
        elif len(row) != n_features:
            raise DataError(f"X[{i}] has {len(row)} features, expected {n_features} like X[0]")
        for j, value in enumerate(row):
            validate.data_value(f"X[{i}][{j}]", value)
    return n_features
