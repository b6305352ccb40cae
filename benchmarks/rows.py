"""One row of benchmarks/compiled.py: one way of writing the training step, timed in a process of its own.

    python benchmarks/rows.py < job.json     # prints one JSON line: losses, times, version

The job (JSON on stdin, written by compiled.py) names the row and gives everything the
step needs: layer sizes, the data, the starting weights, learning rate, L2 weight, the
core to pin to and how long to time. Every row starts from the same numbers and trains
with the same step: forward over the whole batch, hinge loss mean(relu(1 - y*s)) plus
alpha * sum of squared parameters, backward, SGD with a constant learning rate. Each
reports the loss of its first few steps, so the driver can check that all rows compute
the same thing.

Nothing here imports tapegrad, NumPy or a framework at module level: the JAX rows may run
in an interpreter that has only NumPy and JAX, the micrograd row in one where `micrograd`
is the PyPI package.
"""

import json
import math
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


# ----------------------------------------------------------------------------------
# The workload's starting point


def weights(sizes, seed=1337):
    """micrograd's demo weights: random.seed(1337), then uniform(-1, 1) weight by weight in
    its order (layer, neuron, input); biases 0. One list [w_1, ..., w_nin, b] a neuron."""
    import random
    rng = random.Random(seed)
    return [[[rng.uniform(-1, 1) for _ in range(nin)] + [0.0] for _ in range(nout)]
            for nin, nout in zip(sizes, sizes[1:])]


def set_weights(model, rows):
    """Copy `weights()` into a tapegrad or micrograd MLP (both have layers/neurons/w/b)."""
    for layer, layer_rows in zip(model.layers, rows):
        for neuron, row in zip(layer.neurons, layer_rows):
            for value, number in zip(neuron.w + [neuron.b], row):
                value.data = number


def tapegrad_model(sizes, rows):
    from tapegrad import MLP
    model = MLP(sizes[0], sizes[1:], act='relu', out_act='linear')
    set_weights(model, rows)
    return model


def matrices(rows):
    """Per layer: the weight matrix (nout x nin) and the bias vector, as lists."""
    return [([r[:-1] for r in layer], [r[-1] for r in layer]) for layer in rows]


# ----------------------------------------------------------------------------------
# The steps. Each builder returns step(): one training step, returning its loss, with the
# work finished (JAX runs asynchronously: its step waits for the result).


def jax_step(job, dtype):
    """A jitted step function, update included, as the JAX documentation writes one."""
    import jax
    if dtype == 'float64':
        jax.config.update('jax_enable_x64', True)
    import jax.numpy as jnp
    lr, alpha = job['lr'], job['alpha']
    params = [(jnp.asarray(W, dtype=dtype), jnp.asarray(b, dtype=dtype))
              for W, b in matrices(job['weights'])]
    X, y = jnp.asarray(job['X'], dtype=dtype), jnp.asarray(job['y'], dtype=dtype)

    def loss_fn(params, X, y):
        h = X
        for i, (W, b) in enumerate(params):
            h = h @ W.T + b
            if i < len(params) - 1:
                h = jax.nn.relu(h)
        data_loss = jnp.mean(jax.nn.relu(1 - y * h[:, 0]))
        return data_loss + alpha * sum(jnp.sum(W * W) + jnp.sum(b * b) for W, b in params)

    @jax.jit
    def train_step(params, X, y):
        loss, grads = jax.value_and_grad(loss_fn)(params, X, y)
        return jax.tree_util.tree_map(lambda p, g: p - lr * g, params, grads), loss

    state = {'params': params}

    def step():
        state['params'], loss = train_step(state['params'], X, y)
        return jax.block_until_ready((state['params'], loss))[1]

    return step, jax.__version__


