"""Loss functions: plain functions from a list of predictions and their targets to one Value.

Each loss is a composition of the engine's ops, not a new primitive, so `backward()`
needs nothing new; each equals its torch.nn.functional counterpart in value and gradients.

    >>> loss = mse([Value(0.5), Value(-1.0)], [1.0, -1.0])
    >>> loss.data
    0.25

Two rules shape the formulas:

- The graph's shape never depends on the numbers in the predictions and targets (only on
  how many there are, and on the class indices of cross_entropy): a tape records one
  training step and replays it on new numbers. So there is no `if z.data > 0` and no
  float computed from the data; where a formula needs max(z, 0) it is `z.relu()`, a
  Value, and max(a, b) is `a + (b - a).relu()`.
- exp() only ever sees numbers <= 0, so logits of +-1000 cannot overflow it.
"""

import numbers
import operator

from .engine import Value

REDUCTIONS = ('sum', 'mean')


def mse(preds, targets, reduction='sum'):
    """Squared error, summed (the seeds' Day 5) or averaged (the exercise notebook).

    Written as the seeds write it, sum((p - t)**2), so their losses come out bit for bit;
    the mean multiplies by 1.0 / n as the exercise notebook does.
    """
    if reduction not in REDUCTIONS:
        raise ValueError(f"mse: reduction must be 'sum' or 'mean', got {reduction!r}")
    preds, targets = _paired('mse', preds, targets)
    total = sum((p - t) ** 2 for p, t in zip(preds, targets))
    return total if reduction == 'sum' else total * (1.0 / len(preds))


def hinge(scores, labels):
    """Mean SVM max-margin loss, relu(1 - y*s), for labels +1 and -1 (micrograd's demo).

    Written term for term as micrograd's demo writes it, so its losses come out bit for bit.
    """
    scores, labels = _paired('hinge', scores, labels)
    check_signs(labels)
    return sum((1 + -y * s).relu() for s, y in zip(scores, labels)) * (1.0 / len(scores))


def l2(params, alpha):
    """alpha * sum(p^2): the weight penalty of micrograd's demo, added to the data loss."""
    params = _values('l2', 'parameter', params)
    return alpha * sum(p * p for p in params)


def binary_cross_entropy(logits, targets):
    """Mean binary cross-entropy of logits z (before the sigmoid) and targets y in [0, 1].

    PyTorch's `binary_cross_entropy_with_logits`: softplus(z) - z*y, written as
    max(z, 0) - z*y + log(1 + exp(-|z|)). exp() sees -|z| <= 0 and cannot overflow, and for
    a confident right answer (z = 20, y = 1) no large terms cancel, so a small loss keeps
    all its digits. -|z| is z - 2*max(z, 0), whose slope at z = 0 is 1, so there the
    gradient is sigmoid(0) - y = 0.5 - y, as in PyTorch.
    """
    logits, targets = _paired('binary_cross_entropy', logits, targets)
    check_probabilities(targets)
    losses = []
    for z, y in zip(logits, targets):
        positive_part = z.relu()
        losses.append(positive_part - z * y + _log1p((z - 2 * positive_part).exp()))
    return sum(losses) / len(losses)


def cross_entropy(logits, classes):
    """Mean softmax cross-entropy: logits[i] holds a score per class, classes[i] the right one.

    PyTorch's `cross_entropy` for integer class targets: -log softmax(logits[i])[classes[i]],
    computed as log(sum(exp(z - m))) - (z_c - m) with m the largest logit, so that exp()
    sees only numbers <= 0 and the right class's term, when it dominates, is exactly exp(0).
    """
    rows, classes = _classified(logits, classes)
    losses = []
    for row, c in zip(rows, classes):
        m = row[0]
        for z in row[1:]:
            m = m + (z - m).relu()  # max(m, z)
        shifted = [z - m for z in row]
        losses.append(sum(d.exp() for d in shifted).log() - shifted[c])
    return sum(losses) / len(losses)


# ----------------------------------------------------------------------------------
# Checks of targets and of a loss, shared with fit(), which runs them before training
#
# A target given as a Value is not checked: reading its number would keep a tape from
# replaying the loss on new targets (fit checks all of its targets, as numbers, first).


def check_signs(labels):
    """hinge's labels must be +1 or -1."""
    for i, y in enumerate(labels):
        if not isinstance(y, Value) and y not in (1, -1):
            raise ValueError(f"hinge: labels must be +1 or -1, got {y!r} at index {i}; "
                             "map 0/1 labels to -1/+1 with 2*y - 1")


