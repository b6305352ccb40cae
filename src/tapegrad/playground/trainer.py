"""A page's training run and its learning-rate sweep: fit() in a thread, watched from the page.

fit() is the one training loop; the run drives it through its callback, which fit()
calls after every step. There the run records a frame for the page and waits for leave
to take the next step: Train gives it leave for every step, Step for one, Pause for
none; closing the page or Reset stops it by raising `Stopped` out of the callback.
A step that makes the loss or a gradient non-finite ends fit() with TrainingError,
whose message the page shows; the model keeps the parameters it had before that step.
"""

import math
import threading
import time
from dataclasses import replace

from ..train import TrainingError, fit
from .frames import FrameMaker, run_facts
from .settings import COURSE_RATES, build_model, targets_for

FRAMES_PER_SECOND = 30
MAX_STEPS = 1_000_000  # a run ends by itself after this many steps


class Stopped(Exception):
    """The page closed, or asked for a fresh run: end the training thread."""


class Run:
    """One page's model, trained step by step on request; `publish(event)` sends to the page.

    States: 'ready' (no step yet), 'running', 'paused', 'diverged' (the last step was not
    finite), 'failed' (anything else went wrong), 'finished', 'stopped'.
    """

    def __init__(self, run_id, settings, dataset, publish):
        self.id, self.settings, self.dataset, self.publish = run_id, settings, dataset, publish
        self.loss = settings.loss_for(dataset)
        self.targets = targets_for(self.loss, dataset)
        self.model = build_model(settings, dataset)
        self.facts = dict(run_facts(settings, dataset, self.model, self.loss), run=run_id)
        self.frames = FrameMaker(self.model, dataset, self.facts)
        self.state, self.step, self.message = 'ready', 0, None
        self.snapshot = [p.data for p in self.model.parameters()]  # for the neuron graphs
        self._turn = threading.Condition()
        self._leave = 0  # steps the run may take before it waits; math.inf while training
        self._stopped = False
        self._thread = None
        self._last_frame = 0.0

    def first_frame(self):
        from ..train import History
        return self._frame(History())

    # -- the page's buttons ---------------------------------------------------------

    def control(self, action):
        """'train', 'pause' or 'step'; returns the state after it."""
        with self._turn:
            if self.state in ('diverged', 'failed', 'finished', 'stopped'):
                return self.state
            if action == 'train':
                self._leave, self.state = math.inf, 'running'
            elif action == 'pause':
                self._leave, self.state = 0, 'paused'
            elif action == 'step':  # one more step; a click while one runs adds another
                self._leave = (0 if self._leave == math.inf else self._leave) + 1
                self.state = 'paused'
            else:
                raise ValueError(f"unknown action {action!r}: train, pause, step or reset")
            self._turn.notify_all()
        if self._thread is None and action != 'pause':
            self._thread = threading.Thread(target=self._train, name=f'playground-run-{self.id}',
                                            daemon=True)
            self._thread.start()
        return self.state

    def set_steps_per_frame(self, steps_per_frame):
        """Send a frame every `steps_per_frame` steps from now on; the training goes on."""
        self.settings = replace(self.settings, steps_per_frame=steps_per_frame)

    def stop(self):
        with self._turn:
            self._stopped = True
            self._turn.notify_all()

    # -- the training thread ------------------------------------------------------

    def _wait_for_leave(self):
        with self._turn:
            while not self._stopped and self._leave <= 0:
                self._turn.wait()
            if self._stopped:
                raise Stopped
            self._leave -= 1

    def _pace(self):
        """While training freely, wait out the rest of this frame's 1/30 s."""
        with self._turn:
            delay = self._last_frame + 1 / FRAMES_PER_SECOND - time.perf_counter()
            if delay > 0 and self._leave == math.inf:
                self._turn.wait(delay)
            if self._stopped:
                raise Stopped

    def _frame(self, history):
        frame = dict(self.frames(self.step, history, self.state), run=self.id,
                     engine=history.engine if len(history) else None)
        self.snapshot = [p.data for p in self.model.parameters()]
        return frame

    def _after_step(self, k, history):
        self.step = k + 1
        if self.step % self.settings.steps_per_frame == 0 or self._leave != math.inf:
            self._pace()
            self._last_frame = time.perf_counter()
            self.publish(self._frame(history))
        self._wait_for_leave()

    def _train(self):
        try:
            self._wait_for_leave()
            history = fit(self.model, self.dataset.X, self.targets, steps=MAX_STEPS,
                          progress=False, callback=self._after_step,
                          **self.settings.fit_options(self.dataset))
            self.state = 'finished'
            self.publish(self._frame(history))
        except Stopped:
            self.state = 'stopped'
        except TrainingError as error:
            self.state, self.message = 'diverged', str(error)
            self.publish(self._frame(error.history))
            self.publish({'type': 'error', 'run': self.id, 'kind': 'diverged',
                          'message': f"Training stopped: {error}. The page shows the last "
                                     f"good model; press Reset to start again."})
        except Exception as error:  # noqa: BLE001 - whatever it is, the page must hear of it
            self.state, self.message = 'failed', f"{type(error).__name__}: {error}"
            self.publish({'type': 'error', 'run': self.id, 'kind': 'failed',
                          'message': f"Training failed: {self.message}"})


