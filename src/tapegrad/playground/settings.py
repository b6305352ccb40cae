"""What the page (or `tapegrad playground --export`) asks for, checked: datasets, settings, model.

Everything the page sends arrives as text. `parse_settings` turns it into a Settings or
raises SettingsError naming the field, the value and what to give instead, so one
message on the page says what was wrong. Nothing sent is ever run as code: names are
looked up in fixed tables and numbers are parsed as numbers.
"""

import math
import random
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import data
from ..nn import ACTIVATIONS, MLP
from ..train import LOSSES, OPTIMIZERS

MAX_LAYERS = 6
MAX_WIDTH = 64           # neurons in one hidden layer: past that a step takes too long to watch
MAX_UPLOAD_BYTES = 1_000_000
MAX_ROWS = 5_000
MAX_FEATURES = 20
STEPS_PER_FRAME = (1, 2, 5, 10, 25)
MAX_SWEEP_STEPS = 10_000  # the sweep's steps at most (and the export's)
LOSS_CHOICES = ('auto',) + tuple(LOSSES)
COURSE_RATES = (0.001, 0.01, 0.1, 1.0)  # the Day 5 notebook's sweep


class SettingsError(ValueError):
    """A setting the playground cannot use; `field` names the control on the page."""

    def __init__(self, message, field=None):
        super().__init__(message)
        self.field = field


# ----------------------------------------------------------------------------------
# Datasets


@dataclass
class Dataset:
    """Rows X, and y as class numbers 0, 1, ... (classes > 0) or as numbers (classes == 0)."""

    name: str
    X: list
    y: list
    classes: int
    feature_names: list = field(default_factory=list)

    @property
    def n_features(self):
        return len(self.X[0])


def make_xor(n_samples=200, noise=0.0, padding=0.1, random_state=None):
    """Points in the four quadrants of [-1, 1]^2, label 1 where x*y > 0: the XOR pattern.

    Each coordinate is pushed `padding` away from the axes, so that no point sits on the
    boundary between two quadrants.
    """
    rng = np.random.RandomState(random_state)
    X = rng.uniform(-1 + padding, 1 - padding, size=(n_samples, 2))
    X += np.where(X > 0, padding, -padding)
    y = (X[:, 0] * X[:, 1] > 0).astype(int)
    X = X + rng.normal(scale=noise, size=X.shape) if noise else X
    return X.tolist(), y.tolist()


BUILT_IN = {
    'moons': ('moons', lambda: data.DATASETS['moons']()),
    'circles': ('circles', lambda: data.DATASETS['circles']()),
    'spiral': ('spiral', lambda: data.DATASETS['spiral']()),
    'blobs': ('blobs', lambda: data.DATASETS['blobs']()),
    'xor': ('XOR', lambda: make_xor(200, random_state=1337)),
    'day5': ("the course's Day 5 set", lambda: data.DATASETS['day5']()),
}
DATASET_CHOICES = tuple(BUILT_IN) + ('upload',)


def built_in(name):
    if name not in BUILT_IN:
        raise SettingsError(f"no dataset {name!r}: choose one of {', '.join(BUILT_IN)}, "
                            f"or upload a CSV file", 'dataset')
    title, make = BUILT_IN[name]
    X, y = make()
    return _as_dataset(title, X, y, ['x1', 'x2', 'x3'][:len(X[0])])


def _as_dataset(title, X, y, names):
    if any(isinstance(t, str) for t in y) or (all(float(t).is_integer() for t in y)
                                              and len(set(y)) <= 10):
        classes = sorted(set(y))
        index = {c: i for i, c in enumerate(classes)}
        return Dataset(title, X, [index[t] for t in y], max(len(classes), 2), names)
    return Dataset(title, X, [float(t) for t in y], 0, names)


def read_csv(name, content):
    """A Dataset from an uploaded CSV file's bytes; the last column is the target."""
    if len(content) > MAX_UPLOAD_BYTES:
        raise SettingsError(f"{name} is {len(content):,} bytes; the playground takes CSV files "
                            f"up to {MAX_UPLOAD_BYTES:,} bytes (use `tapegrad train --dataset "
                            f"{name}` for larger ones)", 'upload')
    try:
        text = content.decode('utf-8-sig')
    except UnicodeDecodeError as error:
        raise SettingsError(f"{name} is not UTF-8 text (byte {error.start}): save it as a "
                            f"CSV file of numbers", 'upload') from None
    try:
        X, y, names = _load_csv_text(name, text)
    except ValueError as error:  # data.DataError names the line, the column and the value
        raise SettingsError(str(error), 'upload') from None
    if len(X) > MAX_ROWS:
        raise SettingsError(f"{name} has {len(X):,} rows; the playground trains on at most "
                            f"{MAX_ROWS:,} (use `tapegrad train` for more)", 'upload')
    if len(X[0]) > MAX_FEATURES:
        raise SettingsError(f"{name} has {len(X[0])} feature columns; the playground takes at "
                            f"most {MAX_FEATURES}", 'upload')
    if len(set(y)) < 2:
        raise SettingsError(f"{name}: every target is {y[0]!r}; a model needs at least two "
                            f"different targets to learn anything", 'upload')
    return _as_dataset(name, X, y, names)


