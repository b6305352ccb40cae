"""Exercise 8: a training loop that lowers the loss, the learner's own.

The learner's loop is graded when there is one: a `train(model, xs, ys, steps,
learning_rate)` function, whose losses must be those of plain gradient descent on the
mean squared error, step by step; or else the last loop of the file or notebook that calls
`.backward()`, whose loss (recorded at the end of each of its rounds while the learner's
code ran) must go down. Without either, the checker trains the learner's MLP with its
own loop, and says so.
"""

import math

from ..framework import Exercise, Failed, Fallback, NotStarted, close, num, show
from .network import read_network

TEXT = """
## Exercise 8: training

Training repeats four steps:

1. **forward:** the model's predictions for every input, and the loss, here the mean
   squared error `mean((prediction - target)**2)`;
2. **zero the gradients:** `model.zero_grad()`, because `backward()` adds to them;
3. **backward:** `loss.backward()`;
4. **update:** move every parameter a little against its gradient, downhill:
   `p.data -= learning_rate * p.grad`.

**Task:** write `train`, returning the loss of each step (as floats, measured before that
step's update).
"""

STUB = '''
def train(model, xs, ys, steps, learning_rate):
    """Fit model to inputs xs and targets ys by gradient descent; the loss of each step."""
    ### YOUR CODE HERE
    raise NotImplementedError("Exercise 8: train")


# Try it: the loss should fall.
# random.seed(0)
# model = MLP(2, [4, 4, 1])
# xs = [[2.0, 3.0], [1.0, -1.0], [-1.0, -2.0], [-2.0, 2.0]]
# ys = [1.0, -1.0, -1.0, 1.0]
# losses = train(model, xs, ys, steps=50, learning_rate=0.05)
# print(losses[0], losses[-1])
'''

SOLUTION = '''
def train(model, xs, ys, steps, learning_rate):
    """Fit model to inputs xs and targets ys by gradient descent; the loss of each step."""
    losses = []
    for _ in range(steps):
        predictions = [model(x) for x in xs]
        loss = sum((p - y) ** 2 for p, y in zip(predictions, ys)) * (1.0 / len(ys))
        model.zero_grad()
        loss.backward()
        for p in model.parameters():
            p.data -= learning_rate * p.grad
        losses.append(loss.data)
    return losses


random.seed(0)
model = MLP(2, [4, 4, 1])
xs = [[2.0, 3.0], [1.0, -1.0], [-1.0, -2.0], [-2.0, 2.0]]
ys = [1.0, -1.0, -1.0, 1.0]
losses = train(model, xs, ys, steps=50, learning_rate=0.05)
print(losses[0], losses[-1])
'''

TRAIN_XS = [[2.0, 3.0], [1.0, -1.0], [-1.0, -2.0], [-2.0, 2.0], [0.5, 1.5], [1.5, -0.5]]
TRAIN_YS = [1.0, -1.0, -1.0, 1.0, 1.0, -1.0]
TRAIN_STEPS, TRAIN_RATE = 20, 0.05
MAKE_MODEL = "model = MLP(2, [4, 4, 1])"

# The checker's own loop, run with the learner's MLP when the learner has no loop.
CHECKERS_LOOP = f'''
losses = []
for _ in range({TRAIN_STEPS}):
    predictions = [model(x) for x in {TRAIN_XS!r}]
    loss = sum((p - y) ** 2 for p, y in zip(predictions, {TRAIN_YS!r})) * (1.0 / {len(TRAIN_YS)})
    model.zero_grad()
    loss.backward()
    for p in model.parameters():
        p.data += -{TRAIN_RATE!r} * p.grad
    losses.append(loss.data)
'''


def reference_training(model, zero_grad=True, sign=-1.0):
    """The losses of plain gradient descent on the mean squared error, step by step, with
    tapegrad's Values. `zero_grad=False` and `sign=+1.0` make two classic mistakes."""
    losses = []
    for _ in range(TRAIN_STEPS):
        predictions = [model(x) for x in TRAIN_XS]
        loss = sum((p - y) ** 2 for p, y in zip(predictions, TRAIN_YS)) * (1.0 / len(TRAIN_YS))
        if zero_grad:
            model.zero_grad()
        loss.backward()
        for p in model.parameters():
            p.data += sign * TRAIN_RATE * p.grad
        losses.append(loss.data)
    return losses


def check(learner):
    if not learner.has('MLP', 'class'):
        raise NotStarted("there is no class MLP")
    takes_five = _takes_five(learner)
    if takes_five:
        return _check_train(learner)
    if learner.loop:
        return _check_own_loop(learner)
    return _checkers_loop(learner)


def _takes_five(learner):
    """Whether the learner's train() is the exercise's: train(model, xs, ys, steps, rate)."""
    if not learner.has('train', 'function'):
        return False
    return learner.run(["import inspect",
                        "try:\n    inspect.signature(train).bind(1, 2, 3, 4, 5)\n    fits = True\n"
                        "except (TypeError, ValueError):\n    fits = False"], "fits")


