"""tapegrad.data against scikit-learn, NumPy and the published formulas it reproduces."""

import math

import numpy as np
import pytest
import sklearn.datasets

from tapegrad.data import (DATASETS, DataError, batches, check_dataset, day5, exercise_2d,
                           load_csv, make_blobs, make_circles, make_moons, make_spiral,
                           sample_batch)


def assert_bit_identical(ours, theirs):
    """Our (X, y) lists hold exactly scikit-learn's floats and labels, as Python numbers."""
    (X, y), (X_ref, y_ref) = ours, theirs
    assert np.array(X).shape == X_ref.shape
    assert np.array_equal(np.array(X), X_ref)  # == on floats: bit for bit (no nan here)
    assert np.array_equal(np.array(y), y_ref)
    assert all(type(v) is float for row in X for v in row)
    assert all(type(label) is int for label in y)


# ----------------------------------------------------------------------------------
# The seeds' toy sets


def test_seed_toy_sets_are_the_notebooks_data():
    assert day5() == ([[2.0, 3.0, -1.0], [3.0, -1.0, 0.5], [0.5, 1.0, 1.0], [1.0, 1.0, -1.0]],
                      [1.0, -1.0, -1.0, 1.0])
    assert exercise_2d() == ([[2.0, 3.0], [1.0, -1.0], [-1.0, -2.0], [-2.0, 2.0]],
                             [1.0, -1.0, -1.0, 1.0])


# ----------------------------------------------------------------------------------
# Generators against scikit-learn


@pytest.mark.parametrize('kwargs', [
    dict(n_samples=100, noise=0.1, random_state=1337),
    dict(n_samples=101, noise=0.3, random_state=0),
    dict(n_samples=7, noise=None, random_state=5),
    dict(n_samples=40, noise=0.2, random_state=3, shuffle=False),
    dict(n_samples=2, shuffle=False),
])
def test_make_moons_matches_sklearn(kwargs):
    assert_bit_identical(make_moons(**kwargs), sklearn.datasets.make_moons(**kwargs))


@pytest.mark.parametrize('kwargs', [
    dict(n_samples=100, random_state=0),
    dict(n_samples=101, noise=0.05, factor=0.5, random_state=42),
    dict(n_samples=9, noise=0.2, factor=0.1, random_state=7, shuffle=False),
    dict(n_samples=30, factor=0.0, shuffle=False),
])
def test_make_circles_matches_sklearn(kwargs):
    assert_bit_identical(make_circles(**kwargs), sklearn.datasets.make_circles(**kwargs))


@pytest.mark.parametrize('kwargs', [
    dict(n_samples=100, random_state=0),
    dict(n_samples=10, centers=3, n_features=2, random_state=0),
    dict(n_samples=101, centers=4, n_features=3, cluster_std=0.5, random_state=42),
    dict(n_samples=50, centers=[[0.0, 0.0], [3.0, 3.0]], cluster_std=[0.5, 2.0], random_state=1),
    dict(n_samples=31, centers=5, center_box=(-1.0, 1.0), shuffle=False, random_state=9),
    dict(n_samples=20, centers=[[1.0, 2.0, 3.0]], random_state=2),
])
def test_make_blobs_matches_sklearn(kwargs):
    assert_bit_identical(make_blobs(**kwargs), sklearn.datasets.make_blobs(**kwargs))


@pytest.mark.parametrize('ours, theirs, kwargs', [
    (make_moons, sklearn.datasets.make_moons, dict(n_samples=100, noise=0.1)),
    (make_circles, sklearn.datasets.make_circles, dict(n_samples=50, noise=0.1)),
    (make_blobs, sklearn.datasets.make_blobs, dict(n_samples=60, centers=3)),
])
def test_without_random_state_the_global_numpy_generator_is_used(ours, theirs, kwargs):
    # micrograd's demo: np.random.seed(1337), then make_moons without a random_state
    # Two calls in a row: the second shows we advance the global generator as sklearn does.
    np.random.seed(1337)
    first, second = ours(**kwargs), ours(**kwargs)
    np.random.seed(1337)
    assert_bit_identical(first, theirs(**kwargs))
    assert_bit_identical(second, theirs(**kwargs))


def test_a_randomstate_instance_is_drawn_from_in_turn():
    ours, theirs = np.random.RandomState(4), np.random.RandomState(4)
    for _ in range(2):
        assert_bit_identical(make_moons(n_samples=20, noise=0.1, random_state=ours),
                             sklearn.datasets.make_moons(n_samples=20, noise=0.1,
                                                         random_state=theirs))


