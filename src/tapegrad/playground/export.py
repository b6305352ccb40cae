"""A finished training run as one self-contained HTML file that replays it, offline.

The file holds the page's drawing code and the run's frames (boundary, curves and network
every few steps) as JSON: open it from disk, mail it, or show it in a notebook with
`show(path)`. Nothing in it reaches the network.
"""

import html
import json
import math
from pathlib import Path

from ..train import History, TrainingError, fit
from .frames import GRID, FrameMaker, run_facts
from .settings import SettingsError, build_model, built_in, read_csv, settings_from, targets_for

STATIC = Path(__file__).resolve().parent / 'static'
SCRIPTS = ('draw.js', 'replay.js')


def _csv_file(name):
    """The Dataset in the CSV file `name`, or None if `name` is not a file's name."""
    path = Path(str(name))
    if path.suffix.lower() != '.csv' and not path.is_file():
        return None
    try:
        content = path.read_bytes()
    except OSError as error:
        raise SettingsError(f"cannot read {name}: {error.strerror}", 'dataset') from None
    return read_csv(path.name, content)


def record_run(settings, frames=60, dataset=None, grid=GRID):
    """Train as the page would for settings.steps steps; keep about `frames` frames of it,
    each boundary a grid x grid picture."""
    dataset = dataset or built_in(settings.dataset)
    options = settings.fit_options(dataset)
    targets = targets_for(options['loss'], dataset)
    model = build_model(settings, dataset)
    facts = run_facts(settings, dataset, model, options['loss'], grid)
    maker = FrameMaker(model, dataset, facts)
    every = max(1, math.ceil(settings.steps / frames))
    recorded = [maker(0, History(), 'replay')]

    def keep(k, history):
        if (k + 1) % every == 0 or k + 1 == settings.steps:
            recorded.append(dict(maker(k + 1, history, 'replay'), engine=history.engine))

    message = None
    try:
        fit(model, dataset.X, targets, steps=settings.steps, progress=False, callback=keep,
            **options)
    except TrainingError as error:
        message = f"Training stopped: {error}"
        if recorded[-1]['step'] != len(error.history):
            recorded.append(maker(len(error.history), error.history, 'replay'))
    return {'facts': facts, 'frames': recorded, 'message': message, 'steps': settings.steps}


def replay_html(run):
    """The HTML page that replays `run` (from record_run), scripts and data inlined."""
    template = (STATIC / 'replay.html').read_text(encoding='utf-8')
    style = (STATIC / 'playground.css').read_text(encoding='utf-8')
    scripts = '\n'.join((STATIC / name).read_text(encoding='utf-8') for name in SCRIPTS)
    # "</" cannot end the script elements early
    data = json.dumps(run, allow_nan=False, separators=(',', ':')).replace('</', '<\\/')
    return (template.replace('/*STYLE*/', style)
                    .replace('/*SCRIPTS*/', scripts.replace('</', '<\\/'))
                    .replace('/*RUN*/', data))


def export_run(path, settings=None, frames=60, grid=GRID, **fields):
    """Train and write the replay to `path`; returns (path, the run).

    The training is `settings` (a Settings), or the page's fields as keywords:
    export_run('run.html', dataset='moons', hidden=[16, 16], lr=0.1, steps=100), where
    the dataset may also be a CSV file's path. `frames` and `grid` (the boundary's cells
    a side) set the file's size.
    """
    dataset = _csv_file(fields['dataset']) if 'dataset' in fields else None
    if dataset is not None:
        fields['dataset'] = 'upload'
    run = record_run(settings or settings_from(**fields), frames, dataset=dataset, grid=grid)
    path = Path(path)
    path.write_text(replay_html(run), encoding='utf-8')
    return path, run


class Replay:
    """An exported run as a notebook shows it: the file's page in an inline frame."""

    def __init__(self, path, height=820):
        self.path, self.height = Path(path), height

    def _repr_html_(self):
        page = self.path.read_text(encoding='utf-8')
        return (f'<iframe srcdoc="{html.escape(page, quote=True)}" title="{html.escape(self.path.name)}" '
                f'style="width: 100%; height: {self.height}px; border: 1px solid #ddd"></iframe>')

    def __repr__(self):
        return f"Replay({str(self.path)!r})"


def show(path, height=820):
    """Display an exported replay inline in a Jupyter notebook: `show('run.html')`."""
    return Replay(path, height)
