"""fit(): the one training loop that the command line, the notebooks and users call.

Each step is the seeds' loop: forward, loss, zero the gradients, backward, update.
"""

import contextlib
import functools
import math
import random
import signal
import sys
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from . import anomaly
from . import checkpoint as checkpoint_file
from . import losses, optim, validate
from .data import check_dataset
from .nn import Module
from .tape.trace import NotReplayable, collector_paused


class TrainingError(RuntimeError):
    """Training cannot go on (a non-finite loss or gradient); the model keeps its last good state.

    `error.history` holds the steps completed before it.
    """

    def __init__(self, message, history):
        super().__init__(message)
        self.history = history


@dataclass
class History:
    """What fit() saw, one float per step: the loss, the accuracy (where it applies), the lr.

    `engine` is the engine that ran the last step ('tape' or 'eager'), and
    `engine_reason` says why fit(engine='auto') chose the eager engine, if it did.
    """

    loss: list = field(default_factory=list)
    accuracy: list = field(default_factory=list)
    lr: list = field(default_factory=list)
    engine: str = 'eager'
    engine_reason: str = ''
    interrupted: bool = False

    def __len__(self):
        return len(self.loss)


def as_floats(prediction):
    """A model's output as floats: one float, or a list of them for a multi-output model."""
    if isinstance(prediction, (list, tuple)):
        return [p.data for p in prediction]
    return prediction.data


class EagerStep:
    """Forward and backward over one batch with the eager engine.

    `step(X, y)` returns (loss as a float, the model's outputs as floats) and leaves the
    batch's gradients in the parameters' `.grad`. The tape's TapeStep keeps the same contract.
    """

    engine = 'eager'

    def __init__(self, model, loss, l2=0.0):
        self.model, self.loss, self.l2 = model, loss, l2

    def __call__(self, X, y):
        predictions = [self.model(x) for x in X]
        loss = losses.checked_loss(self.loss(predictions, y))
        if self.l2:
            loss = loss + losses.l2(self.model.parameters(), self.l2)
        self.model.zero_grad()
        loss.backward()
        return loss.data, [as_floats(p) for p in predictions]


LOSSES = {
    'mse': functools.partial(losses.mse, reduction='mean'),
    'hinge': losses.hinge,
    'bce': losses.binary_cross_entropy,
    'cross_entropy': losses.cross_entropy,
}
TARGET_CHECKS = {'hinge': losses.check_signs, 'bce': losses.check_probabilities,
                 'cross_entropy': losses.check_classes}
OPTIMIZERS = {'sgd': optim.SGD, 'adam': optim.Adam, 'adamw': optim.AdamW}
ENGINES = ('auto', 'eager', 'tape')


def accuracy(kind, outputs, targets, signs=None):
    """Fraction of samples classified right, or None where accuracy does not apply.

    cross-entropy: the largest output is the class (the first, where several are); bce: a
    positive logit means class 1; otherwise, for targets that are all +1/-1 (hinge, or mse
    on the seeds' data), the sign. `outputs` and `targets` are lists or arrays; `signs`
    says whether the targets are all +1/-1, if the caller knows.
    """
    outputs, targets = np.asarray(outputs, dtype=float), np.asarray(targets)
    if kind == 'cross_entropy':
        right = outputs.reshape(len(targets), -1).argmax(axis=1) == targets
    elif outputs.size != len(targets):  # several outputs a sample, and not cross-entropy
        return None
    else:
        outputs = outputs.reshape(len(targets))
        if kind == 'bce':
            right = (outputs > 0) == (targets == 1)
        elif signs if signs is not None else ((targets == 1) | (targets == -1)).all():
            right = (outputs > 0) == (targets > 0)
        else:
            return None
    return int(right.sum()) / len(right)


class EagerTrainer:
    """fit()'s steps on the eager engine: the numbers live in the Values, and the
    optimizer's step() updates them. (The tape's twin is tape.training.Trainer.)

    `train(batch)` returns (the loss, the model's outputs, and None, or what was not
    finite: -1 for the loss, i for parameter i's gradient, in which case nothing was
    updated).
    """

    engine, reason = 'eager', ''

    def __init__(self, step, optimizer, detect_anomaly=False):
        self.step, self.optimizer, self.detect_anomaly = step, optimizer, detect_anomaly

    def train(self, batch):
        with anomaly.detect_anomaly() if self.detect_anomaly else contextlib.nullcontext():
            value, outputs = self.step(batch.X, batch.y)
        problem = _not_finite(value, self.step.model.parameters())
        if problem is None:
            self.optimizer.step()
        return value, outputs, problem

    def publish(self):
        """Nothing to do: the Values always hold the current numbers."""

    def resume(self):
        """Nothing to do: the eager engine builds the graph afresh at every step."""