def test_make_blobs_rejects_a_cluster_std_per_center_of_the_wrong_length():
    with pytest.raises(ValueError, match=r"one value per center \(3\), got 2: \[1.0, 2.0\]"):
        make_blobs(n_samples=10, centers=3, cluster_std=[1.0, 2.0])


def cs231n_spiral(points_per_class, n_classes, noise, seed):
    """The CS231n course notes' spiral, as written there (global NumPy generator)."""
    np.random.seed(seed)
    X = np.zeros((points_per_class * n_classes, 2))
    y = np.zeros(points_per_class * n_classes, dtype='uint8')
    for j in range(n_classes):
        ix = range(points_per_class * j, points_per_class * (j + 1))
        r = np.linspace(0.0, 1, points_per_class)
        t = (np.linspace(j * 4, (j + 1) * 4, points_per_class)
             + np.random.randn(points_per_class) * noise)
        X[ix] = np.c_[r * np.sin(t), r * np.cos(t)]
        y[ix] = j
    return X, y


@pytest.mark.parametrize('per_class, n_classes, noise, seed', [(100, 3, 0.2, 0), (17, 5, 0.5, 3)])
def test_make_spiral_is_the_cs231n_spiral(per_class, n_classes, noise, seed):
    X_ref, y_ref = cs231n_spiral(per_class, n_classes, noise, seed)
    X, y = make_spiral(per_class * n_classes, n_classes, noise, random_state=seed)
    assert_bit_identical((X, y), (X_ref, y_ref))


def test_make_spiral_shares_out_uneven_sizes_and_follows_its_formula_without_noise():
    X, y = make_spiral(10, 3, noise=0.0)
    assert y == [0, 0, 0, 0, 1, 1, 1, 2, 2, 2]
    # class 1 has 3 points: radii 0, 0.5, 1 at angles 4, 6, 8
    for (x0, x1), r, t in zip(X[4:7], [0.0, 0.5, 1.0], [4.0, 6.0, 8.0]):
        assert x0 == pytest.approx(r * math.sin(t), abs=1e-15)
        assert x1 == pytest.approx(r * math.cos(t), abs=1e-15)


def test_every_named_dataset_is_ready_to_train_and_moons_is_micrograds_demo_set():
    for name, make in DATASETS.items():
        X, y = make()
        n_samples, n_features = check_dataset(X, y)
        assert n_samples >= 4 and n_features >= 2, name
    np.random.seed(1337)
    micrograds_moons = sklearn.datasets.make_moons(n_samples=100, noise=0.1)
    assert_bit_identical(DATASETS['moons'](), micrograds_moons)
    assert DATASETS['day5']() == day5()
    assert DATASETS['exercise_2d']() == exercise_2d()


# ----------------------------------------------------------------------------------
# Mini-batches


def numbered_set(n):
    """Rows that say which sample they are, so batches can be traced back."""
    return [[float(i), -float(i)] for i in range(n)], list(range(n))


