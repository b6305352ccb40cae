"""The `tapegrad` command line: demo, train, graph, check, exercises, bench.

Every command says why it failed in one line (a traceback only with --debug) and exits
with status 1; argparse's own errors exit with status 2.
"""

import argparse
import json
import random
import sys
import time
from pathlib import Path

from . import data, losses, optim
from .engine import Value
from .expression import parse_expression
from .nn import ACTIVATIONS, MLP
from .train import LOSSES, OPTIMIZERS, fit, lr_sweep


class CommandError(Exception):
    """A failure the user can fix; printed as one line."""


# ----------------------------------------------------------------------------------
# tapegrad demo


def output_folder(path):
    folder = Path(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / '.tapegrad-write-test'
        probe.write_text('')
        probe.unlink()
    except OSError as error:
        raise CommandError(f"cannot write to the output folder {str(folder)!r} "
                           f"({error.strerror or error}); choose another with --out") from None
    return folder


def demo_day5(engine):
    """The seeds' Day 5: MLP(3, [4, 4, 1]), summed squared error, lr 0.05, 50 steps."""
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
    day5 = demo_day5(args.engine)
    moons = demo_moons(args.engine)
    folder = output_folder(args.out)
    written = demo_pictures(folder, day5, moons)
    print(f"\nwrote {len(written)} files to {folder}/:")
    for path, what in written:
        print(f"  {path.name:28} {what}")
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
    X, y = data.day5()
    return lr_sweep(lambda: MLP(3, [4, 4, 1]), X, y, rates=(0.001, 0.01, 0.1, 1.0), steps=50,
                    seed=42, loss=lambda p, t: losses.mse(p, t, reduction='sum'))


# ----------------------------------------------------------------------------------
# tapegrad train


def load_dataset(name, target):
    if name in data.DATASETS:
        if target is not None:
            raise CommandError(f"--target applies to CSV files, not the built-in dataset {name!r}")
        X, y = data.DATASETS[name]()
        return X, y, [f'x{i + 1}' for i in range(len(X[0]))]
    if not Path(name).is_file():
        raise CommandError(f"no dataset {name!r}: give a CSV file or one of "
                           f"{', '.join(data.DATASETS)}")
    if target is not None and target.lstrip('-').isdigit():
        target = int(target)
    return data.load_csv(name, target=target)


def default_loss(y):
    classes = sorted(set(y))
    if not all(isinstance(t, int) for t in y):
        return 'mse'
    return 'hinge' if len(classes) <= 2 else 'cross_entropy'


def prepare_targets(loss, y):
    """Labels as the loss wants them: +1/-1 for hinge, 0/1 for bce."""
    classes = sorted(set(y))
    if loss in ('hinge', 'bce'):
        if len(classes) > 2:
            raise CommandError(f"--loss {loss} separates two classes, but the targets have "
                               f"{len(classes)}: {classes[:10]}; use --loss cross_entropy")
        low = classes[0]
        return [(1 if t != low else -1) if loss == 'hinge' else int(t != low) for t in y]
    if loss == 'cross_entropy':
        if classes != list(range(len(classes))) or not all(isinstance(t, int) for t in y):
            raise CommandError(f"--loss cross_entropy wants class numbers 0, 1, 2, ...; "
                               f"the targets have {classes[:10]}")
    return y


def cmd_train(args):
    X, y, names = load_dataset(args.dataset, args.target)
    n_samples, n_features = data.check_dataset(X, y)
    loss = args.loss or default_loss(y)
    y = prepare_targets(loss, y)
    n_out = len(set(y)) if loss == 'cross_entropy' else 1
    out_act = args.out_act or ('linear' if loss in ('hinge', 'bce', 'cross_entropy') else None)
    random.seed(args.seed)
    model = MLP(n_features, args.hidden + [n_out], act=args.act, out_act=out_act)
    folder = output_folder(args.out)
    print(f"training {model!r}\n  on {args.dataset} ({n_samples} samples, {n_features} features), "
          f"loss {loss}, {args.optimizer} lr {args.lr}, {args.steps} steps"
          + (f", batches of {args.batch_size}" if args.batch_size else ""))
    start = time.perf_counter()
    history = fit(model, X, y, loss=loss, optimizer=args.optimizer, lr=args.lr, steps=args.steps,
                  batch_size=args.batch_size, l2=args.l2, engine=args.engine, seed=args.seed,
                  progress=True)
    seconds = time.perf_counter() - start
    summary = f"  final loss {history.loss[-1]:.6g}"
    if history.accuracy:
        summary += f", training accuracy {history.accuracy[-1]:.1%}"
    print(summary + f" ({len(history)} steps, {history.engine} engine, {seconds:.2f} s)")
    if history.interrupted:
        print("  stopped early by Ctrl-C; the model is as it was after the last whole step")

    written = [folder / 'history.json']
    written[0].write_text(json.dumps({'loss': history.loss, 'accuracy': history.accuracy,
                                      'lr': history.lr, 'engine': history.engine}, indent=1))
    try:
        from . import viz
        written.append(viz.plot_loss(history, path=folder / 'loss.png'))
        if n_features == 2 and n_out == 1:
            written.append(viz.plot_decision_boundary(model, X, y, path=folder / 'boundary.png'))
    except ImportError as error:
        print(f"  no pictures: {error}")
    print(f"  wrote {', '.join(Path(p).name for p in written)} to {folder}/")


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
    output_folder(out.parent if str(out.parent) else '.')
    if args.mlp is not None:
        if len(args.mlp) < 2:
            raise CommandError(f"--mlp takes the input size then the layer sizes, such as "
                               f"--mlp 3 4 4 1; got {args.mlp}")
        random.seed(args.seed)
        model = MLP(args.mlp[0], args.mlp[1:], act=args.act)
        written = viz.draw_network(model, path=out, return_path=True)
    else:
        root = parse_expression(args.expression, parse_assignments(args.set))
        root.backward()
        written = viz.draw_dot(root, path=out, return_path=True)
        print(viz.dump_graph(root))
    print(f"wrote {written}")


# ----------------------------------------------------------------------------------
# tapegrad check, exercises, bench


def cmd_check(args):
    from .checker import command
    try:
        text, status = command.run(args.paths, args.timeout, args.memory, args.jobs, args.report)
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
    folder = output_folder(args.folder)
    for path in write_exercises(folder):
        print(f"wrote {path}")


def cmd_bench(args):
    script = Path(__file__).resolve().parents[2] / 'benchmarks' / 'compiled.py'
    if not script.is_file():
        raise CommandError("tapegrad bench runs benchmarks/compiled.py from a source checkout "
                           "of tapegrad (git clone, then pip install -e .)")
    import runpy
    return runpy.run_path(str(script))['main'](args.bench_args)


# ----------------------------------------------------------------------------------
# tapegrad playground


def cmd_playground(args):
    from .playground import export_run, serve
    if args.export is None:
        return serve(host=args.host, port=args.port, open_browser=not args.no_browser)
    path, run = export_run(args.export, frames=args.frames, dataset=args.dataset, hidden=args.hidden,
                           act=args.act, loss=args.loss, optimizer=args.optimizer, lr=args.lr,
                           batch_size=args.batch_size, l2=args.l2, seed=args.seed, steps=args.steps)
    print(f"wrote {path}: {len(run['frames'])} frames of {run['steps']} steps on "
          f"{run['facts']['dataset']}; open it in a browser (no server or network needed)")
    if run['message']:
        print(f"  {run['message']}")


# ----------------------------------------------------------------------------------


def build_parser():
    parser = argparse.ArgumentParser(
        prog='tapegrad', description="tapegrad: a scalar autograd engine, its pictures and its tape.")
    parser.add_argument('--debug', action='store_true', help='show the traceback when a command fails')
    commands = parser.add_subparsers(dest='command', required=True, metavar='COMMAND')
    engine = dict(choices=['auto', 'eager', 'tape'], default='auto',
                  help="'eager' rebuilds the graph every step; 'tape' replays a traced one (default: auto)")

    demo = commands.add_parser('demo', help="train the seeds' Day 5 network and micrograd's moons "
                                            "demo, and draw every picture")
    demo.add_argument('--out', default='tapegrad-demo', help='folder for the pictures (default: %(default)s)')
    demo.add_argument('--engine', **engine)
    demo.set_defaults(run=cmd_demo)

    train = commands.add_parser('train', help='train an MLP on a built-in dataset or a CSV file')
    train.add_argument('--dataset', default='moons',
                       help=f"{', '.join(data.DATASETS)}, or a CSV file path (default: %(default)s)")
    train.add_argument('--target', help="CSV: the target column's name or index (default: the last)")
    train.add_argument('--hidden', type=int, nargs='+', default=[16, 16], metavar='N',
                       help='hidden layer sizes (default: 16 16)')
    train.add_argument('--act', choices=ACTIVATIONS, default='relu', help='hidden activation (default: relu)')
    train.add_argument('--out-act', choices=ACTIVATIONS,
                       help='output activation (default: linear for classification)')
    train.add_argument('--loss', choices=list(LOSSES), help='default: hinge for two classes, '
                       'cross_entropy for more, mse for numbers')
    train.add_argument('--optimizer', choices=list(OPTIMIZERS), default='sgd')
    train.add_argument('--lr', type=float, default=0.1, help='learning rate (default: %(default)s)')
    train.add_argument('--steps', type=int, default=100)
    train.add_argument('--batch-size', type=int)
    train.add_argument('--l2', type=float, default=1e-4, help='L2 penalty (default: %(default)s)')
    train.add_argument('--seed', type=int, default=0)
    train.add_argument('--engine', **engine)
    train.add_argument('--out', default='tapegrad-train', help='output folder (default: %(default)s)')
    train.set_defaults(run=cmd_train)

    graph = commands.add_parser('graph', help='draw the graph of a formula, or an MLP as a network diagram')
    graph.add_argument('expression', nargs='?', help='a formula such as "tanh(2*a + b)"')
    graph.add_argument('--set', nargs='+', default=[], metavar='NAME=NUMBER', help='values of the variables')
    graph.add_argument('--mlp', type=int, nargs='+', metavar='SIZE', help='draw MLP(SIZE[0], SIZE[1:]) instead')
    graph.add_argument('--act', choices=ACTIVATIONS, default='tanh')
    graph.add_argument('--seed', type=int, default=42)
    graph.add_argument('--out', default='graph.svg', help='.svg, .png or .pdf (default: %(default)s)')
    graph.set_defaults(run=cmd_graph)

    check = commands.add_parser('check', help="grade your own engine (.py or .ipynb) exercise by exercise, "
                                              "or a class's folder of them")
    check.add_argument('paths', nargs='+', metavar='PATH', help='.py or .ipynb files, or folders of them')
    check.add_argument('--timeout', type=positive_seconds, default=10.0,
                       help='seconds per exercise (default: %(default)s)')
    check.add_argument('--memory', type=int, default=1024, metavar='MIB',
                       help="the learner's code's address-space limit (default: %(default)s MiB)")
    check.add_argument('--jobs', type=int, default=2, help='files graded at once (default: %(default)s)')
    check.add_argument('--report', action='append', default=[], metavar='FILE',
                       help='also write the grades to FILE: .csv (a row per file) or .html')
    check.set_defaults(run=cmd_check)

    exercises = commands.add_parser('exercises', help='write a fresh exercise notebook to start from')
    exercises.add_argument('folder', nargs='?', default='tapegrad-exercises')
    exercises.set_defaults(run=cmd_exercises)

    bench = commands.add_parser('bench', help='time micrograd, eager, tape, PyTorch and NumPy side by side')
    bench.add_argument('bench_args', nargs=argparse.REMAINDER, help='passed to the benchmark (try --help)')
    bench.set_defaults(run=cmd_bench)
    play = commands.add_parser('playground', help='watch a network learn in your browser, '
                                                  'down to each gradient')
    play.add_argument('--host', default='127.0.0.1', help='address to serve on (default: %(default)s)')
    play.add_argument('--port', type=int, default=0, help='port to serve on (default: a free one)')
    play.add_argument('--no-browser', action='store_true', help='print the URL, do not open a browser')
    play.add_argument('--export', metavar='FILE.html', help='train with the options below and write '
                      'one HTML file that replays the run, instead of serving')
    play.add_argument('--frames', type=int, default=60, help='--export: frames kept (default: %(default)s)')
    play.add_argument('--dataset', default='moons', help='--export: a built-in dataset or a CSV file')
    for option, default in (('--act', 'relu'), ('--loss', 'auto'),
                            ('--optimizer', 'sgd'), ('--lr', '0.1'), ('--steps', '100'),
                            ('--batch-size', 'all'), ('--l2', '0.0001'), ('--seed', '1337')):
        play.add_argument(option, default=default, help='--export: default %(default)s')
    play.add_argument('--hidden', nargs='+', default=['16', '16'], metavar='N',
                      help='--export: hidden layer widths (default: 16 16)')
    play.set_defaults(run=cmd_playground)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
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