def _load_csv_text(name, text):
    """data.load_csv reads a path: give it the text through a file named as the upload."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / Path(name).name
        path.write_text(text, encoding='utf-8')
        try:
            X, y, names = data.load_csv(path)  # arrays; the page's datasets are lists
            return X.tolist(), y.tolist(), names
        except ValueError as error:
            raise ValueError(str(error).replace(str(path), Path(name).name)) from None


# ----------------------------------------------------------------------------------
# Settings


@dataclass(frozen=True)
class Settings:
    dataset: str = 'moons'
    hidden: tuple = (16, 16)
    act: str = 'relu'
    loss: str = 'auto'
    optimizer: str = 'sgd'
    lr: float = 0.1
    batch_size: int = None  # None: the whole set every step
    l2: float = 1e-4
    seed: int = 1337
    steps_per_frame: int = 1
    steps: int = 100        # the sweep's (and the export's) number of steps

    def fit_options(self, dataset):
        """fit()'s keyword arguments for these settings on `dataset` (all but the steps)."""
        return dict(loss=self.loss_for(dataset), optimizer=self.optimizer, lr=self.lr,
                    batch_size=self.batch_size, l2=self.l2, seed=self.seed)

    def loss_for(self, dataset):
        """The loss to train with: the one chosen, or for 'auto' the usual one for the targets."""
        if self.loss != 'auto':
            return self.loss
        if dataset.classes == 0:
            return 'mse'
        return 'hinge' if dataset.classes == 2 else 'cross_entropy'


DEFAULTS = Settings()


def _text(raw, key, default):
    value = raw.get(key, default)
    return str(value).strip() if value is not None else ''


def _number(raw, key, what, default, low, high, whole=False):
    text = _text(raw, key, default)
    kind = 'a whole number' if whole else 'a number'
    try:
        value = int(text) if whole else float(text)
    except ValueError:
        raise SettingsError(f"{what} must be {kind}, got {text!r}: for example {default}", key) from None
    if not (low <= value <= high) or (not whole and not math.isfinite(value)):
        raise SettingsError(f"{what} must be {kind} from {low:g} to {high:g}, got {text!r}", key)
    return value


def _choice(raw, key, what, default, choices):
    value = _text(raw, key, default)
    if value not in choices:
        raise SettingsError(f"{what} must be one of {', '.join(choices)}; got {value!r}", key)
    return value


def parse_settings(raw):
    """Settings from the page's fields (a dict of text); SettingsError for the first bad one."""
    if not isinstance(raw, dict):
        raise SettingsError(f"settings must be a JSON object of fields, got {type(raw).__name__}")
    dataset = _text(raw, 'dataset', DEFAULTS.dataset)
    if dataset not in DATASET_CHOICES:
        raise SettingsError(f"no dataset {dataset!r}: choose one of {', '.join(BUILT_IN)}, "
                            f"or upload a CSV file", 'dataset')
    layers = _text(raw, 'layers', len(DEFAULTS.hidden))
    try:
        n_layers = int(layers)
    except ValueError:
        raise SettingsError(f"hidden layers must be a whole number from 1 to {MAX_LAYERS}, "
                            f"got {layers!r}", 'layers') from None
    if not 1 <= n_layers <= MAX_LAYERS:
        raise SettingsError(f"hidden layers: {n_layers} is not possible here; give 1 to "
                            f"{MAX_LAYERS} hidden layers (each hidden layer is a column of "
                            f"neurons between the inputs and the output)", 'layers')
    widths = raw.get('widths', list(DEFAULTS.hidden))
    if not isinstance(widths, list):
        widths = [w for w in str(widths).replace(',', ' ').split()]
    widths = (list(widths) + [widths[-1] if widths else 4] * n_layers)[:n_layers]
    hidden = []
    for i, width in enumerate(widths):
        text = str(width).strip()
        try:
            n = int(text)
        except ValueError:
            raise SettingsError(f"hidden layer {i + 1}: the width must be a whole number of "
                                f"neurons from 1 to {MAX_WIDTH}, got {text!r}", 'widths') from None
        if not 1 <= n <= MAX_WIDTH:
            raise SettingsError(f"hidden layer {i + 1}: a width of {n:,} neurons is not possible "
                                f"here; give 1 to {MAX_WIDTH} (wider layers train too slowly to "
                                f"watch, and their lines blur into one another)", 'widths')
        hidden.append(n)
    batch = _text(raw, 'batch_size', 'all')
    batch_size = None if batch.lower() in ('', 'all') else \
        _number(raw, 'batch_size', 'batch size', 'all', 1, MAX_ROWS, whole=True)
    return Settings(
        dataset=dataset,
        hidden=tuple(hidden),
        act=_choice(raw, 'act', 'activation', DEFAULTS.act, ACTIVATIONS),
        loss=_choice(raw, 'loss', 'loss', DEFAULTS.loss, LOSS_CHOICES),
        optimizer=_choice(raw, 'optimizer', 'optimizer', DEFAULTS.optimizer, tuple(OPTIMIZERS)),
        lr=_learning_rate(raw),
        batch_size=batch_size,
        l2=_number(raw, 'l2', 'L2', DEFAULTS.l2, 0.0, 10.0),
        seed=_number(raw, 'seed', 'seed', DEFAULTS.seed, 0, 2 ** 32 - 1, whole=True),
        steps_per_frame=parse_steps_per_frame(raw),
        steps=parse_steps(raw),
    )


