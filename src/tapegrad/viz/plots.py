"""Training pictures with matplotlib: loss curve, learning-rate sweep, decision boundary, gradients.

Each function draws into `path` (PNG, SVG or PDF by its suffix) and returns that path; with
no path it returns the matplotlib Figure, which a notebook displays. matplotlib draws
off-screen (its Agg backend) unless a backend was already chosen, as Jupyter does.
"""

import itertools
import math
import os
import sys
from pathlib import Path

from ._common import largest_finite, layers_of, require, short
from .forward import numpy_forward

LOSS_COLOR, ACCURACY_COLOR, LR_COLOR = '#1f77b4', '#ff7f0e', '#555555'
CLASS_COLORS = ('#b2182b', '#2166ac')  # red for the lower label, blue for the higher: as RdBu
DIVERGED = 10  # a sweep's curve has diverged once its loss passes 10x the largest start


def plot_loss(history, path=None, title='Training loss'):
    """Loss per step from a History (its .loss, and .accuracy and .lr when recorded) or a list.

    The loss axis turns logarithmic when the loss falls by two decades or more, so that the
    late, slow progress stays visible; accuracy gets its own axis on the right; a learning
    rate that changes during training gets a panel below.
    """
    import numpy as np
    plt = _pyplot()
    loss = _numbers('plot_loss', 'history', getattr(history, 'loss', history))
    accuracy = _numbers('plot_loss', 'history.accuracy', getattr(history, 'accuracy', None) or [])
    lrs = _numbers('plot_loss', 'history.lr', getattr(history, 'lr', None) or [])
    if not loss:
        raise ValueError("plot_loss: history holds no loss values to plot")
    if len(set(lrs)) == 1:
        title += f" (lr {lrs[0]:g})"
    if len(set(lrs)) > 1:
        fig, (ax, lr_ax) = plt.subplots(2, 1, sharex=True, figsize=(7, 5.5), height_ratios=[3, 1],
                                        layout='constrained')
        lr_ax.plot(np.arange(len(lrs)), lrs, color=LR_COLOR, lw=1.5)
        lr_ax.set_ylabel('learning rate')
        lr_ax.set_xlabel('step')
        lr_ax.grid(alpha=0.3)
    else:
        fig, ax = plt.subplots(figsize=(7, 4), layout='constrained')
        ax.set_xlabel('step')
    lines = ax.plot(np.arange(len(loss)), loss, color=LOSS_COLOR, lw=2, label='loss')
    ax.set_ylabel('loss (log scale)' if _spans_decades(loss) else 'loss')
    if _spans_decades(loss):
        ax.set_yscale('log')
    ax.grid(alpha=0.3)
    if accuracy:
        from matplotlib.ticker import PercentFormatter
        accuracy_ax = ax.twinx()
        lines += accuracy_ax.plot(np.arange(len(accuracy)), accuracy, color=ACCURACY_COLOR,
                                  lw=2, label='accuracy')
        whole = 1 if max(accuracy) <= 1 else 100  # a fraction, or already a percentage
        accuracy_ax.set_ylim(0, 1.05 * whole)
        accuracy_ax.yaxis.set_major_formatter(PercentFormatter(whole))
        accuracy_ax.set_ylabel('accuracy', color=ACCURACY_COLOR)
        ax.set_ylabel(ax.get_ylabel(), color=LOSS_COLOR)
        ax.legend(lines, [line.get_label() for line in lines], loc='center right')
    ax.set_title(title)
    return _finish(plt, fig, path)


