"""TapeStep: fit()'s training step on the tape, the twin of train.EagerStep.

A model computes the same function of every sample, so the step traces the model on one
sample and replays that tape over the whole batch at once, one row per sample (see
replay.py); the loss is traced apart, over placeholders for the batch's predictions.

The batch's parameter gradients are sums over the samples, and the eager backward()
adds the samples' terms in the order their graphs appear in the loss's graph. That order
is read off the loss's graph, so the step gives EagerStep's numbers to the last bit. It
holds when the graph is made of one block per sample: the eager backward then visits the
loss's nodes after the last sample (the L2 term, say), the samples' blocks one by one,
and the loss's nodes before the first sample. Where a graph is not so (a parameter read
twice by one sample, parameters mixed into the loss between the samples), the step
traces the whole batch as compile() does: slower, and exact all the same.
"""

import dataclasses
import functools

import numpy as np

from .. import losses
from ..engine import Value, topological_order
from ..nn import MLP, Layer, Neuron
from . import training
from .api import (ONE_SAMPLE, CompiledFunction, _check_params, _flatten, _nest, _placeholders,
                  _read, _seed, _value, _values_in, _write_grads)
from .backend import Backend
from .passes import optimize
from .tape import LEAVES
from .trace import (DataArgument, DataDependentError, TapeError, collector_paused,
                    differs_between_calls, same_tape, tape_of, traced)

MAX_PLANS = 64  # plans kept for losses traced with the targets as numbers (one per batch)
_NO_STATE, _NO_SETTINGS = np.zeros((0, 0)), np.zeros(0)  # for a step without an update