def torch_step(job, dtype_name):
    """torch.nn layers and torch.optim.SGD, one thread, as the PyTorch tutorials write it."""
    import torch
    torch.set_num_threads(1)
    dtype = getattr(torch, dtype_name)
    sizes, alpha = job['sizes'], job['alpha']
    layers = []
    for i, (W, b) in enumerate(matrices(job['weights'])):
        linear = torch.nn.Linear(sizes[i], sizes[i + 1], dtype=dtype)
        with torch.no_grad():
            linear.weight.copy_(torch.tensor(W, dtype=dtype))
            linear.bias.copy_(torch.tensor(b, dtype=dtype))
        layers += [linear, torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers[:-1])  # no ReLU after the output layer
    optimizer = torch.optim.SGD(model.parameters(), lr=job['lr'])
    X, y = torch.tensor(job['X'], dtype=dtype), torch.tensor(job['y'], dtype=dtype)

    def step():
        scores = model(X)[:, 0]
        loss = torch.relu(1 - y * scores).mean() + alpha * sum((p * p).sum()
                                                               for p in model.parameters())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss.detach()

    return step, torch.__version__


def numpy_step(job):
    """The step written by hand with NumPy matrices: forward, backward, update (float64)."""
    import numpy as np
    lr, alpha = job['lr'], job['alpha']
    Ws, bs = zip(*[(np.array(W), np.array(b)) for W, b in matrices(job['weights'])])
    X, y = np.array(job['X']), np.array(job['y'], dtype=float)

    def step():
        hs, zs = [X], []
        for i, (W, b) in enumerate(zip(Ws, bs)):
            zs.append(hs[-1] @ W.T + b)
            hs.append(np.maximum(zs[-1], 0) if i < len(Ws) - 1 else zs[-1])
        margins = 1 - y * hs[-1][:, 0]
        loss = (np.maximum(margins, 0).mean()
                + alpha * sum((W * W).sum() + (b * b).sum() for W, b in zip(Ws, bs)))
        g = (np.where(margins > 0, -y, 0.0) / len(y))[:, None]  # d loss / d scores
        for i in reversed(range(len(Ws))):
            gW, gb = g.T @ hs[i] + 2 * alpha * Ws[i], g.sum(0) + 2 * alpha * bs[i]
            if i:
                g = (g @ Ws[i]) * (zs[i - 1] > 0)
            Ws[i][...] -= lr * gW
            bs[i][...] -= lr * gb
        return loss

    return step, np.__version__


def value_loop_step(job, engine):
    """micrograd's demo loop (benchmarks/eager.py), on micrograd 0.1.0 or on tapegrad."""
    sys.path.insert(0, str(HERE))
    from eager import hand_written_step
    if engine == 'micrograd':
        import micrograd
        from micrograd.engine import Value
        from micrograd.nn import MLP
        if hasattr(Value, 'sigmoid'):  # tapegrad's drop-in has it; PyPI's 0.1.0 does not
            raise RuntimeError(f"this is tapegrad's micrograd ({micrograd.__file__}), not "
                               f"micrograd 0.1.0 from PyPI: put it first on PYTHONPATH")
        model = MLP(job['sizes'][0], job['sizes'][1:])
        set_weights(model, job['weights'])
        version = '0.1.0'
    else:
        import tapegrad
        from tapegrad import Value
        model = tapegrad_model(job['sizes'], job['weights'])
        version = tapegrad.__version__
    X, y, lr = job['X'], job['y'], job['lr']
    return (lambda: hand_written_step(model, X, y, Value, lr).data), version


def compile_step(job):
    """tapegrad.compile on the loss, then the README's own loop."""
    import tapegrad
    model = tapegrad_model(job['sizes'], job['weights'])
    X, y, lr, alpha = job['X'], job['y'], job['lr'], job['alpha']

    def loss_fn(X, y):
        scores = [model(x) for x in X]
        return tapegrad.losses.hinge(scores, y) + tapegrad.losses.l2(model.parameters(), alpha)

    compiled = tapegrad.compile(loss_fn, model.parameters())

    def step():
        model.zero_grad()
        loss = compiled(X, y)
        for p in model.parameters():
            p.data -= lr * p.grad
        return loss

    step.ready = lambda: not compiled.backend.waits  # numba's loops, or NumPy's for good
    return step, tapegrad.__version__