def plot_lr_sweep(curves, path=None, title='Effect of learning rate on convergence'):
    """One loss curve per learning rate: {0.001: [losses...], 0.01: [...], ...}.

    The Day 5 sweep: too small a rate crawls, a good one drops fast, too large a one
    oscillates or diverges. A curve that diverges (its loss becomes inf or nan, or passes
    10x the largest starting loss) stops at the top of the plot with an x.
    """
    import numpy as np
    plt = _pyplot()
    if not curves:
        raise ValueError("plot_lr_sweep: curves is empty; pass {learning_rate: [loss, ...], ...}")
    curves = {float(lr): np.array(_numbers('plot_lr_sweep', f"curves[{lr!r}]", losses))
              for lr, losses in sorted(curves.items())}
    starts = [losses[np.isfinite(losses)][0] for losses in curves.values()
              if np.isfinite(losses).any()]
    largest_start = max(starts, default=0.0)
    ceiling = DIVERGED * largest_start if largest_start > 0 else 1.0

    fig, ax = plt.subplots(figsize=(8.5, 4.5), layout='constrained')
    colors = itertools.cycle(plt.get_cmap('tab10').colors)
    kept, diverged = [], False  # `kept`: every loss drawn, to choose the scale
    for (lr, losses), color in zip(curves.items(), colors):
        gone = ~np.isfinite(losses) | (losses > ceiling)
        if gone.any():  # draw it up to there, then a dotted line off the top to an x
            stop = int(np.argmax(gone))
            ax.plot(np.arange(stop), losses[:stop], color=color, lw=2,
                    label=f"lr {lr:g}: diverged at step {stop}")
            last = max(stop - 1, 0)
            ax.plot(np.arange(last, stop + 1), [*losses[last:stop], ceiling], color=color, lw=2,
                    ls=':', marker='x', markevery=[-1], markersize=10, mew=2)
            diverged = True
        else:
            stop = len(losses)
            ax.plot(np.arange(stop), losses, color=color, lw=2,
                    label=f"lr {lr:g}: final loss {short(losses[-1])}")
        kept.extend(losses[:stop])
    if _spans_decades(kept):
        ax.set_yscale('log')
    if diverged:
        ax.set_ylim(top=ceiling * (1.5 if _spans_decades(kept) else 1.05))
    ax.set_xlabel('step')
    ax.set_ylabel('loss (log scale)' if _spans_decades(kept) else 'loss')
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(title='learning rate', loc='upper left', bbox_to_anchor=(1.01, 1))
    return _finish(plt, fig, path)


def plot_decision_boundary(model, X, y, path=None, resolution=200, title=None):
    """The model's score over the plane of 2-D data, its decision boundary, and the points.

    model: one output (a score); the boundary is where it crosses 0 (0.5 for a sigmoid
        output). X: rows of 2 inputs; y: their labels, two kinds (0/1 or -1/+1).
    The score is computed with `numpy_forward` on a resolution x resolution grid.
    """
    import numpy as np
    from matplotlib.colors import Normalize
    from matplotlib.ticker import MaxNLocator
    plt = _pyplot()
    X, y = np.asarray(X, dtype=float), np.asarray(y)
    layers = layers_of(model)
    if X.ndim != 2 or X.shape[1] != 2 or layers[0][0].nin != 2:
        raise ValueError(f"plot_decision_boundary draws 2-D data for a model with 2 inputs; "
                         f"got X of shape {X.shape} and a model with {layers[0][0].nin} inputs")
    if len(layers[-1]) != 1:
        raise ValueError(f"plot_decision_boundary needs a model with one output (a score), "
                         f"got {len(layers[-1])} outputs")
    classes = np.unique(y)
    if len(classes) != 2 or len(y) != len(X):
        raise ValueError(f"plot_decision_boundary needs one label per row of X, of two kinds; "
                         f"got {len(y)} labels for {len(X)} rows, kinds {classes.tolist()}")
    threshold = 0.5 if layers[-1][0].act == 'sigmoid' else 0.0

    margin = 0.1 * (X.max(axis=0) - X.min(axis=0)) + 0.1
    low, high = X.min(axis=0) - margin, X.max(axis=0) + margin
    grid_x, grid_y = np.meshgrid(np.linspace(low[0], high[0], resolution),
                                 np.linspace(low[1], high[1], resolution))
    points = np.column_stack([grid_x.ravel(), grid_y.ravel()])
    scores = numpy_forward(model, points)[:, 0].reshape(grid_x.shape)
    spread = largest_finite((scores - threshold).ravel()) or 1.0
    correct = np.sum((numpy_forward(model, X)[:, 0] > threshold) == (y == classes[1]))

    # about the data's own shape, so that distances look alike across and up
    width, height = high - low
    fig, ax = plt.subplots(figsize=(8, 1.2 + 6.2 * min(max(height / width, 0.45), 1.4)),
                           layout='constrained')
    filled = ax.contourf(grid_x, grid_y, scores, cmap='RdBu', alpha=0.7,
                         norm=Normalize(threshold - spread, threshold + spread),  # white: boundary
                         levels=MaxNLocator(20).tick_values(threshold - spread, threshold + spread))
    if np.nanmin(scores) < threshold < np.nanmax(scores):
        ax.contour(grid_x, grid_y, scores, levels=[threshold], colors='black', linewidths=2)
    for label, color in zip(classes, CLASS_COLORS):
        ax.scatter(*X[y == label].T, color=color, edgecolors='black', linewidths=0.8, s=36,
                   label=f"label {label:g}")
    fig.colorbar(filled, ax=ax, label=f"model score (black line: score = {threshold:g})")
    ax.set_xlabel('x1')
    ax.set_ylabel('x2')
    ax.legend(loc='upper right', framealpha=0.9)
    ax.set_title(title or f"Decision boundary: {correct} of {len(X)} training points "
                          f"classified correctly")
    return _finish(plt, fig, path)


