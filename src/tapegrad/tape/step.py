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

import numpy as np

from .. import losses
from ..engine import Value, topological_order
from .api import (ONE_SAMPLE, CompiledFunction, _check_params, _flatten, _nest, _placeholders,
                  _read, _seed, _value, _values_in, _write_grads)
from .backend import Backend
from .passes import optimize
from .tape import LEAVES
from .trace import (DataArgument, DataDependentError, TapeError, differs_between_calls,
                    same_tape, tape_of, traced)

MAX_PLANS = 64  # plans kept for losses traced with the targets as numbers (one per batch)


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
        self.backend = Backend(backend)
        self.params = None
        self.targets_as_numbers = False  # the loss needs the targets' numbers (label indexing)
        self._models = {}  # row width -> _ModelTrace
        self._plans = {}   # batch shape (and targets, if numbers) -> _Batched or _WholeBatch

    def __call__(self, X, y):
        X = _rows(X)
        y_shape, y_flat = _flatten(y)
        if len(y) != len(X):
            raise TapeError(f"X has {len(X)} rows but y has {len(y)} targets")
        if self.backend.upgraded():  # numba's loops are ready: replay with them from now on
            for plan in self._plans.values():
                plan.rebuild(self.backend)
        return self._plan(X, y, y_shape, y_flat).run(self, X, y, y_flat)

    def tapes(self, X, y):
        """The tapes a batch like (X, y) replays: (the model's, the loss's) or (the batch's,)."""
        X = _rows(X)
        return self._plan(X, y, *_flatten(y)).tapes(X, y)

    def refresh(self):
        """Trace the model and the loss again, after user code ran between two calls (fit's
        callback). Where a trace now differs (a loss weight changed, say), the next call
        replays the new one, as the eager engine would follow the new number."""
        changed = any(not same_tape(model.whole, self._trace_model(width, twice=False).whole)
                      for width, model in self._models.items())
        changed = changed or any(plan.changed(self) for plan in self._plans.values())
        if changed:
            self._models.clear()
            self._plans.clear()

    # -- tracing ------------------------------------------------------------------------

    def _plan(self, X, y, y_shape, y_flat):
        """The plan for a batch like this one, traced on first sight."""
        if self.params is None:
            self.params = _check_params(self.model.parameters())
        key = (X.shape, y_shape) + ((tuple(y_flat),) if self.targets_as_numbers else ())
        if key not in self._plans:
            if len(self._plans) >= MAX_PLANS:
                self._plans.clear()
            self._plans[key] = self._new_plan(X, y, y_flat)
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
        return _Batched(self, model, traced_loss, blocks, len(X))

    def _trace_model(self, width, twice=True):
        return _twice(lambda: _ModelTrace(self.model, self.params, width), 'the model', twice)

    def _trace_loss(self, model, batch, y, y_flat, twice=True):
        return _twice(lambda: _LossTrace(self, model, batch, y, y_flat), 'the loss function',
                      twice)

    def eager_loss(self, predictions, targets):
        """The loss as EagerStep builds it: the loss function, plus the L2 term if any.

        (What the loss function returned is checked by the caller, after tracing: a loss
        that is not a Value is the code's own error, not a reason to leave the tape.)
        """
        loss = self.loss(predictions, targets)
        if self.l2 and isinstance(loss, Value):
            loss = loss + losses.l2(self.model.parameters(), self.l2)
        return loss


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
        self.targets = [] if step.targets_as_numbers else [DataArgument(t) for t in y_flat]
        targets = y if step.targets_as_numbers else _placeholders(y, iter(self.targets))
        self.inputs = [v for p in self.predictions for v in p] + self.targets
        with traced(step.params, self.inputs) as recorder:
            self.loss = step.eager_loss([_nest(model.template, iter(p)) for p in self.predictions],
                                        targets)
        losses.checked_loss(self.loss)
        self.made = recorder.made
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
        self.reached = reached                        # the outputs the loss reads, in its order
        self.order = np.array(order, dtype=np.int64)  # samples in eager backward's order