@pytest.mark.parametrize('n, batch_size', [(10, 3), (10, 5), (7, 1), (5, 8)])
def test_batches_cover_every_sample_exactly_once(n, batch_size):
    X, y = numbered_set(n)
    pairs = list(batches(X, y, batch_size, random_state=0))
    sizes = [len(xb) for xb, _ in pairs]
    assert sizes == [batch_size] * (n // batch_size) + ([n % batch_size] if n % batch_size else [])
    seen = [label for xb, yb in pairs for row, label in zip(xb, yb) if row == X[label]]
    assert sorted(seen) == list(range(n))


def test_batches_follow_numpy_permutation_and_are_reproducible():
    X, y = numbered_set(20)
    seen = [label for _, yb in batches(X, y, 6, random_state=11) for label in yb]
    assert seen == np.random.RandomState(11).permutation(20).tolist()
    assert list(batches(X, y, 6, random_state=11)) == list(batches(X, y, 6, random_state=11))
    assert list(batches(X, y, 6, random_state=11)) != list(batches(X, y, 6, random_state=12))
    # a RandomState gives a new order each epoch
    rng = np.random.RandomState(11)
    assert list(batches(X, y, 6, random_state=rng)) != list(batches(X, y, 6, random_state=rng))


def test_batches_in_order_and_whole_set():
    X, y = numbered_set(5)
    assert [yb for _, yb in batches(X, y, 2, shuffle=False)] == [[0, 1], [2, 3], [4]]
    np.random.seed(3)
    before = np.random.get_state()[1].copy()
    assert list(batches(X, y, None)) == [(X, y)]
    assert np.array_equal(np.random.get_state()[1], before)  # nothing drawn


@pytest.mark.parametrize('batch_size', [0, -2, 2.5, True, '4'])
def test_batches_reject_a_bad_batch_size(batch_size):
    X, y = numbered_set(5)
    expected = f"batch_size must be a whole number >= 1 or None.*{batch_size!r}"
    with pytest.raises(ValueError, match=expected):
        list(batches(X, y, batch_size))
    with pytest.raises(ValueError, match="batch_size must be a whole number >= 1 or None"):
        sample_batch(X, y, batch_size)


def test_sample_batch_draws_as_micrograds_demo():
    X, y = numbered_set(100)
    X_np, y_np = np.array(X), np.array(y)
    np.random.seed(1337)
    ours = [sample_batch(X, y, 32) for _ in range(3)]
    np.random.seed(1337)
    for Xb, yb in ours:
        ri = np.random.permutation(X_np.shape[0])[:32]  # the demo's line
        assert Xb == X_np[ri].tolist() and yb == y_np[ri].tolist()
    Xb, yb = sample_batch(X, y, 10, random_state=5)
    assert yb == np.random.RandomState(5).permutation(100)[:10].tolist()
    assert sample_batch(X, y, None) == (X, y)


def test_batches_need_x_and_y_of_the_same_length():
    with pytest.raises(DataError, match="X has 3 samples but y has 2"):
        list(batches([[1.0]] * 3, [0, 1], 2))


# ----------------------------------------------------------------------------------
# CSV files


def write(tmp_path, text, name='data.csv'):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_load_csv_with_a_header_matches_numpy(tmp_path):
    path = write(tmp_path, "x1, x2,label\n0.5,-1e-3,1\n2,3.25,0\n\n-7,8e2,1\n")
    X, y, names = load_csv(path)
    table = np.loadtxt(path, delimiter=',', skiprows=1)
    assert X.dtype == np.float64 and np.array_equal(X, table[:, :2])
    assert y.dtype == np.int64 and np.array_equal(y, table[:, 2])
    assert names == ['x1', 'x2']


def test_load_csv_without_a_header_and_target_by_name_or_index(tmp_path):
    path = write(tmp_path, "1.5,2,0.25\n3,4.5,-1.75\n")
    table = np.loadtxt(path, delimiter=',')
    X, y, names = load_csv(path)
    assert np.array_equal(X, table[:, :2]) and y.dtype == np.float64 and np.array_equal(y, table[:, 2])
    assert names == ['column 1', 'column 2']
    X, y, names = load_csv(path, target=0)
    assert np.array_equal(X, table[:, 1:]) and np.array_equal(y, table[:, 0])
    assert names == ['column 2', 'column 3']
    assert same_csv(load_csv(path, target=-2), load_csv(path, target='column 2'))
    assert load_csv(path, target=-2)[1].tolist() == [2, 4.5]
    # an explicit header=True turns a numeric first row into names
    X, y, names = load_csv(path, header=True)
    assert X.tolist() == [[3.0, 4.5]] and y.tolist() == [-1.75] and names == ['1.5', '2']


def same_csv(a, b):
    return all(np.array_equal(u, v) for u, v in zip(a[:2], b[:2])) and a[2] == b[2]


def test_load_csv_target_by_name(tmp_path):
    path = write(tmp_path, "y,a,b\n1,2,3\n-1,5,6\n")
    X, y, names = load_csv(path, target='y')
    assert X.tolist() == [[2.0, 3.0], [5.0, 6.0]] and y.tolist() == [1, -1] and names == ['a', 'b']
    assert same_csv(load_csv(path, target=0), load_csv(path, target='y'))


def test_load_csv_target_written_as_an_integer_is_a_name_first_then_an_index(tmp_path):
    path = write(tmp_path, "a,2019,y\n1,2,0.5\n3,4,1.5\n")
    assert load_csv(path, target='2019')[1].tolist() == [2, 4]      # the column named 2019
    assert same_csv(load_csv(path, target='0'), load_csv(path, target=0))
    assert same_csv(load_csv(path, target='-2'), load_csv(path, target='2019'))
    with pytest.raises(DataError, match="no column index 2020"):
        load_csv(path, target='2020')
    # without a header, text is an index even when a first-row cell spells it
    path = write(tmp_path, "1,2,0\n3,4,1\n")
    assert same_csv(load_csv(path, target='2'), load_csv(path, target=2))
    assert same_csv(load_csv(path, target='1', header=False), load_csv(path, target=1, header=False))


def test_load_csv_reads_class_names_in_the_target_column(tmp_path):
    path = write(tmp_path, "1.5,2,yes\n3,4.5, no\n0,1,yes\n")   # no header: 'yes' is a name
    X, y, names = load_csv(path)
    assert np.array_equal(X, np.loadtxt(path, delimiter=',', usecols=(0, 1)))
    assert y.tolist() == ['yes', 'no', 'yes'] and names == ['column 1', 'column 2']
    path = write(tmp_path, "a,b,animal\n1,2,cat\n2,1,dog\n3,3,bird\n")
    assert load_csv(path)[1].tolist() == ['cat', 'dog', 'bird']


def test_load_csv_reads_a_byte_order_mark_and_quoted_cells(tmp_path):
    path = tmp_path / 'excel.csv'
    path.write_bytes('\ufeffa,b,y\n"1.5",2,"0"\n3,"4",1\n'.encode('utf-8'))
    X, y, names = load_csv(path)
    assert X.tolist() == [[1.5, 2.0], [3.0, 4.0]] and y.tolist() == [0, 1] and names == ['a', 'b']


@pytest.mark.parametrize('cell', ['1_0', '١٠', '１０', '0x10', '1e', '.', '-'])
def test_load_csv_takes_only_decimals_that_numpy_also_reads(tmp_path, cell):
    # float() reads '1_0' as 10.0 and Arabic or full-width digits too; a CSV number is decimal
    path = write(tmp_path, f"a,b,y\n1,{cell},0\n")
    with pytest.raises(ValueError):
        np.loadtxt(path, delimiter=',', skiprows=1)   # the reference refuses it too
    with pytest.raises(DataError, match=f"line 2, column 2 \\('b'\\): '{cell}' is not a number"):
        load_csv(path)


def test_load_csv_names_the_line_of_a_byte_that_is_not_utf8(tmp_path):
    path = tmp_path / 'latin1.csv'
    path.write_bytes('a,b,y\n1,2,0\n3,é,1\n'.encode('latin-1'))
    with pytest.raises(DataError, match=r"latin1.csv, line 3: byte 0xe9 is not UTF-8 text"):
        load_csv(path)


def test_load_csv_of_many_rows_is_compact(tmp_path):
    rows = np.random.RandomState(0).normal(size=(20_000, 3))
    rows[:, 2] = rows[:, 2] > 0
    path = tmp_path / 'many.csv'
    np.savetxt(path, rows, delimiter=',', header='a,b,label', comments='', fmt=['%.17g', '%.17g', '%d'])
    X, y, names = load_csv(path)
    assert np.array_equal(X, rows[:, :2]) and np.array_equal(y, rows[:, 2].astype(int))
    assert X.nbytes == 20_000 * 2 * 8   # floats in one array, not a list of lists


BAD_FILES = [
    # (file text, load_csv keywords, what the message must say)
    ("a,b,c\n1,2,3\n4,5,6\n7,8,9\n10,11,12\n13,14,15\n16,17\n", {},
     ["line 7 has 2 columns; the header has 3"]),
    ("1,2,3\n4,5,6,7\n", {}, ["line 2 has 4 columns; line 1 has 3"]),
    ("a,b,c\n1,2,3\n4,,6\n", {}, ["line 3", "column 2 ('b')", "missing value"]),
    ("a,b,c\n1,2,3\n4,5,  \n", {}, ["line 3", "column 3 ('c')", "missing value"]),
    ("a,b,c\n1,2,3\n4,5,6\n7,bad,9\n", {}, ["line 4", "column 2 ('b')", "'bad' is not a number"]),
    ("1,2,3\n4,5,six\n", {}, ["line 2", "column 3", "'six' is not a number"]),
    ("a,b,c\n1,nan,3\n", {}, ["line 2", "column 2 ('b')", "'nan' is not a finite number"]),
    ("a,b,c\n1,2,-inf\n", {}, ["line 2", "column 3 ('c')", "'-inf' is not a finite number"]),
    ("", {}, ["is empty"]),
    ("\n\n", {}, ["is empty"]),
    ("a,b,c\n", {}, ["has a header but no data rows"]),
    ("a\n1\n2\n", {}, ["has 1 column"]),
    ("a,b,c\n1,2,3\n", dict(target='label'), ["no column 'label'", "'a', 'b', 'c'"]),
    ("a,b,c\n1,2,3\n", dict(target=3), ["no column index 3", "'a', 'b', 'c'"]),
    ("1,2\n3,4\n", dict(target='y'), ["no column 'y'", "'column 1', 'column 2'"]),
    ("a,b,y\n1,2,3\n4,5,six\n", {}, ["line 3", "column 3 ('y')", "'six' is not a number",
                                       "the column's first value, line 2, is the number 3"]),
    ("a,b,y\n1,2,cat\n4,5,6\n", {}, ["line 3", "column 3 ('y')", "'6' is a number, but the "
                                       "column's first value, line 2, is the class name 'cat'"]),
    ("a,b,y\n1,2,cat\n4,5,\n", {}, ["line 3", "column 3 ('y')", "missing value"]),
    ("a,b,y\n1,2,3\n4,5,1e999\n", {}, ["line 3", "'1e999' is not a finite number"]),
]


@pytest.mark.parametrize('text, kwargs, fragments', BAD_FILES)
def test_load_csv_errors_name_the_file_line_column_and_value(tmp_path, text, kwargs, fragments):
    path = write(tmp_path, text)
    with pytest.raises(DataError) as error:
        load_csv(path, **kwargs)
    message = str(error.value)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message
    assert isinstance(error.value, ValueError)


def test_load_csv_counts_lines_as_an_editor_does(tmp_path):
    # a quoted cell spanning two lines: the bad value is on line 4 of the file
    path = write(tmp_path, 'a,"b\nsecond line",c\n1,2,3\n4,x,6\n')
    with pytest.raises(DataError, match="line 4, column 2 \\('b\\\\nsecond line'\\): 'x'"):
        load_csv(path)


def test_load_csv_rejects_a_bad_header_or_target_argument(tmp_path):
    path = write(tmp_path, "a,b\n1,2\n")
    with pytest.raises(ValueError, match="header must be True, False or 'auto', got 'yes'"):
        load_csv(path, header='yes')
    with pytest.raises(TypeError, match="target must be a column name, an index or None, got 1.0"):
        load_csv(path, target=1.0)


# ----------------------------------------------------------------------------------
# check_dataset


def test_check_dataset_returns_the_shape():
    assert check_dataset(*day5()) == (4, 3)
    X, y = make_blobs(n_samples=12, n_features=3, random_state=0)
    assert check_dataset(np.array(X), np.array(y)) == (12, 3)


@pytest.mark.parametrize('X, y, message', [
    ([], [], "the dataset is empty"),
    ([[1.0], [2.0], [3.0]], [1.0, 2.0], "X has 3 samples but y has 2"),
    ([[1.0, 2.0], [3.0, 4.0], [5.0]], [0, 1, 0], "X[2] has 1 features, expected 2 like X[0]"),
    ([[]], [0], "X[0] is an empty row"),
    ([1.0, 2.0], [0, 1], "X[0] should be a row of numbers, got 1.0"),
    ([[1.0, 2.0], [3.0, 'x']], [0, 1], "X[1][1] is not a number: 'x'"),
    ([[1.0, 2.0], [3.0, None]], [0, 1], "X[1][1] is not a number: None"),
    ([[1.0, math.nan]], [0], "X[0][1] is not finite: nan"),
    ([[1.0, 2.0], [-math.inf, 0.0]], [0, 1], "X[1][0] is not finite: -inf"),
    ([[1.0], [2.0]], [0, '1'], "y[1] is not a number: '1'"),
    ([[1.0], [2.0]], [math.inf, 0], "y[0] is not finite: inf"),
])
def test_check_dataset_errors(X, y, message):
    with pytest.raises(DataError) as error:
        check_dataset(X, y)
    assert message in str(error.value)


def test_check_dataset_of_arrays_names_the_first_value_that_is_not_finite():
    X = np.zeros((5, 3))
    X[3, 2], X[4, 0] = math.inf, math.nan
    with pytest.raises(DataError, match=r"X\[3\]\[2\] is not finite: inf"):
        check_dataset(X, np.zeros(5))
    with pytest.raises(DataError, match=r"y\[1\] is not finite: nan"):
        check_dataset(np.zeros((2, 1)), np.array([0.0, math.nan]))
    assert check_dataset(np.zeros((4, 2)), np.arange(4)) == (4, 2)