def parse_steps_per_frame(raw):
    """The `steps_per_frame` field of `raw`: how many steps a run takes between two frames."""
    return int(_choice(raw, 'steps_per_frame', 'steps per frame', str(DEFAULTS.steps_per_frame),
                       tuple(map(str, STEPS_PER_FRAME))))


def parse_steps(raw):
    """The `steps` field of `raw`: the sweep's (and the export's) number of steps."""
    return _number(raw, 'steps', 'steps', DEFAULTS.steps, 1, MAX_SWEEP_STEPS, whole=True)


def page_fields(settings):
    """`settings` as the page's fields hold them: text, as parse_settings reads it back."""
    return {'dataset': settings.dataset, 'layers': str(len(settings.hidden)),
            'widths': [str(width) for width in settings.hidden], 'act': settings.act,
            'loss': settings.loss, 'optimizer': settings.optimizer, 'lr': str(settings.lr),
            'batch_size': 'all' if settings.batch_size is None else str(settings.batch_size),
            'l2': str(settings.l2), 'seed': str(settings.seed),
            'steps_per_frame': str(settings.steps_per_frame), 'steps': str(settings.steps)}


def settings_from(hidden=None, **fields):
    """Settings from keywords, as Python code writes them: settings_from(lr=0.1, hidden=[8, 8])."""
    raw = {key: str(value) for key, value in fields.items()}
    if hidden is not None:
        raw['layers'], raw['widths'] = str(len(hidden)), [str(width) for width in hidden]
    return parse_settings(raw)


def _learning_rate(raw):
    text = _text(raw, 'lr', DEFAULTS.lr)
    try:
        lr = float(text)
    except ValueError:
        raise SettingsError(f"learning rate must be a number such as 0.1 or 1e-3, got {text!r}",
                            'lr') from None
    if not (math.isfinite(lr) and lr > 0):
        raise SettingsError(f"learning rate must be a number above 0, such as 0.1; got {text!r}",
                            'lr')
    return lr


# ----------------------------------------------------------------------------------
# Targets and model


def targets_for(loss, dataset):
    """y as `loss` wants it: +1/-1 for hinge (and mse on two classes), 0/1 for bce."""
    if dataset.classes == 0:
        if loss != 'mse':
            raise SettingsError(f"the targets of {dataset.name} are numbers, not classes: "
                                f"train them with the mse loss, not {loss}", 'loss')
        return list(dataset.y)
    if loss == 'cross_entropy':
        return list(dataset.y)
    if dataset.classes > 2:
        raise SettingsError(f"the {loss} loss separates two classes, but {dataset.name} has "
                            f"{dataset.classes}: choose cross_entropy (or auto)", 'loss')
    if loss == 'bce':
        return list(dataset.y)
    return [2 * t - 1 for t in dataset.y]


def n_outputs(loss, dataset):
    return dataset.classes if loss == 'cross_entropy' else 1


def build_model(settings, dataset):
    """A fresh MLP for the settings, drawn from its own seeded generator (threads stay apart)."""
    loss = settings.loss_for(dataset)
    sizes = list(settings.hidden) + [n_outputs(loss, dataset)]
    return MLP(dataset.n_features, sizes, act=settings.act, out_act='linear',
               rng=random.Random(settings.seed))


def load_parameters(model, values):
    for p, value in zip(model.parameters(), values):
        p.data = value
    return model