def compile_optimizer_step(job):
    """tapegrad.compile with an optimizer, as the README's first compile example: a call
    is the whole training step."""
    import tapegrad
    from tapegrad.optim import SGD
    model = tapegrad_model(job['sizes'], job['weights'])
    X, y, lr, alpha = job['X'], job['y'], job['lr'], job['alpha']

    def loss_fn(X, y):
        scores = [model(x) for x in X]
        return tapegrad.losses.hinge(scores, y) + tapegrad.losses.l2(model.parameters(), alpha)

    compiled = tapegrad.compile(loss_fn, model.parameters(),
                                optimizer=SGD(model.parameters(), lr=lr))

    def step():
        return compiled(X, y)

    step.ready = lambda: not compiled.backend.waits  # numba's loops, or NumPy's for good
    return step, tapegrad.__version__


STEPS = {
    'jax-float64': lambda job: jax_step(job, 'float64'),
    'jax-float32': lambda job: jax_step(job, 'float32'),
    'torch-float64': lambda job: torch_step(job, 'float64'),
    'torch-float32': lambda job: torch_step(job, 'float32'),
    'numpy': numpy_step,
    'micrograd': lambda job: value_loop_step(job, 'micrograd'),
    'eager': lambda job: value_loop_step(job, 'tapegrad'),
    'compile': compile_step,
    'compile-optimizer': compile_optimizer_step,
}


def time_step(job):
    """Untimed warm-up steps (JAX compiles, PyTorch allocates, compile() traces at the first),
    then steps timed one by one until `budget` seconds have passed (at least `least`
    steps, at most `most`). The losses of the first `check` steps are kept."""
    step, version = STEPS[job['row']](job)
    losses, times, first = [], [], None
    warmup, budget = job['warmup'], job['budget']
    started = None
    while len(times) < job['most']:
        t0 = time.perf_counter()
        loss = step()
        elapsed = time.perf_counter() - t0
        if first is None:
            first = elapsed
        if len(losses) < job['check']:
            losses.append(float(loss))
        if warmup or not getattr(step, 'ready', lambda: True)():
            warmup = max(0, warmup - 1)  # (compile() replays with NumPy until numba's loops
            continue                     # are loaded, in a thread: a second or so; where they
                                         # cannot be, it says so and stays on NumPy)
        times.append(elapsed)
        started = started or t0
        if len(times) >= job['least'] and time.perf_counter() - started >= budget:
            break
    return {'losses': losses, 'times': times, 'first call': first, 'version': version}


# ----------------------------------------------------------------------------------
# fit(): one call runs the whole training, so a step is timed as the difference of two runs


def time_fit(job):
    """fit() as the README calls it. A run is one call, and it starts by tracing the model,
    so the time a step is (time of a long run - time of a short run) / (difference in
    steps), each run on a fresh model. The first run in the process is not used for that:
    it also loads numba's compiled code, and the first run of a big network is slower for
    a while (memory). The short run is the faster of two more (a busy machine only ever
    adds time); the long run is lengthened until its extra steps take `budget` seconds and
    at least as long as the short run (whose start-up varies by a fraction of itself).
    The start-up is the first run's time beyond its steps: what the first fit() call of a
    program waits before training."""
    import tapegrad
    X, y, sizes = job['X'], job['y'], job['sizes']

    def run(steps):
        model = tapegrad_model(sizes, job['weights'])
        t0 = time.perf_counter()
        history = tapegrad.fit(model, X, y, loss='hinge', l2=job['alpha'], lr=job['lr'],
                               steps=steps, progress=False)
        return time.perf_counter() - t0, history

    few = job['few']
    t_first, _ = run(few)
    t_few, short = min(run(few), run(few), key=lambda timed: timed[0])
    extra, enough = few, max(job['budget'], t_few)
    while True:
        t_many, long = run(few + extra)
        spent = t_many - t_few
        if spent >= enough or extra >= job['most']:
            break
        grow = 8 if spent <= 0 else min(8, max(2, math.ceil(1.2 * enough / spent)))
        extra = min(job['most'], extra * grow)
    per_step = spent / extra
    return {'losses': long.loss[:job['check']], 'times': [per_step],
            'start-up': [t_first - few * per_step], 'steps': few + extra,
            'engine': sorted({short.engine, long.engine}), 'version': tapegrad.__version__}