class TapeStep:
    """Forward and backward over one batch with the tape; the contract of EagerStep.

    `step(X, y)` returns (loss as a float, the model's outputs as floats) and leaves the
    batch's gradients in the parameters' `.grad` (zeroed first). X is a list of rows of
    floats, y the targets; the batch size may change from call to call. The model is
    traced at the first call: its parameters are the Values model.parameters() gives
    then (their .data is read at every call). `backend`: 'numba', 'numpy', or None for
    numba where it is installed, NumPy until numba's loops are compiled (backend.py).
    A model that reads `.data` or compares its inputs cannot be traced: the first call
    raises DataDependentError (use EagerStep).
    """

    engine = 'tape'

    def __init__(self, model, loss, l2=0.0, *, backend=None):
        self.model, self.loss, self.l2 = model, loss, l2
        # tapegrad's own MLP and losses draw no random numbers and build the same graph
        # at every call: one trace will do; anything else is traced twice and compared
        self.own_model, self.own_loss = _own_model(model), _own_loss(loss)
        self.backend = Backend(backend)
        self.params = None
        self.targets_as_numbers = False  # the loss needs the targets' numbers (label indexing)
        self._models = {}  # row width -> _ModelTrace
        self._plans = {}   # batch shape (and targets, if numbers) -> _Batched or _WholeBatch

    def __call__(self, X, y):
        X, y_shape, y_flat = self._batch(X, y)
        return self._plan(X, y, y_shape, y_flat).run(self, X, y, y_flat)

    def parameters(self):
        """The Values the tape reads: model.parameters() as they were at the first call."""
        if self.params is None:
            self.params = _check_params(self.model.parameters())
            self._structure_traced = self._structure() if self.own_model else None
        return self.params

    def trainer(self, optimizer):
        """fit()'s steps with `optimizer`, the state in arrays (training.Trainer)."""
        return training.Trainer(self, optimizer)

    def train_arrays(self, X, y, pvals, pgrad, update, hyper, y_flat=None):
        """A training step on arrays: forward, backward (gradients into pgrad), and unless
        something is not finite, `update` with the settings `hyper` (see training.py).
        Returns (loss, outputs as an array (samples, outputs), None or what was not finite).
        `y_flat`: y's numbers as a flat array, if the caller has them."""
        X, y_shape, y_flat = self._batch(X, y, y_flat)
        plan = self._plan(X, y, y_shape, y_flat)
        return plan.train(self, X, y_flat, pvals, pgrad, update, hyper)

    def _batch(self, X, y, y_flat=None):
        X = _rows(X)
        if y_flat is None:
            y_shape, y_flat = _flatten(y)
        else:
            y_shape = np.shape(y) if isinstance(y, np.ndarray) else (len(y),)
        if len(y) != len(X):
            raise TapeError(f"X has {len(X)} rows but y has {len(y)} targets")
        if self.backend.upgraded():  # numba's loops are ready: replay with them from now on
            for plan in self._plans.values():
                plan.rebuild(self.backend)
        return X, y_shape, y_flat

    def tapes(self, X, y):
        """The tapes a batch like (X, y) replays: (the model's, the loss's) or (the batch's,)."""
        X = _rows(X)
        return self._plan(X, y, *_flatten(y)).tapes(X, y)

    def refresh(self):
        """Trace the model and the loss again, after user code ran between two calls (fit's
        callback). Where a trace now differs (a loss weight changed, say), the next call
        replays the new one, as the eager engine would follow the new number.

        tapegrad's own MLP and losses read no number but their parameters' (and the L2
        weight, which this step holds): for them it is enough to check that the model
        still has the same parameters and activations, which is much quicker.
        """
        if self.own_model and self.own_loss:
            changed = self._structure() != self._structure_traced
        else:
            changed = any(not same_tape(model.whole, self._trace_model(width, twice=False).whole)
                          for width, model in self._models.items())
            changed = changed or any(plan.changed(self) for plan in self._plans.values())
        if changed:
            self._models.clear()
            self._plans.clear()
            self.params = None

    def _structure(self):
        """What a tape of tapegrad's own MLP depends on besides the parameters' numbers:
        which Values its parameters are, and each neuron's activation."""
        return [id(p) for p in self.model.parameters()], [n.act for n in _neurons(self.model)]

    # -- tracing ------------------------------------------------------------------------

    def _plan(self, X, y, y_shape, y_flat):
        """The plan for a batch like this one, traced on first sight."""
        self.parameters()
        key = (X.shape, y_shape) + ((tuple(y_flat.tolist()),) if self.targets_as_numbers else ())
        if key not in self._plans:
            if len(self._plans) >= MAX_PLANS:
                self._plans.clear()
            with collector_paused():
                self._plans[key] = self._new_plan(X, y, y_flat)
            if self.backend.traced(len(self.params) * len(X)):  # (a big one: on numba's loops)
                for plan in self._plans.values():
                    plan.rebuild(self.backend)
        return self._plans[key]

    def _new_plan(self, X, y, y_flat):
        width = X.shape[1]
        if width not in self._models:
            self._models[width] = self._trace_model(width)
        model = self._models[width]
        try:
            traced_loss = self._trace_loss(model, len(X), y, y_flat)
        except DataDependentError:
            if self.targets_as_numbers:
                raise
            self.targets_as_numbers = True  # e.g. a loss that picks logits[label]
            traced_loss = self._trace_loss(model, len(X), y, y_flat)
        blocks = traced_loss.blocks(self.params)
        if blocks is None or not model.fits_batch(blocks.reached):
            return _WholeBatch(self, y)
        return _Batched.of(self, model, traced_loss, blocks, len(X))

    def _trace_model(self, width, twice=True):
        return _twice(lambda: _ModelTrace(self.model, self.params, width), 'the model',
                      twice and not self.own_model)

    def _trace_loss(self, model, batch, y, y_flat, twice=True):
        return _twice(lambda: _LossTrace(self, model, batch, y, y_flat), 'the loss function',
                      twice and not self.own_loss)

    def eager_loss(self, predictions, targets):
        """The loss as EagerStep builds it: the loss function, plus the L2 term if any.

        (What the loss function returned is checked by the caller, after tracing: a loss
        that is not a Value is the code's own error, not a reason to leave the tape.)
        """
        loss = self.loss(predictions, targets)
        if self.l2 and isinstance(loss, Value):
            loss = loss + losses.l2(self.model.parameters(), self.l2)
        return loss