def plot_gradients(model, path=None, title='Which weights get large gradients, which small?'):
    """|grad| of every weight and bias after backward(): one panel per layer, a row per neuron.

    A weight's gradient is w.grad = z.grad * x, where z = w.x + b is its neuron's sum and
    x the input it multiplies: so a whole row is small when little gradient reaches the
    neuron (a saturated tanh, a relu that is off, small weights after it), a column when its
    input is near 0. The bias column shows z.grad itself.
    """
    import numpy as np
    from matplotlib.colors import LogNorm, Normalize
    plt = _pyplot()
    layers = layers_of(model)
    grids = [np.array([[abs(w.grad) for w in n.w] + [abs(n.b.grad)] for n in neurons])
             for neurons in layers]
    everything = np.concatenate([grid.ravel() for grid in grids])
    largest = largest_finite(everything)
    positive = everything[np.isfinite(everything) & (everything > 0)]
    if largest > 0:
        # gradients span decades: a log scale shows the small ones too, down to 1e-4 of the largest
        norm = LogNorm(vmin=max(positive.min(), largest * 1e-4), vmax=largest)
        note = ("w.grad = z.grad * x, where z = w.x + b is the neuron's sum: a row is small when "
                "little gradient reaches its neuron (tanh saturated near ±1, relu off),\n"
                "a column is small when its input x is near 0; the b column is z.grad itself."
                + (" Grey: exactly 0." if (everything == 0).any() else ""))
    else:
        norm = Normalize(0, 1)
        note = "Every grad is 0: call backward() on the output (or the loss) first."
    cmap = plt.get_cmap('viridis').with_extremes(bad='#d0d0d0')  # grey: exact zeros

    cells = sum(grid.size for grid in grids)
    cell = 0.55 if cells <= 120 else 0.32  # inches per square
    width = max(8.0, cell * sum(grid.shape[1] for grid in grids) + 2.5)
    height = cell * max(grid.shape[0] for grid in grids) + 1.8
    fig, axes = plt.subplots(1, len(grids), figsize=(width, height), squeeze=False,
                             width_ratios=[grid.shape[1] for grid in grids], layout='constrained')
    for number, (ax, grid, neurons) in enumerate(zip(axes[0], grids, layers), start=1):
        nout, nin = grid.shape[0], grid.shape[1] - 1
        image = ax.imshow(np.ma.masked_where(~(grid > 0), grid), cmap=cmap, norm=norm)
        ax.axvline(nin - 0.5, color='white', lw=3)  # sets the bias column apart
        ax.set_xticks(range(nin + 1), [f"w{j + 1}" for j in range(nin)] + ['b'],
                      fontsize=8 if nin > 8 else 10)
        ax.set_yticks(range(nout), [f"neuron {i + 1}" for i in range(nout)],
                      fontsize=8 if nout > 8 else 10)
        ax.set_title(f"layer {number}: {nin} inputs \u2192 {nout} {neurons[0].act}", fontsize=10)
        if cells <= 120:
            for (i, j), value in np.ndenumerate(grid):  # white on viridis' dark end
                ax.text(j, i, f"{value:.2g}", ha='center', va='center', fontsize=7,
                        color='white' if value > 0 and norm(value) < 0.6 else 'black')
    fig.colorbar(image, ax=axes[0].tolist(), label='|grad|' + (' (log scale)' if largest else ''),
                 shrink=0.9)
    fig.suptitle(f"{title}\n|grad| of every weight and bias, one panel per layer", fontsize=12)
    fig.supxlabel(note, fontsize=8.5, color='#333333')
    return _finish(plt, fig, path)


# ----------------------------------------------------------------------------------


def _pyplot():
    """matplotlib.pyplot, drawing off-screen unless a backend has already been chosen."""
    matplotlib = require('matplotlib')
    # Jupyter chooses its inline backend through MPLBACKEND; a script that imported pyplot
    # has chosen one too. Otherwise draw into files, never into a window.
    if 'matplotlib.pyplot' not in sys.modules and not os.environ.get('MPLBACKEND'):
        matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    return plt


def _finish(plt, fig, path):
    if path is not None:
        fig.savefig(path, dpi=120)
    plt.close(fig)  # frees it; a notebook shows the returned figure once, not twice
    return fig if path is None else Path(path)


def _numbers(caller, what, values):
    """`values` as a list of floats; Values are read through .data (a loss appended whole)."""
    try:
        return [float(getattr(v, 'data', v)) for v in values]
    except (TypeError, ValueError) as error:
        raise TypeError(f"{caller}: {what} must be a list of numbers, "
                        f"got {values!r:.100}") from error


def _spans_decades(values):
    """True when positive values span two decades or more: a log axis shows them better."""
    finite = [v for v in values if math.isfinite(v)]
    return bool(finite) and min(finite) > 0 and max(finite) >= 100 * min(finite)
