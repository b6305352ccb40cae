"""The `tapegrad` command line: demo, train, graph, check, exercises, bench.

Every command says why it failed in one line (a traceback only with --debug) and exits
with status 1; argparse's own errors exit with status 2. NumPy, the training loop and the
drawing libraries are imported by the commands that use them, so `tapegrad --help` is quick.
"""

import argparse
import contextlib
import errno
import json
import random
import sys
import time
from pathlib import Path

from . import __version__, checkpoint, validate
from .engine import Value, topological_order
from .expression import parse_expression
from .nn import ACTIVATIONS, MLP

# Named here rather than imported from data.py and train.py, which load NumPy; the tests
# check that these are the names those modules know.
DATASETS = ('day5', 'exercise_2d', 'moons', 'circles', 'blobs', 'spiral')
LOSSES = ('mse', 'hinge', 'bce', 'cross_entropy')
OPTIMIZERS = ('sgd', 'adam', 'adamw')

BATCHES_ABOVE = 10_000   # samples; a larger set trains on mini-batches unless told otherwise
DEFAULT_BATCH = 100
DRAWN_POINTS = 5_000     # the boundary picture of a larger set shows a random sample
MAX_DRAWN_VALUES = 500   # a graph drawing of more Values is unreadable
DIVERGED = 10            # a last loss this many times the first: training blew up
GUESSED_CLASSES = 20     # whole-number targets with more values than this may be numbers: ask


class CommandError(Exception):
    """A failure the user can fix; printed as one line."""


class Default:
    """An option's default that the module owning it keeps, looked up only when needed.

    argparse shows it in --help through %(default)s, which calls str(); importing the
    checker or the playground (NumPy) while the parser is built would slow every command.
    """

    def __init__(self, look_up, shown=str):
        self.look_up, self.shown = look_up, shown

    def __str__(self):
        return self.shown(self.look_up())


def given(value):
    """An option's value: what the user gave, or its Default looked up."""
    return value.look_up() if isinstance(value, Default) else value


# ----------------------------------------------------------------------------------
# Output folders and files


