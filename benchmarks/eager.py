"""tapegrad's eager engine against micrograd 0.1.0 on micrograd's moons demo step.

    python benchmarks/eager.py            # both, side by side, ratios at the end
    python benchmarks/eager.py --steps 5  # fewer timed steps
    python benchmarks/eager.py --rounds 5 # more turns of the two (a noisy machine)

One training step as micrograd's demo notebook writes it: 100 moons points,
MLP(2, [16, 16, 1]) with ReLU hidden layers and a linear output, SVM hinge loss plus 1e-4
L2, zero_grad, backward, SGD. Each engine runs in its own fresh process (micrograd from
PyPI, first on PYTHONPATH, since tapegrad ships a `micrograd` drop-in of the same name),
the two taking turns for a few rounds, so that a machine busy for a while slows both
alike; the medians over all rounds and their ratios print at the end. Two more rows time
the same step through tapegrad's fit(): with the eager engine, and with fit's default
engine, the tape.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from reference import fetch_micrograd  # noqa: E402


def moons(n=100):
    """micrograd's demo data: make_moons(100, noise=0.1) after np.random.seed(1337)."""
    import numpy as np
    from tapegrad.data import make_moons
    np.random.seed(1337)
    X, y = make_moons(n_samples=n, noise=0.1)
    return X, [2 * label - 1 for label in y]


def build_model(engine):
    import random
    random.seed(1337)
    if engine == 'micrograd':
        from micrograd.nn import MLP
        return MLP(2, [16, 16, 1])
    from tapegrad import MLP
    return MLP(2, [16, 16, 1], act='relu', out_act='linear')


def demo_loss(model, X, y, Value):
    """The moons demo's loss, written as micrograd's notebook writes it."""
    inputs = [list(map(Value, row)) for row in X]
    scores = list(map(model, inputs))
    losses = [(1 + -yi * si).relu() for yi, si in zip(y, scores)]
    data_loss = sum(losses) * (1.0 / len(losses))
    reg_loss = 1e-4 * sum((p * p for p in model.parameters()))
    return data_loss + reg_loss


def hand_written_step(model, X, y, Value, lr=0.1):
    loss = demo_loss(model, X, y, Value)
    model.zero_grad()
    loss.backward()
    for p in model.parameters():
        p.data -= lr * p.grad
    return loss


def count_nodes(root):
    seen, stack = {id(root)}, [root]
    while stack:
        for child in stack.pop()._prev:
            if id(child) not in seen:
                seen.add(id(child))
                stack.append(child)
    return len(seen)


def bytes_per_node(model, X, y, Value):
    """Memory of one step's graph (forward and backward) over its number of nodes."""
    tracemalloc.start()
    loss = demo_loss(model, X, y, Value)
    loss.backward()
    size = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return size / count_nodes(loss), count_nodes(loss)


def chain_bytes_per_node(Value, n=1_000_000):
    """Memory a node of a million-node chain (forward and backward) costs."""
    tracemalloc.start()
    x = Value(0.5)
    y = x
    for _ in range(n // 2):
        y = y * 1.0   # an op node and its constant
    y.backward()
    size = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return size / count_nodes(y), count_nodes(y)


def worker(engine, steps):
    """Runs in a fresh process; prints one JSON line of measurements."""
    if engine == 'micrograd':
        from micrograd.engine import Value
    else:
        from tapegrad import Value
    X, y = moons()
    model = build_model(engine)
    result = {'engine': engine}
    result['bytes_per_node'], result['nodes'] = bytes_per_node(model, X, y, Value)
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        hand_written_step(model, X, y, Value)
        times.append(time.perf_counter() - t0)
    result['step_s'] = times
    if engine == 'tapegrad':
        result['chain_bytes_per_node'], result['chain_nodes'] = chain_bytes_per_node(Value)
        result['fit_eager_s'] = fit_step_times(steps, 'eager')
        result['fit_auto_s'] = fit_step_times(steps * 20, 'auto')
    print(json.dumps(result))


def fit_step_times(steps, engine):
    """The same step through tapegrad.fit(): seconds a step, after one warm-up step (the
    tape traces and compiles in its first step; benchmarks/compiled.py times that)."""
    from tapegrad import fit
    from tapegrad.optim import SGD
    X, y = moons()
    model = build_model('tapegrad')
    optimizer = SGD(model.parameters(), lr=0.1)
    times = []

    def lap(k, history):
        times.append(time.perf_counter())

    fit(model, X, y, loss='hinge', l2=1e-4, optimizer=optimizer, steps=steps + 1, engine=engine,
        progress=False, callback=lap)
    return [b - a for a, b in zip(times, times[1:])]


def run_worker(engine, steps, env):
    out = subprocess.run([sys.executable, __file__, '--worker', engine, '--steps', str(steps)],
                         env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"{engine} worker failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--steps', type=int, default=20, help='timed steps for tapegrad')
    parser.add_argument('--micrograd-steps', type=int, default=5,
                        help='timed steps for micrograd (about 1.3 s each)')
    parser.add_argument('--rounds', type=int, default=3,
                        help='fresh processes of each engine, taken in turns (default 3)')
    parser.add_argument('--worker', choices=['micrograd', 'tapegrad'], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args.worker, args.steps)
    if args.rounds < 1 or args.steps < 1 or args.micrograd_steps < 1:
        parser.error(f"--rounds, --steps and --micrograd-steps must be at least 1; got "
                     f"{args.rounds}, {args.steps} and {args.micrograd_steps}")

    env = dict(os.environ)
    micrograd_env = dict(env, PYTHONPATH=os.pathsep.join([str(fetch_micrograd()),
                                                          env.get('PYTHONPATH', '')]))
    ours, theirs = {}, {}
    for _ in range(args.rounds):
        for pooled, result in ((ours, run_worker('tapegrad', args.steps, env)),
                               (theirs, run_worker('micrograd', args.micrograd_steps,
                                                   micrograd_env))):
            for key, number in result.items():
                if key.endswith('_s'):  # times: pooled over the rounds
                    pooled[key] = pooled.get(key, []) + number
                else:
                    pooled[key] = number

    mg = statistics.median(theirs['step_s'])
    tg = statistics.median(ours['step_s'])
    fit_eager = statistics.median(ours['fit_eager_s'])
    fit_auto = statistics.median(ours['fit_auto_s'])
    print(f"moons demo step: {ours['nodes']:,} graph nodes "
          f"(micrograd: {theirs['nodes']:,}); medians over {args.rounds} rounds of "
          f"{args.steps} tapegrad and {args.micrograd_steps} micrograd steps\n")
    print(f"{'':28}{'ms a step':>12}{'speed-up':>10}{'bytes a node':>14}")
    print(f"{'micrograd 0.1.0':28}{mg * 1e3:12.1f}{'1.0x':>10}{theirs['bytes_per_node']:14.0f}")
    print(f"{'tapegrad, hand-written loop':28}{tg * 1e3:12.1f}{mg / tg:9.1f}x"
          f"{ours['bytes_per_node']:14.0f}")
    print(f"{'tapegrad, fit(engine=eager)':28}{fit_eager * 1e3:12.1f}{mg / fit_eager:9.1f}x")
    print(f"{'tapegrad, fit() (the tape)':28}{fit_auto * 1e3:12.3f}{mg / fit_auto:9.0f}x")
    print(f"\na chain of {ours['chain_nodes']:,} tapegrad nodes, forward and backward: "
          f"{ours['chain_bytes_per_node']:.0f} bytes a node")


if __name__ == '__main__':
    main()