def _check_train(learner):
    code = (f"random.seed(8)\n{MAKE_MODEL}\nxs = {TRAIN_XS}\nys = {TRAIN_YS}\n"
            f"losses = train(model, xs, ys, {TRAIN_STEPS}, {TRAIN_RATE})")
    network = read_network(learner, [MAKE_MODEL], code, seed=8)
    got = learner.run([MAKE_MODEL, f"losses = train(model, {TRAIN_XS!r}, {TRAIN_YS!r}, "
                                   f"{TRAIN_STEPS}, {TRAIN_RATE!r})"],
                      "[data_of(v) for v in losses] if isinstance(losses, (list, tuple)) "
                      "else see(losses)", seed=8, shown=code)
    if not isinstance(got, list) or not all(isinstance(v, float) for v in got):
        raise Failed(f"train() returned {show(got) if isinstance(got, dict) else got!r:.80}; "
                     "expected the list of losses, one float per step", code)
    if len(got) != TRAIN_STEPS:
        raise Failed(f"train() returned {len(got)} losses; expected {TRAIN_STEPS}, one per step",
                     code)
    start = [p.data for p in network.parameters()]
    want = reference_training(network)
    step = next((i for i, (g, w) in enumerate(zip(got, want)) if not close(g, w, 1e-6)), None)
    if step is not None:
        hint = None
        if _same_losses(got, network, start, zero_grad=False):
            hint = ("Gradients piled up from step to step: call model.zero_grad() before "
                    "loss.backward().")
        elif _same_losses(got, network, start, sign=1.0):
            hint = ("The loss grows: step against the gradient, p.data -= learning_rate * "
                    "p.grad.")
        elif step == 0:
            hint = "The loss is the mean of (prediction - target)**2 over the data."
        elif all(close(g, got[0], 1e-12) for g in got):
            hint = "The loss never changes: update p.data for every p in model.parameters()."
        raise Failed(f"At step {step} the loss is {num(got[step])}; expected "
                     f"{num(want[step])}", code, hint)
    _expect_lower(got, code)
    return None


def _same_losses(losses, network, start, **mistake):
    """Whether `losses` are those of the reference training with `mistake` made."""
    for p, data in zip(network.parameters(), start):
        p.data, p.grad = data, 0.0
    try:
        wrong = reference_training(network, **mistake)
    except ArithmeticError:  # the mistake made the numbers blow up: not what the learner did
        return False
    return all(close(g, w, 1e-6) for g, w in zip(losses, wrong))


def _check_own_loop(learner):
    label, line, loss_name = learner.loop
    where = f"{label}, line {line}"
    losses = learner.losses
    if not losses:
        raise Failed(f"Your training loop ({where}) did not finish a round: see what your code "
                     "raised, below.")
    if not all(isinstance(v, float) and math.isfinite(v) for v in losses):
        bad = next(v for v in losses if not (isinstance(v, float) and math.isfinite(v)))
        raise Failed(f"Your training loop ({where}) gave {loss_name} = {bad}; expected a finite "
                     "number every round")
    if len(losses) < 2 or not losses[-1] < losses[0]:
        raise Failed(f"Your training loop ({where}) did not lower {loss_name}: "
                     f"{num(losses[0])} in its first round, {num(losses[-1])} after "
                     f"{len(losses)} rounds",
                     hint="Each round: forward, model.zero_grad(), loss.backward(), then "
                          "p.data -= learning_rate * p.grad for every parameter.")
    return (f"your training loop ({where}) lowered {loss_name} from {num(losses[0])} to "
            f"{num(losses[-1])} in {len(losses)} rounds")


def _checkers_loop(learner):
    code = f"random.seed(8)\n{MAKE_MODEL}\n{CHECKERS_LOOP.strip()}"
    network = read_network(learner, [MAKE_MODEL], code, seed=8)
    got = learner.run([MAKE_MODEL, CHECKERS_LOOP], "[data_of(v) for v in losses]", seed=8,
                      shown=code)
    want = reference_training(network)
    step = next((i for i, (g, w) in enumerate(zip(got, want)) if not close(g, w, 1e-6)), None)
    if step is not None:
        raise Failed(f"Trained by the checker's own loop (your code has no train() function "
                     f"and no training loop), your MLP's loss at step {step} is "
                     f"{num(got[step])}; expected {num(want[step])}", code)
    _expect_lower(got, code)
    return Fallback(f"there is no train(model, xs, ys, steps, learning_rate) function or "
                    f"training loop in your code, so the checker trained your MLP with its own "
                    f"loop: loss {num(got[0])} -> {num(got[-1])}")


def _expect_lower(losses, code):
    if not losses[-1] < losses[0]:
        raise Failed(f"Training did not lower the loss: {num(losses[0])} at the start, "
                     f"{num(losses[-1])} after {len(losses)} steps", code)


EXERCISE = Exercise(8, "a training loop that lowers the loss", ('MLP', 'train'), (7,), check,
                    TEXT, STUB, SOLUTION)