def _neurons(model):
    """The Neurons of tapegrad's own MLP, Layer or Neuron."""
    if isinstance(model, MLP):
        return [n for layer in model.layers for n in layer.neurons]
    return model.neurons if isinstance(model, Layer) else [model]


def _own_model(model):
    """Is `model` tapegrad's own MLP, Layer or Neuron, all the way down (no subclass)?"""
    if type(model) is MLP:
        return all(map(_own_model, model.layers))
    if type(model) is Layer:
        return all(map(_own_model, model.neurons))
    return type(model) is Neuron


def _own_loss(loss):
    """Is `loss` one of tapegrad.losses (as fit() passes them: mse with its reduction)?"""
    own = (losses.mse, losses.hinge, losses.binary_cross_entropy, losses.cross_entropy)
    if isinstance(loss, functools.partial):
        return loss.func in own and not loss.args and set(loss.keywords) <= {'reduction'}
    return loss in own


def _twice(trace, what, twice=True):
    """trace(), checked against a second trace(): a function whose graph or constants
    change from call to call (a random draw, a counter) cannot be replayed from a tape."""
    first = trace()
    if twice and not same_tape(first.whole, trace().whole):
        raise differs_between_calls(what)
    return first


def _rows(X):
    try:
        X = np.asarray(X, dtype=float)
    except (TypeError, ValueError) as error:
        raise TapeError(f"X must be a list of rows of numbers, all as long: {error}") from None
    if X.ndim != 2 or len(X) == 0:
        raise TapeError(f"X must be a non-empty list of rows of numbers; got shape {X.shape}")
    return X


class _ModelTrace:
    """The model's graph for one sample of `width` placeholder inputs."""

    def __init__(self, model, params, width):
        self.params = params
        self.inputs = [DataArgument(0.0) for _ in range(width)]
        with traced(params, self.inputs) as recorder:
            output = model(self.inputs)
        self.template, self.outputs = _values_in(output, "the model's output")
        self.made = recorder.made
        self.whole = tape_of(self.outputs, params, self.inputs, self.made,
                             n_differentiated=len(self.outputs))
        self.tapes = {}  # the outputs the loss reaches, in order -> optimised tape

    def tape(self, reached):
        """The tape over the outputs, those the loss reaches first (in the order it does)."""
        if reached not in self.tapes:
            if reached == tuple(range(len(self.outputs))):  # all of them, in order: as traced
                tape = self.whole
            else:
                rest = [j for j in range(len(self.outputs)) if j not in reached]
                outputs = [self.outputs[j] for j in reached + tuple(rest)]
                tape = tape_of(outputs, self.params, self.inputs, self.made,
                               n_differentiated=len(reached))
            self.tapes[reached] = (tape, optimize(tape))
        return self.tapes[reached]

    def fits_batch(self, reached):
        """Can one replay over the batch add the parameters' terms in eager order?

        Yes if each parameter is read at most once in the backward part (so its terms
        are one per sample) and no output the loss reads is also read inside the model.
        """
        tape, _ = self.tape(reached)
        reads = [0] * tape.n_slots
        for ins in tape.instructions[:tape.backward_end]:
            for s in ins.args:
                reads[s] += 1
        outputs = tape.outputs[:len(reached)]
        return (all(reads[p] <= 1 for p in range(tape.n_params))
                and len(set(outputs)) == len(outputs)
                and all(tape.instructions[s].op not in LEAVES and reads[s] == 0 for s in outputs))


