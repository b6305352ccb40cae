"""What the page draws, as plain data: the run's fixed facts, and one frame per update.

A frame is small enough to send 30 times a second: the decision boundary as a 64 x 64
grid of bytes (base64), every parameter and gradient, and the losses since the last
frame. The live page and the static export draw the same frames with the same code.
"""

import base64
import math

import numpy as np

from ..viz import numpy_forward

GRID = 64           # cells a side of the decision boundary's picture
MAX_POINTS = 1000   # points drawn on the boundary (and predictions listed) at most


def finite(values):
    """Floats for JSON: a number that is not finite becomes None (JSON has no inf or nan)."""
    return [v if math.isfinite(v) else None for v in values]


def rounded(values):
    """finite(values) to 4 significant digits, as the page shows them: frames stay small."""
    return [float(f'{v:.4g}') if math.isfinite(v) else None for v in values]


def plot_bounds(X):
    """[x_min, x_max, y_min, y_max] around the points, a margin added, as wide as tall."""
    points = np.asarray(X, dtype=float)[:, :2]
    low, high = points.min(axis=0), points.max(axis=0)
    centre, half = (low + high) / 2, max((high - low).max() / 2, 0.5) * 1.15
    return [centre[0] - half, centre[0] + half, centre[1] - half, centre[1] + half]


def grid_points(bounds, size=GRID):
    """The centres of a size x size grid over bounds, row by row from the top."""
    x_min, x_max, y_min, y_max = bounds
    xs = x_min + (np.arange(size) + 0.5) * (x_max - x_min) / size
    ys = y_max - (np.arange(size) + 0.5) * (y_max - y_min) / size
    gx, gy = np.meshgrid(xs, ys)
    return np.column_stack([gx.ravel(), gy.ravel()])


def _bytes(array):
    return base64.b64encode(np.clip(np.nan_to_num(array), 0, 255).astype(np.uint8).tobytes()).decode()


def boundary(model, points, dataset, target_range=None):
    """The model over the grid: {'cls': which class each cell goes to, 'level': how sure}.

    Both are bytes. One output: class 1 where the output is above 0, level 255 * |tanh|;
    for numbers (regression) level is the prediction scaled into target_range. Several
    outputs (cross-entropy): the class with the largest logit, level from its softmax.
    """
    with np.errstate(all='ignore'):
        out = numpy_forward(model, points)
        if out.shape[1] == 1:
            score = out[:, 0]
            if dataset.classes == 0:
                low, high = target_range
                level = 255 * (score - low) / ((high - low) or 1.0)
                return {'cls': _bytes(np.zeros_like(score)), 'level': _bytes(level)}
            return {'cls': _bytes(score > 0), 'level': _bytes(255 * np.abs(np.tanh(score)))}
        shifted = np.exp(out - out.max(axis=1, keepdims=True))
        top = (shifted / shifted.sum(axis=1, keepdims=True)).max(axis=1)
        k = out.shape[1]
        return {'cls': _bytes(out.argmax(axis=1)), 'level': _bytes(255 * (top - 1 / k) / (1 - 1 / k))}


def run_facts(settings, dataset, model, loss, grid=GRID):
    """What stays fixed during a run: the architecture, the points, the plot's bounds."""
    two_d = dataset.n_features == 2
    y = dataset.y
    facts = {
        'dataset': dataset.name, 'sizes': model.sizes, 'act': settings.act, 'loss': loss,
        'optimizer': settings.optimizer, 'lr': settings.lr, 'classes': dataset.classes,
        'features': dataset.feature_names, 'samples': len(dataset.X),
        'points': [row[:2] for row in dataset.X[:MAX_POINTS]] if two_d else None,
        'labels': y[:MAX_POINTS], 'bounds': plot_bounds(dataset.X) if two_d else None,
        'grid': grid if two_d else 0,
        'target_range': [min(y), max(y)] if dataset.classes == 0 else None,
        'parameters': len(model.parameters()),
    }
    return facts


class FrameMaker:
    """Frames of one model on one dataset; each carries the losses since the previous one."""

    def __init__(self, model, dataset, facts):
        self.model, self.dataset, self.facts = model, dataset, facts
        self.points = grid_points(facts['bounds'], facts['grid']) if facts['bounds'] else None
        self.sent = 0  # losses already sent

    def __call__(self, step, history, state):
        model = self.model
        params = model.parameters()
        frame = {
            'type': 'frame', 'step': step, 'state': state,
            'from': self.sent,
            'loss': finite(history.loss[self.sent:]),
            'accuracy': finite(history.accuracy[self.sent:]),
            'params': rounded([p.data for p in params]),
            'grads': rounded([p.grad for p in params]),
        }
        self.sent = len(history.loss)
        if self.points is not None:
            frame['boundary'] = boundary(model, self.points, self.dataset, self.facts['target_range'])
        else:
            with np.errstate(all='ignore'):
                out = numpy_forward(model, self.dataset.X[:MAX_POINTS])
            frame['predictions'] = [rounded(row) for row in out.tolist()]
        return frame


def merge(older, newer):
    """One frame standing for two in a row: the newer one, with the losses of both."""
    if older.get('type') != 'frame' or newer.get('type') != 'frame' or \
            older.get('run') != newer.get('run'):
        return None
    merged = dict(newer)
    merged['from'] = older['from']
    merged['loss'] = older['loss'] + newer['loss']
    merged['accuracy'] = older['accuracy'] + newer['accuracy']
    return merged
