"""A compiled loss lowered to PyTorch (`compile(fn, params).to_torch()`) against the same
loss written in PyTorch by hand, on micrograd's moons step.

    python benchmarks/to_torch.py

One forward and backward of hinge + 1e-4 L2 over MLP(2, [16, 16, 1]) and 100 points
(moons-small) and over MLP(2, [64, 64, 1]) and 500 points (moons-big), float64, PyTorch on
one thread, medians of interleaved runs. Also the one-off costs for a new shape of the
data: tracing the loss into a tape (compile's, whole batch: 4.4 million Values on
moons-big) and lowering the tape to a program of tensor ops.
"""

import random
import statistics
import time

import numpy as np
import torch

import tapegrad
from tapegrad import MLP, losses
from tapegrad.data import make_moons

WORKLOADS = {'moons-small': ([2, 16, 16, 1], 100), 'moons-big': ([2, 64, 64, 1], 500)}
REPEATS = 200


def median_ms(fn, n):
    times = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def workload(sizes, n):
    np.random.seed(1337)
    X, labels = make_moons(n, noise=0.1)
    y = [2 * label - 1 for label in labels]
    model = MLP(sizes[0], sizes[1:], act='relu', out_act='linear', rng=random.Random(1337))

    def loss_fn(X, y):
        return losses.hinge([model(x) for x in X], y) + losses.l2(model.parameters(), 1e-4)

    return model, loss_fn, X, y


def hand_written(model, Xt, yt):
    """The same loss in PyTorch: one (W, b) pair per layer, the model's weights."""
    params = [t.requires_grad_() for t in model.state_dict(as_tensors=True).values()]

    def step():
        h = Xt
        for i in range(0, len(params), 2):
            h = h @ params[i].T + params[i + 1]
            if i < len(params) - 2:
                h = torch.relu(h)
        loss = torch.relu(1 - yt * h[:, 0]).mean() + 1e-4 * sum((p * p).sum() for p in params)
        loss.backward()
    return step


def main():
    torch.set_num_threads(1)
    print(f"{'':12} {'lowered ms':>11} {'by hand ms':>11} {'ratio':>6} {'trace s':>8} "
          f"{'lower s':>8}")
    for name, (sizes, n) in WORKLOADS.items():
        model, loss_fn, X, y = workload(sizes, n)
        Xt, yt = torch.tensor(X, dtype=torch.float64), torch.tensor(y, dtype=torch.float64)
        compiled = tapegrad.compile(loss_fn, model.parameters())
        start = time.perf_counter()
        compiled.tape(X, y)
        tracing = time.perf_counter() - start
        f = compiled.to_torch()
        theta = f.params_tensor()
        start = time.perf_counter()
        f.program(Xt, yt)
        lowering = time.perf_counter() - start

        def lowered():
            theta.grad = None
            f(theta, Xt, yt).backward()

        by_hand = hand_written(model, Xt, yt)
        for warm in (lowered, by_hand):
            warm()
        a, b = [], []
        for _ in range(5):  # interleaved, so that a busy moment hits both
            a.append(median_ms(lowered, REPEATS // 5))
            b.append(median_ms(by_hand, REPEATS // 5))
        a, b = statistics.median(a), statistics.median(b)
        print(f"{name:12} {a:11.3f} {b:11.3f} {a / b:5.1f}x {tracing:8.2f} {lowering:8.2f}")


if __name__ == '__main__':
    main()