class _Batched:
    """One replay of the model's tape over the batch, and one of the loss's tape."""

    def __init__(self, step, model, traced_loss, blocks, batch):
        self.model_trace, self.traced_loss = model, traced_loss
        self.reached, self.order = blocks.reached, blocks.order
        self.template = model.template
        _, sample_tape = model.tape(blocks.reached)
        self.sample = step.backend.replay(sample_tape, batch)
        n_out = len(model.outputs)
        grad_inputs = range(batch * n_out)
        loss_tape = tape_of([traced_loss.loss], step.params, traced_loss.inputs,
                            traced_loss.made, grad_inputs)
        # the loss's nodes from the first one that reads a prediction on are those the
        # eager backward visits before the samples' blocks (blocks() made sure no node
        # between the samples reads a parameter, so it does not matter on which side
        # those fall)
        predictions = {i.out[0] for i in loss_tape.instructions
                       if i.op == 'input' and i.arg in grad_inputs}
        loss_tape.boundaries = (next(n for n, i in enumerate(loss_tape.instructions)
                                     if predictions.intersection(i.args)),)
        loss_tape = optimize(loss_tape)
        self.cut = loss_tape.boundaries[0]
        self.loss = step.backend.replay(loss_tape, 1)
        # the model's outputs, in the model's order, as rows of the sample replay
        by_model_order = list(blocks.reached) + [j for j in range(n_out) if j not in blocks.reached]
        rows = {j: s - self.sample.n_params for j, s in zip(by_model_order, sample_tape.outputs)}
        self.output_rows = [rows[j] for j in range(n_out)]
        self.reached_rows = [rows[j] for j in blocks.reached]
        start = self.loss.inputs.start
        self.prediction_rows = slice(start, start + batch * n_out)
        self.target_rows = slice(start + batch * n_out, self.loss.inputs.stop)

    def tapes(self, X, y):
        return self.sample.tape, self.loss.tape

    def rebuild(self, backend):
        self.sample = backend.replay(self.sample.tape, self.sample.batch)
        self.loss = backend.replay(self.loss.tape, 1)

    def changed(self, step):
        """Does the loss, traced again now, build another graph or other constants?"""
        old = self.traced_loss
        fresh = step._trace_loss(self.model_trace, old.batch, old.y, old.y_flat, twice=False)
        return not same_tape(old.whole, fresh.whole)

    def run(self, step, X, y, y_flat):
        sample, loss = self.sample, self.loss
        pvals = _read(step.params)
        pgrad = np.zeros(len(step.params))
        sample.values[sample.inputs] = X.T
        sample.forward(pvals)
        outputs = sample.values[self.output_rows]  # (outputs, batch)
        loss.values[self.prediction_rows, 0] = outputs.T.ravel() if len(outputs) > 1 else outputs[0]
        if self.target_rows.stop > self.target_rows.start:
            loss.values[self.target_rows, 0] = y_flat
        loss.forward(pvals)
        # backward in the eager order: the loss's nodes after the first sample, the
        # samples' blocks (in self.order), then the loss's nodes before the first sample
        _seed(loss, pgrad)
        loss.backward(pvals, pgrad, ONE_SAMPLE, self.cut)
        n_out = len(self.output_rows)
        prediction_grads = loss.grads[self.prediction_rows, 0].reshape(-1, n_out).T
        sample.grads[:] = 0.0
        sample.grads[self.reached_rows] = prediction_grads[list(self.reached)]
        sample.backward(pvals, pgrad, self.order)
        loss.backward(pvals, pgrad, ONE_SAMPLE, 0, self.cut)
        _write_grads(step.params, pgrad)
        value = _value(loss, pvals, loss.tape.outputs[0])
        if self.template is None:
            return value, outputs[0].tolist()
        return value, [_nest(self.template, iter(column)) for column in outputs.T.tolist()]


class _WholeBatch:
    """The whole batch's graph as one tape, through compile(): for any graph shape."""

    def __init__(self, step, y):
        model = step.model

        def whole_batch(X, *targets):
            predictions = [model(x) for x in X]
            return step.eager_loss(predictions, targets[0] if targets else y), predictions

        self.targets_as_numbers = step.targets_as_numbers
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