class _LossTrace:
    """The loss over placeholders for the predictions of a batch (and for the targets)."""

    def __init__(self, step, model, batch, y, y_flat):
        n_out = len(model.outputs)
        self.predictions = [[DataArgument(0.0) for _ in range(n_out)] for _ in range(batch)]
        self.targets = [] if step.targets_as_numbers else [DataArgument(t) for t in y_flat.tolist()]
        targets = y if step.targets_as_numbers else _placeholders(y, iter(self.targets))
        self.inputs = [v for p in self.predictions for v in p] + self.targets
        with traced(step.params, self.inputs) as recorder:
            loss = step.loss([_nest(model.template, iter(p)) for p in self.predictions], targets)
        self.made = recorder.made
        if step.l2 and isinstance(loss, Value):
            # the L2 term as EagerStep adds it (see eager_loss); tapegrad's own code over the
            # parameters alone, built outside the watch (which would only slow down its
            # hundred thousand nodes on a wide model): its constants are named here
            penalty = losses.l2(step.model.parameters(), step.l2)
            self.made = self.made | {id(v) for v in topological_order(penalty) if v._a is None}
            loss = loss + penalty
        self.loss = losses.checked_loss(loss)
        self.whole = tape_of([self.loss], step.params, self.inputs, self.made, range(batch * n_out))
        self.batch, self.y, self.y_flat = batch, y, y_flat  # to trace it again

    def blocks(self, params):
        """Where each sample's predictions sit in the loss's graph, if it is block-shaped.

        Returns None unless every sample's outputs are reached in the same order, the
        samples' spans do not overlap, and no node between the first and the last
        sample reads a parameter.
        """
        order = topological_order(self.loss)
        position = {id(v): i for i, v in enumerate(order)}
        spans, reached = [], None
        for k, outputs in enumerate(self.predictions):
            seen = sorted((position[id(v)], j) for j, v in enumerate(outputs) if id(v) in position)
            if not seen or reached not in (None, tuple(j for _, j in seen)):
                return None
            reached = tuple(j for _, j in seen)
            spans.append((seen[0][0], seen[-1][0], k))
        spans.sort()
        if any(a[1] > b[0] for a, b in zip(spans, spans[1:])):
            return None
        first, last = spans[0][0], spans[-1][1]
        param_ids = {id(p) for p in params}
        if any(any(id(c) in param_ids for c in v._prev) for v in order[first:last]):
            return None
        return _Blocks(reached, [k for _, _, k in reversed(spans)])


class _Blocks:
    """The shape of a block-shaped loss graph."""

    def __init__(self, reached, order):
        self.reached = reached  # the outputs the loss reads, in its order
        self.order = order      # samples in eager backward's order