def output_folder(path, fix='choose another with --out'):
    """The folder `path`, made if needed and checked writable before any work is done."""
    folder = Path(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / '.tapegrad-write-test'
        probe.write_text('')
        probe.unlink()
    except OSError as error:
        existing = next((p for p in (folder, *folder.parents) if p.exists()), Path('.'))
        if not existing.is_dir():
            reason = f"{str(existing)!r} is a file"
        elif error.errno in (errno.ENOENT, errno.EACCES, errno.EPERM, errno.EROFS):
            reason = f"files cannot be made in {str(existing)!r}"  # /proc, a read-only disk
        else:
            reason = error.strerror or str(error)
        raise CommandError(f"cannot write to the output folder {str(folder)!r} ({reason}); "
                           f"{fix}") from None
    return folder


@contextlib.contextmanager
def writing_into(folder):
    """Name the folder when a write fails without naming its file (a full disk)."""
    try:
        yield
    except OSError as error:
        if error.filename:
            raise
        raise CommandError(f"cannot write into {folder}/: {error.strerror or error}") from None


# ----------------------------------------------------------------------------------
# tapegrad demo


def demo_day5(engine):
    """The seeds' Day 5: MLP(3, [4, 4, 1]), summed squared error, lr 0.05, 50 steps."""
    from . import data, losses
    from .train import fit
    print("Day 5: MLP(3, [4, 4, 1]) on the seeds' four samples, summed MSE, lr 0.05, 50 steps")
    X, y = data.day5()
    random.seed(42)
    model = MLP(3, [4, 4, 1])

    def report(k, history):
        if k == 0 or (k + 1) % 5 == 0:
            print(f"  step {k + 1:3d} | loss {history.loss[-1]:.6f}")

    history = fit(model, X, y, loss=lambda p, t: losses.mse(p, t, reduction='sum'), lr=0.05,
                  steps=50, engine=engine, progress=False, callback=report)
    print(f"  ({history.engine} engine)\n  predictions after training:")
    print(f"  {'sample':>8}  {'prediction':>10}  {'target':>7}")
    for i, (x, target) in enumerate(zip(X, y)):
        print(f"  {i:>8}  {model(x).data:>10.4f}  {target:>7.1f}")
    return model, X, y, history


def demo_moons(engine):
    """micrograd's demo: 100 moons points, MLP(2, [16, 16, 1]), hinge + 1e-4 L2, 100 steps."""
    import numpy as np

    from . import data, optim
    from .train import fit
    print("\nmicrograd's moons demo: MLP(2, [16, 16, 1]) relu, hinge loss + 1e-4 L2, "
          "lr 1.0 - 0.9 k/100, 100 steps")
    np.random.seed(1337)
    random.seed(1337)
    X, labels = data.make_moons(n_samples=100, noise=0.1)
    y = [2 * label - 1 for label in labels]
    model = MLP(2, [16, 16, 1], act='relu', out_act='linear')

    def report(k, history):
        if k % 10 == 0 or k == 99:
            print(f"  step {k:3d} | loss {history.loss[-1]:.6f} | accuracy {history.accuracy[-1]:.0%}")

    start = time.perf_counter()
    history = fit(model, X, y, loss='hinge', l2=1e-4, lr=optim.linear_decay(100), steps=100,
                  engine=engine, progress=False, callback=report)
    seconds = time.perf_counter() - start
    print(f"  final training accuracy {history.accuracy[-1]:.0%} "
          f"({history.engine} engine, {seconds:.2f} s for 100 steps)")
    return model, X, labels, history


def cmd_demo(args):
    folder = output_folder(args.out)
    day5 = demo_day5(args.engine)
    moons = demo_moons(args.engine)
    with writing_into(folder):
        written = demo_pictures(folder, day5, moons)
    print(f"\nwrote {len(written)} files to {folder}/:")
    for path, what in written:
        print(f"  {path.name:28} {what}")
    if any(path.suffix == '.dot' for path, _ in written):
        print("  (.dot: graphviz's `dot` program is not installed; install graphviz, or turn "
              "them into pictures with `dot -Tsvg FILE.dot -o FILE.svg` where it is)")
    print("\nwatch a network learn, live in your browser: tapegrad playground")


def demo_pictures(folder, day5, moons):
    from . import viz
    model5, X5, y5, history5 = day5
    model_m, Xm, labels_m, history_m = moons
    written = []

    def add(path, what):
        if path is not None:
            written.append((Path(path), what))

    x1, x2 = Value(2.0, label='x1'), Value(0.0, label='x2')
    w1, w2 = Value(-3.0, label='w1'), Value(1.0, label='w2')
    b = Value(6.8813735870195432, label='b')
    n = x1 * w1 + x2 * w2 + b
    n.label = 'n'
    o = n.tanh()
    o.label = 'o'
    o.backward()
    add(viz.draw_dot(o, path=folder / 'neuron-graph.svg', return_path=True),
        "one neuron, tanh(x1*w1 + x2*w2 + b), with every gradient")
    # Day 4: one backward pass through the seeds' network, before any training
    random.seed(42)
    fresh = MLP(3, [4, 4, 1])
    fresh(X5[0]).backward()
    add(viz.draw_network(fresh, path=folder / 'network-grads.svg', show='grads', return_path=True),
        "MLP(3, [4, 4, 1]), edges by gradient after one backward pass")
    add(viz.plot_gradients(fresh, path=folder / 'gradients.png'),
        "which weights get large and small gradients, by layer and neuron")
    add(viz.draw_network(model5, path=folder / 'network-trained.svg', return_path=True),
        "the same network after 50 steps, edges by weight")
    add(viz.plot_loss(history5, path=folder / 'day5-loss.png', title="Day 5: loss over 50 steps"),
        "Day 5 loss curve")
    curves = lr_sweep_day5()
    add(viz.plot_lr_sweep(curves, path=folder / 'day5-lr-sweep.png'),
        "Day 5 learning-rate sweep: 0.001, 0.01, 0.1, 1.0")
    add(viz.plot_loss(history_m, path=folder / 'moons-loss.png', title="moons: loss and accuracy"),
        "moons loss and accuracy curve")
    add(viz.plot_decision_boundary(model_m, Xm, labels_m, path=folder / 'moons-boundary.png'),
        "moons decision boundary with the training points")
    return written


def lr_sweep_day5():
    """The Day 5 notebook's sweep: lr 0.001, 0.01, 0.1, 1.0, 50 steps each from seed 42."""
    from . import data, losses
    from .train import lr_sweep
    X, y = data.day5()
    return lr_sweep(lambda: MLP(3, [4, 4, 1]), X, y, rates=(0.001, 0.01, 0.1, 1.0), steps=50,
                    seed=42, loss=lambda p, t: losses.mse(p, t, reduction='sum'))


# ----------------------------------------------------------------------------------
# tapegrad train


def load_dataset(name, target):
    """(X, y, feature names) of a built-in dataset or a CSV file."""
    from . import data
    if name in DATASETS:
        if target is not None:
            raise CommandError(f"--target applies to CSV files, not the built-in dataset {name!r}")
        X, y = data.DATASETS[name]()
        return X, y, [f'x{i + 1}' for i in range(len(X[0]))]
    if not Path(name).is_file():
        raise CommandError(f"no dataset {name!r}: give a CSV file or one of {', '.join(DATASETS)}")
    return data.load_csv(name, target=target)   # text: a column's name, else an index


class Task:
    """What training on targets y means: the loss, the targets it takes, the classes.

    Class labels (whole numbers, or names such as 'yes'/'no') are sorted; class k is the
    model's output k for cross-entropy, and for two classes the model's one score says the
    second class above 0 and the first below (hinge and bce). Without a loss, whole numbers
    of many values (prices, counts) could be numbers or classes: that is asked, not guessed.
    """

    def __init__(self, y, loss, source):
        import numpy as np
        labels = np.asarray(y)
        names = labels.dtype.kind in 'OUS'
        if len(labels) < 2:
            raise CommandError(f"{source} has {len(labels)} sample; training needs at least 2")
        if loss is None:
            loss = default_loss(labels, source)
        self.loss, self.classes = loss, None
        if loss == 'mse':
            if names:
                raise CommandError(f"--loss mse fits numbers, but the targets of {source} are "
                                   f"class names such as {labels[0]!r}; use --loss cross_entropy "
                                   f"or hinge")
            self.targets, self.n_out = y, 1
            return
        classes, codes = np.unique(labels, return_inverse=True)
        self.classes = classes.tolist()
        if len(self.classes) < 2:
            raise CommandError(f"every target of {source} is {self.classes[0]!r}: a classifier "
                               f"needs at least two classes")
        if loss in ('hinge', 'bce') and len(self.classes) > 2:
            raise CommandError(f"--loss {loss} separates two classes, but the targets have "
                               f"{len(self.classes)}: {self.classes[:10]}; use --loss cross_entropy")
        self.targets = 2 * codes - 1 if loss == 'hinge' else codes
        self.codes = codes
        self.n_out = len(self.classes) if loss == 'cross_entropy' else 1

    def describe_classes(self):
        if self.classes is None:
            return None
        if self.n_out > 1:
            if self.classes == list(range(self.n_out)):
                return None
            return "classes: " + ", ".join(f"output {k} = {c!r}" for k, c in enumerate(self.classes))
        low, high = self.classes
        return f"classes: a score above 0 means class {high!r}, below 0 class {low!r}"


def default_loss(labels, source):
    """mse for numbers, hinge for two classes, cross_entropy for more class names or for a
    few whole numbers; whole numbers of many values may be either, so the user says which."""
    import numpy as np
    if labels.dtype.kind not in 'OUSiu':
        return 'mse'
    values = np.unique(labels)
    if len(values) <= 2:
        return 'hinge'
    if labels.dtype.kind in 'iu' and (len(values) > GUESSED_CLASSES or len(values) > len(labels) / 2):
        shown = ', '.join(map(str, values[:5].tolist())) + (', ...' if len(values) > 5 else '')
        raise CommandError(f"the targets of {source} are whole numbers with {len(values):,} "
                           f"different values ({shown}): numbers to fit, or class labels? give "
                           f"--loss mse for numbers (such as prices or counts), or --loss "
                           f"cross_entropy for {len(values):,} classes")
    return 'cross_entropy'


def check_numbers(args):
    """The numeric options, each in its range, before anything is loaded or trained."""
    try:
        validate.whole_number('--steps', args.steps)
        if args.batch_size is not None:
            validate.whole_number('--batch-size', args.batch_size)
        validate.seed('--seed', args.seed)
        validate.real_number('--lr', args.lr)
        validate.real_number('--l2', args.l2)
        for size in args.hidden:
            validate.whole_number('--hidden: each layer size', size)
    except ValueError as error:
        raise CommandError(str(error)) from None


def cmd_train(args):
    from . import data
    from .train import TrainingError, fit
    check_numbers(args)
    folder = output_folder(args.out)
    X, y, _ = load_dataset(args.dataset, args.target)
    task = Task(y, args.loss, args.dataset)
    n_samples, n_features = data.check_dataset(X, task.targets)
    batch_size = args.batch_size
    if batch_size is None and n_samples > BATCHES_ABOVE:
        batch_size = DEFAULT_BATCH
    random.seed(args.seed)
    model = MLP(n_features, args.hidden + [task.n_out], act=args.act, out_act=args.out_act)
    batches = '' if batch_size is None or batch_size >= n_samples else (
        f", batches of {batch_size}" + (f" (the default above {BATCHES_ABOVE:,} samples)"
                                        if args.batch_size is None else ""))
    print(f"training {model!r}\n  on {args.dataset} ({n_samples:,} samples, {n_features} features), "
          f"loss {task.loss}" + (f" + L2 {args.l2:g}" if args.l2 else "")
          + f", {args.optimizer} lr {args.lr:g}, {args.steps} steps{batches}")
    if task.describe_classes():
        print(f"  {task.describe_classes()}")
    start = time.perf_counter()
    try:
        history = fit(model, X, task.targets, loss=task.loss, optimizer=args.optimizer, lr=args.lr,
                      steps=args.steps, batch_size=batch_size, l2=args.l2, engine=args.engine,
                      seed=args.seed, progress=True)
    except TrainingError as error:
        raise CommandError(f"training stopped: {error}") from None
    seconds = time.perf_counter() - start
    on_batch = f" (on its batch of {batch_size})" if batches else ""
    print(f"  loss {history.loss[0]:.4g} at the first step, {history.loss[-1]:.4g} at the "
          f"last{on_batch}; {len(history)} steps, {history.engine} engine, {seconds:.2f} s")
    if history.interrupted:
        print("  stopped early by Ctrl-C; the model is as it was after the last whole step")
    outputs = final_outputs(model, X)
    accuracy = final_accuracy(task, outputs)
    if accuracy is not None:
        print(f"  the trained model classifies {round(accuracy * n_samples):,} of {n_samples:,} "
              f"training samples right: accuracy {accuracy:.1%}")

    with writing_into(folder):
        written = [checkpoint.write(folder / 'model.json', model, classes=task.classes)]
        written.append(folder / 'history.json')
        written[-1].write_text(json.dumps({
            'loss': history.loss, 'accuracy': history.accuracy, 'lr': history.lr,
            'engine': history.engine, 'batch_size': batch_size, 'classes': task.classes,
            'final_accuracy': accuracy}, indent=1))
        written += pictures(folder, model, X, task, history, outputs, accuracy, args.seed)
    print(f"  wrote {', '.join(Path(p).name for p in written)} to {folder}/")
    print(f"  load the model with: MLP.load({str(folder / 'model.json')!r})"
          + ("; its \"classes\" field names the outputs" if task.classes is not None else ""))
    first, last = history.loss[0], history.loss[-1]
    if len(history) > 1 and last > DIVERGED * first:
        raise CommandError(f"training diverged: the loss grew from {first:.4g} at the first "
                           f"step to {last:.4g} at the last; try a smaller --lr (now {args.lr:g})")


def final_outputs(model, X, rows=65_536):
    """The trained model's outputs for every sample: NumPy, a slice of rows at a time."""
    import numpy as np

    from .viz import numpy_forward
    X = np.asarray(X, dtype=float)
    return np.concatenate([numpy_forward(model, X[i:i + rows]) for i in range(0, len(X), rows)])


def final_accuracy(task, outputs, rows=slice(None)):
    """train.accuracy of the trained model's outputs (on some rows); None for numbers to fit."""
    import numpy as np

    from .train import accuracy
    outputs = outputs[rows]
    scores = outputs[:, 0].tolist() if task.n_out == 1 else outputs.tolist()
    return accuracy(task.loss, scores, np.asarray(task.targets)[rows].tolist())


def pictures(folder, model, X, task, history, outputs, accuracy, seed):
    """The loss curve, and for two features and two classes the decision boundary.

    A picture that cannot be drawn is said and skipped: training is done, its results kept.
    """
    import numpy as np
    written = []
    try:
        from . import viz
        written.append(viz.plot_loss(history, path=folder / 'loss.png'))
        if accuracy is not None and task.n_out == 1 and np.shape(X)[1] == 2:
            labels = task.codes if task.classes is not None else np.asarray(task.targets)
            shown, title = np.arange(len(X)), None   # the picture's title: "K of N ... correctly"
            if len(X) > DRAWN_POINTS:
                shown = np.sort(np.random.RandomState(seed).choice(len(X), DRAWN_POINTS, replace=False))
                title = (f"Decision boundary: {final_accuracy(task, outputs, shown):.1%} of a random "
                         f"{DRAWN_POINTS:,} of the points right ({accuracy:.1%} of all {len(X):,})")
            written.append(viz.plot_decision_boundary(model, np.asarray(X)[shown], labels[shown],
                                                      path=folder / 'boundary.png', title=title))
    except (ImportError, ValueError) as error:
        print(f"  no picture: {error}")
    return written


# ----------------------------------------------------------------------------------
# tapegrad graph


def parse_assignments(pairs):
    values = {}
    for pair in pairs:
        name, sep, number = pair.partition('=')
        try:
            if not sep or not name.isidentifier():
                raise ValueError
            values[name] = float(number)
        except ValueError:
            raise CommandError(f"--set takes NAME=NUMBER pairs such as a=1.5; got {pair!r}") from None
    return values


def cmd_graph(args):
    from . import viz
    if (args.expression is None) == (args.mlp is None):
        raise CommandError("give a formula such as \"tanh(2*a + b)\" with --set a=1 b=-3, "
                           "or a network with --mlp 3 4 4 1, but not both")
    out = Path(args.out)
    check_picture_name(out)
    folder = output_folder(out.parent if str(out.parent) else '.')
    if args.mlp is not None:
        if len(args.mlp) < 2:
            raise CommandError(f"--mlp takes the input size then the layer sizes, such as "
                               f"--mlp 3 4 4 1; got {args.mlp}")
        random.seed(args.seed)
        model = MLP(args.mlp[0], args.mlp[1:], act=args.act)
        with writing_into(folder):
            written = viz.draw_network(model, path=out, return_path=True)
    else:
        root = parse_expression(args.expression, parse_assignments(args.set))
        size = len(topological_order(root))
        if size > MAX_DRAWN_VALUES:
            raise CommandError(f"{args.expression[:40]!r}... makes {size:,} values; a drawing of "
                               f"more than {MAX_DRAWN_VALUES} is unreadable: draw a shorter formula")
        root.backward()
        with writing_into(folder):
            written = viz.draw_dot(root, path=out, return_path=True)
        print(viz.dump_graph(root))
    print(f"wrote {written}")


def check_picture_name(out):
    """--out must end in a format graphviz draws here, checked before anything is done."""
    from .viz._common import GRAPH_FORMATS
    if out.suffix.lstrip('.').lower() not in GRAPH_FORMATS:
        endings = ['.' + f for f in GRAPH_FORMATS]
        raise CommandError(f"cannot tell how to draw {str(out)!r}: give --out a file ending in "
                           f"{', '.join(endings[:-1])} or {endings[-1]}, such as "
                           f"--out {out.with_suffix('.svg')}")


# ----------------------------------------------------------------------------------
# tapegrad check, exercises, bench


def memory_default():
    from .checker.sandbox import MEMORY_MIB
    return MEMORY_MIB


def cmd_check(args):
    from .checker import command
    try:
        text, status = command.run(args.paths, args.timeout, given(args.memory), args.jobs,
                                   args.report)
    except (FileNotFoundError, ValueError) as error:
        raise CommandError(str(error)) from None
    print(text)
    return status


def positive_seconds(text):
    """argparse type for --timeout: a positive, finite number of seconds."""
    from .checker import validate_timeout
    try:
        return validate_timeout(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def cmd_exercises(args):
    from .checker import write_exercises
    folder = output_folder(args.folder, fix='choose another folder')
    for path in write_exercises(folder):
        print(f"wrote {path}")


def cmd_bench(args):
    script = Path(__file__).resolve().parents[2] / 'benchmarks' / 'compiled.py'
    if not script.is_file():
        raise CommandError("tapegrad bench runs benchmarks/compiled.py from a source checkout "
                           "of tapegrad (git clone, then pip install -e .)")
    import runpy
    sys.argv[0] = 'tapegrad bench'   # the benchmark's own --help names the command
    return runpy.run_path(str(script))['main'](args.bench_args)


# ----------------------------------------------------------------------------------
# tapegrad playground


# the page's settings that --export takes, each defaulting to the page's own default
PLAYGROUND_SETTINGS = ('dataset', 'hidden', 'act', 'loss', 'optimizer', 'lr', 'batch_size', 'l2',
                       'seed', 'steps')


def playground_default(setting):
    """The page's default for `setting`, as --help shows it: 'all', '16 16'."""
    def look_up():
        from .playground.settings import DEFAULTS
        return getattr(DEFAULTS, setting)

    def shown(value):
        if value is None:
            return 'all'
        return ' '.join(map(str, value)) if isinstance(value, tuple) else str(value)
    return Default(look_up, shown)


def cmd_playground(args):
    from .playground import export_run, serve
    if args.export is None:
        return serve(host=args.host, port=args.port, open_browser=not args.no_browser)
    try:
        validate.whole_number('--frames', args.frames)
    except ValueError as error:
        raise CommandError(str(error)) from None
    chosen = {setting: getattr(args, setting) for setting in PLAYGROUND_SETTINGS
              if not isinstance(getattr(args, setting), Default)}   # the rest: the page's defaults
    path, run = export_run(args.export, frames=args.frames, **chosen)
    print(f"wrote {path}: {len(run['frames'])} frames of {run['steps']} steps on "
          f"{run['facts']['dataset']}; open it in a browser (no server or network needed)")
    if run['message']:
        print(f"  {run['message']}")


# ----------------------------------------------------------------------------------


def build_parser():
    parser = argparse.ArgumentParser(
        prog='tapegrad', description="tapegrad: a scalar autograd engine, its pictures and its tape.")
    parser.add_argument('--version', action='version', version=f'tapegrad {__version__}')
    parser.add_argument('--debug', action='store_true', help='show the traceback when a command fails')
    commands = parser.add_subparsers(dest='command', required=True, metavar='COMMAND',
                                     help='`tapegrad COMMAND --help` lists its options')
    engine = dict(choices=['auto', 'eager', 'tape'], default='auto',
                  help="'eager' rebuilds the graph every step; 'tape' replays a traced one (default: auto)")

    demo = commands.add_parser('demo', help="train the seeds' Day 5 network and micrograd's moons "
                                            "demo, and draw every picture")
    demo.add_argument('--out', default='tapegrad-demo', help='folder for the pictures (default: %(default)s)')
    demo.add_argument('--engine', **engine)
    demo.set_defaults(run=cmd_demo)

    train = commands.add_parser('train', help='train an MLP on a built-in dataset or a CSV file')
    train.add_argument('--dataset', default='moons',
                       help=f"{', '.join(DATASETS)}, or a CSV file path (default: %(default)s)")
    train.add_argument('--target', help="CSV: the target column's name, or its index (0 the first, "
                                        "-1 the last) if no column has that name (default: the "
                                        "last); it holds numbers, or class names such as yes/no")
    train.add_argument('--hidden', type=int, nargs='+', default=[16, 16], metavar='N',
                       help='hidden layer sizes (default: 16 16)')
    train.add_argument('--act', choices=ACTIVATIONS, default='tanh',
                       help='hidden activation (default: %(default)s)')
    train.add_argument('--out-act', choices=ACTIVATIONS, default='linear',
                       help='output activation (default: linear: scores, logits or numbers)')
    train.add_argument('--loss', choices=LOSSES, help='default: hinge for two classes, '
                       'cross_entropy for more, mse for numbers; whole numbers of more than '
                       f'{GUESSED_CLASSES} values (or more than half the samples) need --loss')
    train.add_argument('--optimizer', choices=OPTIMIZERS, default='sgd',
                       help='(default: %(default)s)')
    train.add_argument('--lr', type=float, default=0.1, help='learning rate (default: %(default)s)')
    train.add_argument('--steps', type=int, default=100, help='training steps (default: %(default)s)')
    train.add_argument('--batch-size', type=int, metavar='N',
                       help=f'samples a step (default: all of them; {DEFAULT_BATCH} for more '
                            f'than {BATCHES_ABOVE:,})')
    train.add_argument('--l2', type=float, default=1e-4, help='L2 penalty (default: %(default)s)')
    train.add_argument('--seed', type=int, default=0,
                       help="seeds the initial weights and the batches' order (default: %(default)s)")
    train.add_argument('--engine', **engine)
    train.add_argument('--out', default='tapegrad-train',
                       help='folder for model.json, history.json and pictures (default: %(default)s)')
    train.set_defaults(run=cmd_train)

    graph = commands.add_parser('graph', help='draw the graph of a formula, or an MLP as a network diagram')
    graph.add_argument('expression', nargs='?', help='a formula such as "tanh(2*a + b)" or "-a"')
    graph.add_argument('--set', nargs='+', default=[], metavar='NAME=NUMBER', help='values of the variables')
    graph.add_argument('--mlp', type=int, nargs='+', metavar='SIZE', help='draw MLP(SIZE[0], SIZE[1:]) instead')
    graph.add_argument('--act', choices=ACTIVATIONS, default='tanh',
                       help="--mlp: the network's activation (default: %(default)s)")
    graph.add_argument('--seed', type=int, default=42, help='--mlp: seeds its weights (default: %(default)s)')
    graph.add_argument('--out', default='graph.svg', help='.svg, .png or .pdf (default: %(default)s)')
    graph.set_defaults(run=cmd_graph)

    check = commands.add_parser('check', help="grade your own engine (.py or .ipynb) exercise by exercise, "
                                              "or a class's folder of them")
    check.add_argument('paths', nargs='+', metavar='PATH', help='.py or .ipynb files, or folders of them')
    check.add_argument('--timeout', type=positive_seconds, default=10.0,
                       help='seconds per exercise (default: %(default)s)')
    check.add_argument('--memory', type=int, default=Default(memory_default), metavar='MIB',
                       help="the learner's code's address-space limit (default: %(default)s MiB)")
    check.add_argument('--jobs', type=int, default=2, help='files graded at once (default: %(default)s)')
    check.add_argument('--report', action='append', default=[], metavar='FILE',
                       help='also write the grades to FILE: .csv (a row per file) or .html')
    check.set_defaults(run=cmd_check)

    exercises = commands.add_parser('exercises', help='write a fresh exercise notebook to start from')
    exercises.add_argument('folder', nargs='?', default='tapegrad-exercises',
                           help='where to write it (default: %(default)s)')
    exercises.set_defaults(run=cmd_exercises)

    bench = commands.add_parser('bench', add_help=False,
                                help="time fit() and compile() beside JAX, PyTorch, NumPy and micrograd")
    bench.add_argument('bench_args', nargs=argparse.REMAINDER,
                       help='passed to the benchmark: tapegrad bench --help lists them')
    bench.set_defaults(run=cmd_bench)
    play = commands.add_parser('playground', help='watch a network learn in your browser, '
                                                  'down to each gradient')
    play.add_argument('--host', default='127.0.0.1', help='address to serve on (default: %(default)s)')
    play.add_argument('--port', type=int, default=0, help='port to serve on (default: a free one)')
    play.add_argument('--no-browser', action='store_true', help='print the URL, do not open a browser')
    play.add_argument('--export', metavar='FILE.html', help='train with the options below and write '
                      'one HTML file that replays the run, instead of serving')
    play.add_argument('--frames', type=int, default=60,
                      help='--export: frames kept, a whole number >= 1 (default: %(default)s)')
    play.add_argument('--dataset', default=playground_default('dataset'),
                      help='--export: a built-in dataset or a CSV file (default: %(default)s)')
    for setting in PLAYGROUND_SETTINGS[2:]:
        play.add_argument('--' + setting.replace('_', '-'), default=playground_default(setting),
                          help='--export: default %(default)s')
    play.add_argument('--hidden', nargs='+', default=playground_default('hidden'), metavar='N',
                      help='--export: hidden layer widths (default: %(default)s)')
    play.set_defaults(run=cmd_playground)

    for command in commands.choices.values():  # --debug after the command works too
        if command is not bench:
            command.add_argument('--debug', action='store_true', default=argparse.SUPPRESS,
                                 help='show the traceback when the command fails')
    return parser


def parse(argv):
    """The parsed arguments; what argparse cannot place must be a formula starting with '-'."""
    parser = build_parser()
    args, unplaced = parser.parse_known_args(argv)
    if args.command == 'bench':   # everything after `bench` is the benchmark's, --help too
        args.bench_args = argv[argv.index('bench') + 1:]
    elif args.command == 'graph' and args.expression is None and len(unplaced) == 1 \
            and not unplaced[0].startswith('--'):
        args.expression = unplaced[0]   # "-a": argparse takes it for an option
    elif unplaced:
        parser.error(f"unrecognized arguments: {' '.join(unplaced)}")
    return args


def main(argv=None):
    args = parse(sys.argv[1:] if argv is None else list(argv))
    try:
        status = args.run(args)
    except KeyboardInterrupt:
        print("tapegrad: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # one line for the user; the traceback with --debug
        if args.debug:
            raise
        message = str(error) if isinstance(error, (CommandError, ValueError, OSError)) \
            else f"{type(error).__name__}: {error}"
        print(f"tapegrad: error: {message}", file=sys.stderr)
        return 1
    return status or 0