class TapeTrainer:
    """fit()'s steps on the tape, with its state in arrays (tape.training.Trainer)."""

    engine, reason = 'tape', ''

    def __init__(self, step, optimizer):
        self.trainer = step.trainer(optimizer)
        self.publish, self.resume = self.trainer.publish, self.trainer.resume

    def train(self, batch):
        return self.trainer.train(*batch.arrays())


class AutoTrainer:
    """The tape where it can stand for the model and loss, else the eager engine.

    The tape computes what the eager engine computes, bit for bit, as long as the model
    and loss build the same graph with the same constants at every step. Where tracing
    finds they do not (a branch on `.data`, a random draw, a graph that differs from one
    call to the next: the tape's NotReplayable), this step and every one after it run
    eagerly, with one warning that says why. Any other error is the code's own and
    propagates, as it would on the eager engine.
    """

    def __init__(self, model, loss, l2, optimizer):
        from .tape import TapeStep
        self.tape = TapeTrainer(TapeStep(model, loss, l2=l2), optimizer)
        self.eager = EagerTrainer(EagerStep(model, loss, l2=l2), optimizer)
        self.current, self.engine, self.reason, self.steps = self.tape, 'tape', '', 0

    def train(self, batch):
        if self.current is self.tape:
            try:
                result = self.tape.train(batch)
                self.steps += 1
                return result
            except NotReplayable as error:  # nothing was updated in this step
                self._fall_back(error)
        return self.eager.train(batch)

    def publish(self):
        self.current.publish()

    def resume(self):
        if self.current is self.tape:
            try:
                self.tape.resume()
            except NotReplayable as error:
                self._fall_back(error)

    def _fall_back(self, error):
        self.tape.publish()
        self.current, self.engine = self.eager, 'eager'
        self.reason = f"from step {self.steps} on, the tape cannot stand for this code: {error}"
        warnings.warn(f"fit: training on the eager engine {self.reason}", RuntimeWarning,
                      stacklevel=4)


# fit(engine='auto') trains eagerly when the whole run uses fewer weights than this
# (steps x samples a step x parameters): the eager engine is done before tracing,
# optimising and (with numba) loading compiled loops would have paid for themselves.
SMALL_RUN = 200_000