class _Batched:
    """One replay of the model's tape over the batch, and one of the loss's tape.

    `sample_tape` (optimised) computes one sample's outputs, those the loss reaches first
    (in the order `reached`); `loss_tape` (as traced) reads the batch's predictions (its
    first batch * n_out inputs, sample by sample) and any other inputs (the targets).
    `order`: the samples in the order the eager backward visits their graphs.
    """

    def __init__(self, backend, sample_tape, loss_tape, n_out, reached, order, batch):
        self.reached, self.order = reached, np.asarray(order, dtype=np.int64)
        self.sample = backend.replay(sample_tape, batch, flat=False)
        grad_inputs = range(batch * n_out)
        loss_tape = dataclasses.replace(loss_tape)  # a copy: its boundaries are set here
        # the loss's nodes from the first one that reads a prediction on are those the
        # eager backward visits before the samples' blocks (a caller makes sure no node
        # between the samples reads a parameter, so it does not matter on which side
        # those fall)
        predictions = {i.out[0] for i in loss_tape.instructions
                       if i.op == 'input' and i.arg in grad_inputs}
        loss_tape.boundaries = (next(n for n, i in enumerate(loss_tape.instructions)
                                     if predictions.intersection(i.args)),)
        loss_tape = optimize(loss_tape)
        self.cut = loss_tape.boundaries[0]
        self.loss = backend.replay(loss_tape, 1)
        # the model's outputs, in the model's order, as rows of the sample replay
        by_model_order = list(reached) + [j for j in range(n_out) if j not in reached]
        rows = {j: s - self.sample.n_params for j, s in zip(by_model_order, sample_tape.outputs)}
        self.output_rows = [rows[j] for j in range(n_out)]
        self.reached_rows = [rows[j] for j in reached]
        start = self.loss.inputs.start
        self.prediction_rows = slice(start, start + batch * n_out)
        self.target_rows = slice(start + batch * n_out, self.loss.inputs.stop)

    @classmethod
    def of(cls, step, model, traced_loss, blocks, batch):
        """TapeStep's plan: the model and the loss traced apart."""
        _, sample_tape = model.tape(blocks.reached)
        plan = cls(step.backend, sample_tape, traced_loss.whole, len(model.outputs),
                   blocks.reached, blocks.order, batch)
        plan.model_trace, plan.traced_loss, plan.template = model, traced_loss, model.template
        return plan

    def tapes(self, X, y):
        return self.sample.tape, self.loss.tape

    def rebuild(self, backend):
        self.sample = backend.replay(self.sample.tape, self.sample.batch, flat=False)
        self.loss = backend.replay(self.loss.tape, 1)

    def changed(self, step):
        """Does the loss, traced again now, build another graph or other constants?"""
        old = self.traced_loss
        fresh = step._trace_loss(self.model_trace, old.batch, old.y, old.y_flat, twice=False)
        return not same_tape(old.whole, fresh.whole)

    def run(self, step, X, y, y_flat):
        pvals = _read(step.params)
        pgrad = np.zeros(len(step.params))
        value, outputs = self.forward_backward(X, np.asarray(y_flat, dtype=float), pvals, pgrad)
        _write_grads(step.params, pgrad)
        if self.template is None:
            return value, outputs[:, 0].tolist()
        return value, [_nest(self.template, iter(row)) for row in outputs.tolist()]

    def forward_backward(self, X, y_flat, pvals, pgrad, accumulate=False):
        """The batch's loss, and its gradient into pgrad (added to what it holds, if
        `accumulate`, as leaves accumulate): (loss, outputs (samples, outputs))."""
        if self.fused is not None:  # numba: all of it in one call
            from .replay_numba import NO_UPDATE, batched_step
            value, _ = batched_step(*self.fused, X, y_flat, pvals, pgrad, self.order, NO_UPDATE,
                                    _NO_STATE, _NO_SETTINGS, False, accumulate)
            return value, self.sample.values[self.output_rows].T
        sample, loss = self.sample, self.loss
        sample.values[sample.inputs] = X.T
        sample.forward(pvals)
        outputs = sample.values[self.output_rows]  # (outputs, batch)
        loss.values[self.prediction_rows, 0] = outputs.T.ravel() if len(outputs) > 1 else outputs[0]
        if self.target_rows.stop > self.target_rows.start:
            loss.values[self.target_rows, 0] = y_flat
        loss.forward(pvals)
        # backward in the eager order: the loss's nodes after the first sample, the
        # samples' blocks (in self.order), then the loss's nodes before the first sample
        if not accumulate:
            pgrad[:] = 0.0
        _seed(loss, pgrad)
        loss.backward(pvals, pgrad, ONE_SAMPLE, self.cut)
        n_out = len(self.output_rows)
        prediction_grads = loss.grads[self.prediction_rows, 0].reshape(-1, n_out).T
        sample.grads[:] = 0.0
        sample.grads[self.reached_rows] = prediction_grads[list(self.reached)]
        sample.backward(pvals, pgrad, self.order)
        loss.backward(pvals, pgrad, ONE_SAMPLE, 0, self.cut)
        return _value(loss, pvals, loss.tape.outputs[0]), outputs.T

    def train(self, step, X, y_flat, pvals, pgrad, update, hyper):
        """forward_backward and the update; with numba's loops, all of it in one call.
        (`step` None: a caller that does not need the outputs, compile().)"""
        if self.fused is None or update.kind == training.PYTHON:
            value, outputs = self.forward_backward(X, y_flat, pvals, pgrad)
            return value, outputs, training.update_unless_not_finite(
                value, pvals, pgrad, update, hyper, compiled=self.fused is not None)
        from .replay_numba import batched_step
        value, problem = batched_step(*self.fused, X, y_flat, pvals, pgrad, self.order,
                                      training.KERNEL_KIND[update.kind], update.state, hyper,
                                      update.first, False)
        outputs = self.sample.values[self.output_rows].T if step is not None else None
        return value, outputs, None if problem == -2 else problem

    @property
    def fused(self):
        """The arrays of both replays and of the links between them, as batched_step takes them
        (None unless both replays run on numba's loops)."""
        sample, loss = self.sample, self.loss
        made_for = getattr(self, '_fused_for', (None, None))
        if made_for[0] is sample and made_for[1] is loss:
            return self._fused
        self._fused_for, self._fused = (sample, loss), None
        if hasattr(sample, 'code') and hasattr(loss, 'code'):
            P = sample.n_params
            self._fused = (
                (sample.code, sample.start, sample.args, sample.karg, sample.needs, sample.values,
                 sample.grads, sample.scratch, sample.work, sample.first,
                 sample.tape.backward_end),
                (loss.code, loss.start, loss.args, loss.karg, loss.needs, loss.flat,
                 loss.flat_grads, loss.first, max(self.cut, loss.first),
                 loss.tape.backward_end, loss.tape.outputs[0]),
                (sample.inputs.start, np.array(self.output_rows, dtype=np.int64),
                 np.array(self.reached_rows, dtype=np.int64),
                 np.array(self.reached, dtype=np.int64), P + self.prediction_rows.start,
                 P + self.target_rows.start))
        return self._fused


