"""Datasets for training: the seeds' toy sets, seeded generators, mini-batches and CSV files.

Everything speaks plain Python: X is a list of rows of floats, y a list of labels (ints)
or targets (floats). The generators draw their random numbers exactly as scikit-learn
does, so `make_moons`, `make_circles` and `make_blobs` give the same floats as
`sklearn.datasets` for the same arguments, without depending on scikit-learn.

    >>> X, y = make_moons(n_samples=100, noise=0.1, random_state=1337)
    >>> len(X), len(X[0]), sorted(set(y))
    (100, 2, [0, 1])
"""

import csv
import math
import numbers
from functools import partial

import numpy as np


class DataError(ValueError):
    """A dataset that cannot be used: the message says where it is wrong and with what value."""


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


def _check_batch_size(batch_size):
    whole_number = isinstance(batch_size, numbers.Integral) and not isinstance(batch_size, bool)
    if not whole_number or batch_size < 1:
        raise ValueError(f"batch_size must be a positive whole number or None (the whole set), "
                         f"got {batch_size!r}")


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
    if batch_size is None:
        yield list(X), list(y)
        return
    _check_batch_size(batch_size)
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
    if batch_size is None:
        return list(X), list(y)
    _check_batch_size(batch_size)
    chosen = _random_state(random_state).permutation(len(X))[:batch_size].tolist()
    return [X[i] for i in chosen], [y[i] for i in chosen]


# ----------------------------------------------------------------------------------
# CSV files


def _is_number(text):
    try:
        float(text)
    except ValueError:
        return False
    return True


def load_csv(path, target=None, header='auto'):
    """Read a comma-separated file of numbers: returns (X, y, feature_names).

    `target` is the target column's name or its index (0-based; negative counts from the
    end); None means the last column. `header` is True, False, or 'auto': the first row is
    a header when one of its cells is not a number. Without a header the columns are
    named 'column 1', 'column 2', ... . Targets that are all whole numbers come back as
    ints (class labels), otherwise as floats. Blank lines are skipped. Anything else that
    is not a finite number raises DataError naming the file, line, column and value.
    """
    with open(path, newline='', encoding='utf-8-sig') as f:
        reader = csv.reader(f)
        # (line number, cells) for each non-blank row; line_num counts lines read so far
        rows = [(reader.line_num, row) for row in reader if any(cell.strip() for cell in row)]
    if not rows:
        raise DataError(f"{path} is empty: expected rows of comma-separated numbers")
    if header not in (True, False, 'auto'):
        raise ValueError(f"load_csv: header must be True, False or 'auto', got {header!r}")
    if header == 'auto':
        header = not all(_is_number(cell) for cell in rows[0][1])
    if header:
        names = [cell.strip() for cell in rows[0][1]]
        rows = rows[1:]
        if not rows:
            raise DataError(f"{path} has a header but no data rows")
        width, what_sets_width = len(names), 'the header has'
    else:
        width, what_sets_width = len(rows[0][1]), f'line {rows[0][0]} has'
        names = [f'column {k}' for k in range(1, width + 1)]
    if width < 2:
        raise DataError(f"{path} has {width} column; expected feature columns and a target column")

    target_index = _target_index(path, names, target)

    def where(line, k):
        column = f"column {k + 1} ({names[k]!r})" if header else f"column {k + 1}"
        return f"{path}, line {line}, {column}"

    table = []
    for line, row in rows:
        if len(row) != width:
            raise DataError(f"{path}, line {line} has {len(row)} columns; "
                            f"{what_sets_width} {width}")
        numbers_in_row = []
        for k, cell in enumerate(row):
            if not cell.strip():
                raise DataError(f"{where(line, k)}: missing value (an empty cell)")
            try:
                value = float(cell)
            except ValueError:
                raise DataError(f"{where(line, k)}: {cell.strip()!r} is not a number") from None
            if not math.isfinite(value):
                raise DataError(f"{where(line, k)}: {cell.strip()!r} is not a finite number")
            numbers_in_row.append(value)
        table.append(numbers_in_row)

    X = [[v for k, v in enumerate(row) if k != target_index] for row in table]
    y = [row[target_index] for row in table]
    if all(v.is_integer() for v in y):
        y = [int(v) for v in y]
    feature_names = [name for k, name in enumerate(names) if k != target_index]
    return X, y, feature_names


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

    X must be a non-empty list of rows of equal length holding finite numbers, and y one
    finite number per row. The first problem found raises DataError (a ValueError) with
    its position and value.
    """
    if len(X) == 0:
        raise DataError("the dataset is empty: X has no samples")
    _check_same_length(X, y)
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
            _check_number(f"X[{i}][{j}]", value)
    for i, value in enumerate(y):
        _check_number(f"y[{i}]", value)
    return len(X), n_features


def _check_number(where, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise DataError(f"{where} is not a number: {value!r}; datasets hold plain ints and floats")
    if not math.isfinite(value):
        raise DataError(f"{where} is not finite: {value!r}")