def _make_trainer(engine, model, loss, l2, optimizer, run_size, detect_anomaly):
    """(the trainer, why auto chose the eager engine or '')."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(map(repr, ENGINES))}; got {engine!r}")
    if detect_anomaly:
        reason = 'detect_anomaly checks the eager engine' if engine != 'eager' else ''
        return EagerTrainer(EagerStep(model, loss, l2=l2), optimizer, detect_anomaly=True), reason
    if engine == 'tape':
        from .tape import TapeStep
        return TapeTrainer(TapeStep(model, loss, l2=l2), optimizer), ''
    if engine == 'auto' and run_size < SMALL_RUN:
        return EagerTrainer(EagerStep(model, loss, l2=l2), optimizer), (
            f"a small run ({run_size:,} weight uses: steps x samples x parameters) is done "
            f"eagerly before the tape would pay for tracing it")
    if engine == 'auto':
        return AutoTrainer(model, loss, l2, optimizer), ''
    return EagerTrainer(EagerStep(model, loss, l2=l2), optimizer), ''


class _StopOnInterrupt:
    """Ctrl-C during fit() stops at the end of the current step, never halfway through an
    update; a second Ctrl-C interrupts at once."""

    def __enter__(self):
        self.requested = False
        self.previous = None
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc):
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
        return False


def fit(model, X, y, loss='mse', optimizer='sgd', lr=None, steps=100, batch_size=None,
        l2=0.0, engine='auto', seed=0, progress=True, callback=None, checkpoint=None,
        checkpoint_every=10, resume=False, detect_anomaly=False):
    """Train `model` on rows `X` with targets `y`; return the History, one entry a step.

    loss       'mse' (mean), 'hinge' (labels +1/-1), 'bce' (labels 0/1, model gives logits),
               'cross_entropy' (class indices, model gives one logit a class), or a
               callable (predictions, targets) -> Value.
    optimizer  'sgd', 'adam', 'adamw', or an optimizer built on model.parameters().
    lr         a float, or a function of the step number giving the lr (a schedule such as
               optim.linear_decay(steps)); by default 0.05 for a named optimizer, and an
               optimizer object's own lr.
    batch_size None trains on all of X each step; a number draws shuffled mini-batches,
               seeded by `seed`.
    l2         adds l2 * sum(p * p) over the parameters to the loss.
    engine     'eager' builds the graph every step; 'tape' traces it once and replays it
               (and raises NotReplayable for code no tape can stand for); 'auto' uses the
               tape where it computes exactly what the eager engine would, and the eager
               engine for small runs and for code the tape cannot replay (History says
               which ran, and why).
    callback   called as callback(step, history) after every step. The tape is traced
               again after it, so a number the callback changes (a loss weight) is
               followed as the eager engine follows it.
    checkpoint a JSON file to save model, optimizer and progress into every
               `checkpoint_every` steps, at the end, and when Ctrl-C stops training.
    resume     continue from `checkpoint` if it exists: the run then ends exactly as one
               that was never stopped, bit for bit.
    detect_anomaly  run every step eagerly inside tapegrad.detect_anomaly(): the first op
               whose value or gradient is not finite raises AnomalyError, naming the op
               and the line of your code that made it.

    A non-finite loss or gradient stops training with TrainingError; the model keeps the
    parameters it had before that step. Ctrl-C stops at the end of the current step and
    returns the history so far, with `history.interrupted` set.
    """
    if not isinstance(model, Module):
        raise TypeError(f"fit() trains a tapegrad Module such as MLP, got {type(model).__name__}")
    n_samples, _ = check_dataset(X, y)
    steps = validate.whole_number('fit: steps', steps, least=0)
    checkpoint_every = validate.whole_number('fit: checkpoint_every', checkpoint_every)
    batch_size = validate.batch_size('fit: batch_size', batch_size)
    seed = validate.seed('fit: seed (it orders the mini-batches)', seed)
    l2 = validate.real_number('fit: l2', l2)
    if callable(lr):
        validate.real_number("fit: lr(0), the schedule's first rate", lr(0))
    elif lr is not None:
        lr = validate.real_number('fit: lr', lr)
    if callback is not None and not callable(callback):
        raise TypeError(f"fit: callback must be a function (step, history), got {callback!r}")
    kind = loss if isinstance(loss, str) else None
    if kind is not None and kind not in LOSSES:
        raise ValueError(f"loss must be one of {', '.join(map(repr, LOSSES))} or a function "
                         f"(predictions, targets) -> Value; got {loss!r}")
    loss_fn = LOSSES[kind] if kind else loss
    schedule = lr if callable(lr) else None
    if isinstance(optimizer, str):
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {', '.join(map(repr, OPTIMIZERS))} "
                             f"or an optimizer object; got {optimizer!r}")
        start_lr = schedule(0) if schedule else (0.05 if lr is None else lr)
        optimizer = OPTIMIZERS[optimizer](model.parameters(), lr=start_lr)
    elif lr is not None and not schedule:
        optimizer.lr = lr
    if kind in TARGET_CHECKS:  # the loss's own checks, on every target, before any step
        TARGET_CHECKS[kind](list(y))
    run_size = steps * min(batch_size or n_samples, n_samples) * len(model.parameters())
    trainer, reason = _make_trainer(engine, model, loss_fn, l2, optimizer, run_size,
                                    detect_anomaly)
    history = History(engine=trainer.engine, engine_reason=reason)
    batch_for_step = _batch_schedule(X, y, batch_size, n_samples, seed)
    start = 0
    if resume:
        if checkpoint is None:
            raise ValueError("resume=True needs checkpoint=PATH, the file to resume from")
        start = _resume(checkpoint, model, optimizer, history, dict(seed=seed, batch_size=batch_size))

    def save(k):
        if checkpoint is not None:
            trainer.publish()
            progress_so_far = dict(step=k, seed=seed, batch_size=batch_size,
                                   history=dict(loss=history.loss, accuracy=history.accuracy,
                                                lr=history.lr))
            checkpoint_file.write(checkpoint, model, optimizer, progress_so_far)

    show = progress and sys.stderr.isatty()
    bar = tqdm(range(start, steps), disable=not show, desc='training', unit='step',
               leave=False, initial=start, total=steps)
    try:
        with collector_paused(), _StopOnInterrupt() as interrupt:
            for k in bar:
                if schedule:
                    optimizer.lr = schedule(k)
                batch = batch_for_step(k)
                value, outputs, problem = trainer.train(batch)
                history.engine = trainer.engine
                history.engine_reason = trainer.reason or history.engine_reason
                if problem is not None:
                    trainer.publish()
                    raise TrainingError(_problem(k, problem, value, model, optimizer.lr), history)
                history.loss.append(value)
                history.lr.append(optimizer.lr)
                acc = accuracy(kind, outputs, *batch.targets())
                if acc is not None:
                    history.accuracy.append(acc)
                if show:
                    bar.set_postfix(loss=f'{value:.4g}', **({'acc': f'{acc:.0%}'} if acc is not None else {}))
                if callback is not None:
                    trainer.publish()
                    callback(k, history)
                    trainer.resume()  # user code ran: it may have changed a number the graph uses
                    batch.forget()    # ... or the data
                stop = interrupt.requested  # read once: a Ctrl-C during save() stops the next step
                history.interrupted = stop
                if stop or (k + 1) % checkpoint_every == 0 or k + 1 == steps:
                    save(k + 1)
                if stop:
                    break
    finally:
        trainer.publish()
        bar.close()
    return history


class _Batch:
    """One step's samples, as lists (for the eager engine) and as arrays (for the tape and
    for the accuracy), made once for a batch that comes back step after step."""

    __slots__ = ('X', 'y', '_arrays', '_targets')

    def __init__(self, X, y):
        self.X, self.y, self._arrays, self._targets = X, y, None, None

    def arrays(self):
        """(X as an array of rows, y as given to the loss, y's numbers as a flat array)."""
        if self._arrays is None:
            self._arrays = (np.asarray(self.X, dtype=float), self.y,
                            np.asarray(self.y, dtype=float).ravel())
        return self._arrays

    def forget(self):
        """Drop the arrays: the lists may have changed (a callback ran)."""
        self._arrays = self._targets = None

    def targets(self):
        """(y as an array, are all its targets +1 or -1?), for the accuracy."""
        if self._targets is None:
            y = np.asarray(self.y)
            self._targets = y, bool(((y == 1) | (y == -1)).all())
        return self._targets


def _batch_schedule(X, y, batch_size, n_samples, seed):
    """step -> its _Batch. Epoch e is shuffled by RandomState([seed, e]), so the batch of
    any step is known without replaying the steps before it (for resume). Only the
    epoch's order is kept; a batch is made when its step comes, so the memory does not
    grow with the data."""
    if batch_size is None or batch_size >= n_samples:
        whole = _Batch(_as_list(X), _as_list(y))
        return lambda k: whole
    per_epoch = -(-n_samples // batch_size)
    epoch = {}

    def batch_for_step(k):
        e, i = divmod(k, per_epoch)
        if e not in epoch:
            epoch.clear()
            epoch[e] = np.random.RandomState([seed, e]).permutation(n_samples)
        chosen = epoch[e][i * batch_size:(i + 1) * batch_size]
        return _Batch(_take(X, chosen), _take(y, chosen))
    return batch_for_step


def _as_list(data):
    """A NumPy array (load_csv's) as the plain lists that the engine computes with."""
    return data.tolist() if isinstance(data, np.ndarray) else data


def _take(data, chosen):
    if isinstance(data, np.ndarray):
        return data[chosen].tolist()
    return [data[j] for j in chosen.tolist()]


def _resume(path, model, optimizer, history, settings):
    """Load `path` into model, optimizer and history; the number of steps already done."""
    if not Path(path).exists():
        return 0
    document = checkpoint_file.read(path)
    checkpoint_file.restore_parameters(path, model, document)
    checkpoint_file.restore_optimizer(path, optimizer, document)
    progress = document.get('training') or {}
    for key, value in settings.items():
        if progress.get(key) != value:
            raise checkpoint_file.CheckpointError(
                f"{path}: saved by a run with {key}={progress.get(key)!r}, but this run has "
                f"{key}={value!r}; resume with the same settings")
    saved = progress['history']
    history.loss, history.accuracy, history.lr = saved['loss'], saved['accuracy'], saved['lr']
    return progress['step']


def _not_finite(value, params):
    """None if the loss and every gradient are finite; else -1 (the loss), or the index of
    the first parameter whose gradient is not."""
    if not math.isfinite(value):
        return -1
    return next((i for i, p in enumerate(params) if not math.isfinite(p.grad)), None)


def _problem(k, problem, value, model, lr):
    """The message of the TrainingError for what step k found not finite."""
    advice = (f"the model keeps its parameters from before this step. A smaller learning rate "
              f"(now {lr:g}) usually helps")
    if problem == -1:
        return f"step {k}: the loss is {value} (not finite); {advice}"
    grad = model.parameters()[problem].grad
    return f"step {k}: the gradient of parameter {problem} is {grad} (not finite); {advice}"


def lr_sweep(make_model, X, y, rates=(0.001, 0.01, 0.1, 1.0), steps=50, seed=42, **fit_kwargs):
    """The Day 5 experiment: train a fresh model at each learning rate, from the same seed.

    As the course does, `random.seed(seed)` comes before each `make_model()`, so that every
    rate starts from the same weights (the course's, for its seed); `seed` also orders
    fit()'s mini-batches, when `batch_size` is given. Returns {lr: list of losses}. A rate
    that blows up keeps the losses it had until then.
    """
    curves = {}
    for rate in rates:
        random.seed(seed)
        model = make_model()
        try:
            curves[rate] = fit(model, X, y, lr=rate, steps=steps, progress=False, seed=seed,
                               **fit_kwargs).loss
        except TrainingError as error:
            curves[rate] = error.history.loss
    return curves