class _WholeBatch:
    """The whole batch's graph as one tape, through compile(): for any graph shape."""

    def __init__(self, step, y):
        model = step.model

        def whole_batch(X, *targets):
            predictions = [model(x) for x in X]
            return step.eager_loss(predictions, targets[0] if targets else y), predictions

        self.targets_as_numbers = step.targets_as_numbers
        self.y_shape = np.shape(y)
        self.compiled = CompiledFunction(whole_batch, step.params, step.backend.requested)

    def data(self, X, y):
        return (X,) if self.targets_as_numbers else (X, y)

    def tapes(self, X, y):
        return (self.compiled.tape(*self.data(X, y)),)

    def rebuild(self, backend):
        pass  # its CompiledFunction moves to numba's loops by itself

    def changed(self, step):
        return self.compiled.refresh()

    def run(self, step, X, y, y_flat):
        for p in step.params:
            p.grad = 0.0
        return self.compiled(*self.data(X, y))

    def train(self, step, X, y_flat, pvals, pgrad, update, hyper):
        y = y_flat.tolist() if self.targets_as_numbers else np.reshape(y_flat, self.y_shape).tolist()
        pgrad[:] = 0.0
        value, outputs = self.compiled.run_arrays(pvals, pgrad, *self.data(X, y))
        outputs = np.array(outputs, dtype=float).reshape(len(X), -1)
        compiled = step.backend.active == 'numba'
        return value, outputs, training.update_unless_not_finite(value, pvals, pgrad, update,
                                                                 hyper, compiled)


def warm_up_training():
    """Compile (or load) numba's training loops for the types fit() calls them with."""
    import random

    from .. import optim
    from ..nn import MLP
    from .replay_numba import update_step
    model = MLP(2, [2, 1], rng=random.Random(0))
    trainer = TapeStep(model, losses.hinge, l2=1e-4, backend='numba').trainer(
        optim.SGD(model.parameters(), lr=0.1))
    trainer.train(np.array([[0.5, -1.0], [1.0, 2.0]]), [1, -1])
    update_step(1, np.zeros(1), np.zeros(1), np.zeros((1, 1)), np.zeros(5), True, 0.0)