class _FirstStepDone(Exception):
    pass


def first_fit_step(job):
    """Seconds from `import tapegrad` to the end of fit()'s first step, in this fresh process."""
    if job.get('no scipy'):
        # as in `pip install tapegrad[all]`: scipy is in this environment only for the tests'
        # scikit-learn, and numba imports it at start-up when it is there
        sys.modules['scipy'] = None
    X, y, sizes = job['X'], job['y'], job['sizes']
    t0 = time.perf_counter()
    import tapegrad
    model = tapegrad.MLP(sizes[0], sizes[1:], act='relu', out_act='linear')
    set_weights(model, job['weights'])

    def stop_after_first(step, history):
        raise _FirstStepDone(time.perf_counter(), history.engine)

    try:
        tapegrad.fit(model, X, y, loss='hinge', l2=job['alpha'], lr=job['lr'], steps=100,
                     progress=False, callback=stop_after_first)
    except _FirstStepDone as done:
        end, engine = done.args
    return {'first step': end - t0, 'engine': engine, 'version': tapegrad.__version__}


# ----------------------------------------------------------------------------------
# compile()'s one-off costs with numba (benchmarks/startup.py prints them)


def compile_first_calls(job):
    """compile() with the given backend: seconds to the end of its first call, a steady
    call, and with the default backend, when numba's compiled loops took over (tapegrad
    replays with NumPy until numba has compiled them in a separate process)."""
    t0 = time.perf_counter()
    import numba  # noqa: F401  (timed apart: it is most of a second on its own)
    import_numba = time.perf_counter() - t0
    import tapegrad
    model = tapegrad_model(job['sizes'], job['weights'])
    X, y, alpha = job['X'], job['y'], job['alpha']

    def loss_fn(X, y):
        scores = [model(x) for x in X]
        return tapegrad.losses.hinge(scores, y) + tapegrad.losses.l2(model.parameters(), alpha)

    t0 = time.perf_counter()
    compiled = tapegrad.compile(loss_fn, model.parameters(), backend=job['backend'])
    compiled.tape(X, y)
    trace = time.perf_counter() - t0
    calls, took_over = 0, None
    while True:
        model.zero_grad()
        compiled(X, y)
        calls += 1
        if calls == 1:
            first = time.perf_counter() - t0
        active = getattr(getattr(compiled, 'backend', None), 'active', None)  # None: not told
        if active != 'numpy' or time.perf_counter() - t0 > job['budget']:
            took_over = time.perf_counter() - t0 if active == 'numba' else None
            break
    t1 = time.perf_counter()
    compiled(X, y)
    return {'import numba': import_numba, 'trace': trace, 'first call': first,
            'steady call': time.perf_counter() - t1, 'numba from': took_over,
            'calls before numba': calls - 1, 'version': tapegrad.__version__}


def worker(job):
    core = job.get('core')
    if core is not None:
        os.sched_setaffinity(0, {core})  # before any library starts its threads
    if job['row'] == 'fit':
        result = time_fit(job)
    elif job['row'] == 'first-fit-step':
        result = first_fit_step(job)
    elif job['row'] == 'compile-first-calls':
        result = compile_first_calls(job)
    else:
        result = time_step(job)
    result['cores'] = sorted(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else None
    return result


if __name__ == '__main__':
    print(json.dumps(worker(json.load(sys.stdin))))