def warm_up():
    """Train a tiny model on the tape, so that the tape's first step for a page is quick:
    its modules imported, and numba's compiled loops loading from their cache (a tape's
    second step starts loading them in a thread, which the pages' runs then share)."""
    from ..nn import MLP
    fit(MLP(2, [2, 1]), [[0.0, 1.0], [1.0, 0.0]], [1, -1], loss='hinge', steps=2,
        engine='tape', progress=False)


class Sweep:
    """The Day 5 experiment on the page's settings: a fresh model at each course rate, for
    settings.steps steps; sends each rate's losses (and boundary) as it goes.

    As train.lr_sweep, but every setting but the rate is the page's, the seed of the
    mini-batches included, and the models are drawn from their own generators (this runs
    in a thread: the global random state is not its to reseed).
    """

    def __init__(self, sweep_id, settings, dataset, publish):
        self.id, self.settings, self.dataset, self._publish = sweep_id, settings, dataset, publish
        self.loss = settings.loss_for(dataset)
        self.targets = targets_for(self.loss, dataset)
        self.rates = COURSE_RATES
        self.makers = []
        self._stopped = False
        self._sending = threading.Lock()  # once stop() returns, nothing more is sent
        self._last_frame = 0.0
        self._thread = threading.Thread(target=self._sweep, name=f'playground-sweep-{sweep_id}',
                                        daemon=True)

    def start(self):
        self._thread.start()

    def stop(self):
        with self._sending:
            self._stopped = True

    def trains(self, settings, dataset):
        """Is a run of `settings` on `dataset` what this sweep trains, its rate and steps aside?"""
        mine = self.settings
        return (replace(settings, lr=mine.lr, steps=mine.steps, steps_per_frame=mine.steps_per_frame)
                == mine and dataset == self.dataset)

    def publish(self, event):
        with self._sending:
            if self._stopped:
                raise Stopped
            self._publish(event)

    def _new_model(self):
        model = build_model(self.settings, self.dataset)
        facts = run_facts(self.settings, self.dataset, model, self.loss)
        self.makers.append(FrameMaker(model, self.dataset, facts))
        return model

    def _after_step(self, k, history):
        if self._stopped:
            raise Stopped
        now = time.perf_counter()
        if now - self._last_frame >= 1 / FRAMES_PER_SECOND or k + 1 == self.settings.steps:
            self._last_frame = now
            self._send(k + 1, history)

    def _send(self, step, history):
        index = len(self.makers) - 1
        frame = self.makers[index](step, history, 'sweep')
        self.publish(dict(frame, type='sweep', sweep=self.id, rate=self.rates[index],
                          index=index))

    def _sweep(self):
        try:
            curves = self._curves()
            self._done(curves)
        except Stopped:
            pass
        except Exception as error:  # noqa: BLE001 - whatever it is, the page must hear of it
            try:
                self.publish({'type': 'error', 'kind': 'sweep', 'sweep': self.id,
                              'message': f"The sweep failed: {type(error).__name__}: {error}"})
            except Stopped:
                pass

    def _curves(self):
        """{rate: its losses}; a rate that blows up keeps the losses it had until then."""
        options = self.settings.fit_options(self.dataset)
        del options['lr']  # the sweep's to choose
        curves = {}
        for rate in self.rates:
            try:
                history = fit(self._new_model(), self.dataset.X, self.targets, lr=rate,
                              steps=self.settings.steps, progress=False,
                              callback=self._after_step, **options)
            except TrainingError as error:
                history = error.history
            curves[rate] = history.loss
        return curves

    def _done(self, curves):
        notes = {}
        for rate, curve in curves.items():
            if len(curve) < self.settings.steps:
                notes[str(rate)] = (f"stopped after {len(curve)} steps: the loss or a gradient "
                                    f"was no longer finite (too large a rate)")
        self.publish({'type': 'sweep-done', 'sweep': self.id, 'notes': notes,
                      'final': {str(rate): curve[-1] if curve and math.isfinite(curve[-1]) else None
                                for rate, curve in curves.items()}})