def check_probabilities(targets):
    """binary_cross_entropy's targets must be numbers from 0 to 1."""
    for i, y in enumerate(targets):
        if not isinstance(y, Value) and not 0 <= y <= 1:
            raise ValueError(f"binary_cross_entropy: targets are probabilities from 0 to 1, "
                             f"got {y!r} at index {i}; map -1/+1 labels to 0/1 with (y + 1) / 2")


def check_classes(classes):
    """cross_entropy's classes must be whole numbers from 0 (their range: see the loss)."""
    for i, c in enumerate(classes):
        try:
            c = operator.index(c)
        except TypeError:
            raise TypeError(f"cross_entropy: class at index {i} must be an integer, got "
                            f"{type(c).__name__} {c!r}; convert labels with int()") from None
        if c < 0:
            raise ValueError(f"cross_entropy: class {c} at index {i} is negative; classes "
                             f"are numbered from 0")


def checked_loss(loss):
    """`loss` if it is a Value; else a TypeError saying what a loss function must return."""
    if not isinstance(loss, Value):
        raise TypeError(f"the loss function must return a Value computed from the predictions "
                        f"with Value ops (as the losses in tapegrad.losses do), got "
                        f"{type(loss).__name__}: {loss!r}")
    return loss


# ----------------------------------------------------------------------------------
# Helpers


def _log1p(u):
    """log(1 + u) for 0 <= u <= 1 to full precision, from log alone.

    1 + u rounds away the low digits of u (all of it when u < 1e-16), so log(1 + u) alone
    is only accurate to 1e-16 in absolute terms. The part rounded away,
    u - ((1 + u) - 1), is exact in floating point, and log(w + e) = log(w) + e/w to
    within (e/w)^2.
    """
    w = 1 + u
    return w.log() + (u - (w - 1)) / w


def _checked(loss, what, xs):
    """xs as a list whose items are each a Value or a plain number."""
    if isinstance(xs, Value):
        raise TypeError(f"{loss}: expected a list of {what}s, got one Value {xs!r}; "
                        "wrap it in a list")
    xs = list(xs)
    for i, x in enumerate(xs):
        if not isinstance(x, (Value, numbers.Real)):
            raise TypeError(f"{loss}: {what} {i} must be a Value or a number, "
                            f"got {type(x).__name__}: {x!r}")
    if not xs:
        raise ValueError(f"{loss}: got no {what}s (an empty list)")
    return xs


def _values(loss, what, xs):
    """xs as a list of Values: Values as they are, plain numbers as constants."""
    return [x if isinstance(x, Value) else Value(x) for x in _checked(loss, what, xs)]


def _paired(loss, preds, targets):
    """Predictions as Values and their targets (Values or numbers), as long as each other."""
    preds = _values(loss, 'prediction', preds)
    targets = _checked(loss, 'target', targets)
    if len(preds) != len(targets):
        raise ValueError(f"{loss}: {len(preds)} predictions but {len(targets)} targets; "
                         "give one target per prediction")
    return preds, targets


def _classified(logits, classes):
    """The rows of logits as Values, one per class in every row, and their class indices."""
    logits, classes = list(logits), list(classes)
    if not logits:
        raise ValueError("cross_entropy: got no samples (an empty list of logits)")
    if len(logits) != len(classes):
        raise ValueError(f"cross_entropy: {len(logits)} samples of logits but "
                         f"{len(classes)} classes; give one class per sample")
    rows = []
    for i, row in enumerate(logits):
        if isinstance(row, (Value, numbers.Real)):
            raise TypeError(f"cross_entropy: sample {i} must be a list of logits, one per "
                            f"class, got {row!r}; for one logit per sample use "
                            "binary_cross_entropy")
        rows.append(_values('cross_entropy', 'logit', row))
    n_classes, indices = len(rows[0]), []
    for i, (row, c) in enumerate(zip(rows, classes)):
        if len(row) != n_classes:
            raise ValueError(f"cross_entropy: sample {i} has {len(row)} logits, sample 0 "
                             f"has {n_classes}; every sample needs one logit per class")
        try:
            c = operator.index(c)
        except TypeError:
            raise TypeError(f"cross_entropy: class at index {i} must be an integer, got "
                            f"{type(c).__name__} {c!r}; convert labels with int()") from None
        if not 0 <= c < n_classes:
            raise ValueError(f"cross_entropy: class {c} at index {i} is out of range for "
                             f"{n_classes} classes (0 to {n_classes - 1})")
        indices.append(c)
    return rows, indices
