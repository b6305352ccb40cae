"""Every loss against torch.nn.functional in float64: the value and every input's gradient."""

import random
from decimal import Decimal, localcontext

import pytest
import torch
import torch.nn.functional as F

from tapegrad import MLP, Value
from tapegrad.engine import topological_order
from tapegrad.losses import binary_cross_entropy, cross_entropy, hinge, l2, mse

EPS = 2.0 ** -52  # the gap between 1.0 and the next float


def close(a, b, rel=1e-14, abs_tol=0.0):
    return a == b or abs(a - b) <= max(rel * max(abs(a), abs(b)), abs_tol)


def assert_matches_torch(ours, theirs, *args, value_abs=0.0, grad_abs=0.0):
    """ours(lists of Values) and theirs(float64 tensors) agree in value and every gradient."""
    values = [[Value(x) for x in arg] for arg in args]
    loss = ours(*values)
    loss.backward()
    tensors = [torch.tensor(arg, dtype=torch.float64, requires_grad=True) for arg in args]
    t_loss = theirs(*tensors)
    t_loss.backward()
    assert close(loss.data, t_loss.item(), abs_tol=value_abs), (loss.data, t_loss.item(), args)
    for i, (vs, t) in enumerate(zip(values, tensors)):
        for j, (v, g) in enumerate(zip(vs, t.grad.tolist())):
            assert close(v.grad, g, abs_tol=grad_abs), f"argument {i}[{j}]: {v.grad} != {g}"


def shape(loss):
    """The graph without its numbers: each value's op and where its inputs stand."""
    order = topological_order(loss)
    position = {id(v): i for i, v in enumerate(order)}
    return tuple((v._op, tuple(position[id(u)] for u in v._prev)) for v in order)


def uniforms(rng, n, scale=3.0):
    return [rng.uniform(-scale, scale) for _ in range(n)]


# ----------------------------------------------------------------------------------
# mse


@pytest.mark.parametrize('reduction', ['sum', 'mean'])
def test_mse_matches_torch(reduction):
    rng = random.Random(0)
    for n in (1, 4, 25):
        assert_matches_torch(lambda p, t: mse(p, t, reduction),
                             lambda p, t: F.mse_loss(p, t, reduction=reduction),
                             uniforms(rng, n), uniforms(rng, n))


def test_mse_is_the_seeds_day5_loss_bit_for_bit():
    xs = [[2.0, 3.0, -1.0], [3.0, -1.0, 0.5], [0.5, 1.0, 1.0], [1.0, 1.0, -1.0]]
    yt = [1.0, -1.0, -1.0, 1.0]
    histories, finals = [], []
    for loss_of in (lambda preds: sum((p - t)**2 for p, t in zip(preds, yt)),  # the seeds'
                    lambda preds: mse(preds, yt)):
        random.seed(42)
        model = MLP(3, [4, 4, 1])
        history = []
        for _ in range(50):  # the seeds' Day 5 loop
            loss = loss_of([model(x) for x in xs])
            history.append(loss.data)
            for p in model.parameters():
                p.grad = 0.0
            loss.backward()
            for p in model.parameters():
                p.data -= 0.05 * p.grad
        histories.append(history)
        finals.append([p.data for p in model.parameters()])
    assert histories[0] == histories[1] and finals[0] == finals[1]
    assert histories[1][-1] < histories[1][0] / 10


def test_mse_mean_is_the_exercise_notebooks_loss_bit_for_bit():
    rng = random.Random(1)
    ypred = [Value(x) for x in uniforms(rng, 4)]
    ys = [1.0, -1.0, -1.0, 1.0]
    losses = [(yout - ytrue)**2 for yout, ytrue in zip(ypred, ys)]
    assert mse(ypred, ys, reduction='mean').data == (sum(losses) * (1.0 / len(losses))).data


def test_mse_takes_plain_numbers_and_gives_a_value():
    loss = mse([0.5, 2], [1.0, Value(1.0)], reduction='mean')
    assert isinstance(loss, Value) and loss.data == (0.25 + 1.0) / 2


# ----------------------------------------------------------------------------------
# hinge and l2


def test_hinge_matches_torch():
    rng = random.Random(2)
    labels = [rng.choice([1, -1]) for _ in range(30)]
    scores = uniforms(rng, 30) + [1.0, -1.0]  # the last two sit exactly on the hinge
    labels += [1, -1]
    y = torch.tensor(labels, dtype=torch.float64)
    assert_matches_torch(lambda s: hinge(s, labels), lambda s: F.relu(1 - y * s).mean(), scores)


def micrograds_demo_loss(model, scores, yb, alpha=1e-4):
    # micrograd's demo notebook, term for term
    losses = [(1 + -yi*scorei).relu() for yi, scorei in zip(yb, scores)]
    data_loss = sum(losses) * (1.0 / len(losses))
    reg_loss = alpha * sum((p*p for p in model.parameters()))
    return data_loss + reg_loss


def test_hinge_and_l2_are_micrograds_demo_loss_bit_for_bit():
    rng = random.Random(3)
    X = [uniforms(rng, 2) for _ in range(20)]
    yb = [rng.choice([1, -1]) for _ in range(20)]
    grads = []
    for loss_of in (lambda m, s: micrograds_demo_loss(m, s, yb),
                    lambda m, s: hinge(s, yb) + l2(m.parameters(), 1e-4)):
        model = MLP(2, [8, 1], act='relu', out_act='linear', rng=random.Random(4))
        loss = loss_of(model, [model(x) for x in X])
        loss.backward()
        grads.append([loss.data] + [p.grad for p in model.parameters()])
    assert grads[0] == grads[1]


def test_l2_matches_torch():
    rng = random.Random(5)
    assert_matches_torch(lambda p: l2(p, 1e-4), lambda p: 1e-4 * (p * p).sum(), uniforms(rng, 40))


def test_hinge_labels_may_be_values():
    assert hinge([Value(0.5), Value(3.0)], [Value(1.0), Value(-1.0)]).data == (0.5 + 4.0) / 2


# ----------------------------------------------------------------------------------
# binary cross-entropy


def test_binary_cross_entropy_matches_torch_on_random_logits():
    rng = random.Random(6)
    for scale in (1.0, 10.0, 50.0):
        logits = uniforms(rng, 40, scale)
        for targets in ([float(rng.random() < 0.5) for _ in logits],
                        [rng.random() for _ in logits]):  # probabilities, not only 0/1
            # the gradient, sigmoid(z) - y, rounds to within EPS of the truth in PyTorch
            # and in ours: for z > 0 and y = 1 both are sums of numbers near 1
            assert_matches_torch(binary_cross_entropy, F.binary_cross_entropy_with_logits,
                                 logits, targets, value_abs=EPS * scale, grad_abs=2 * EPS / 40)


EXTREME_LOGITS = [1000.0, -1000.0, 700.0, -700.0, 40.0, -40.0, 20.0, -20.0, 1e-20, 0.0, -0.0]


@pytest.mark.parametrize('z', EXTREME_LOGITS)
@pytest.mark.parametrize('y', [0.0, 1.0, 0.25])
def test_binary_cross_entropy_matches_torch_on_extreme_logits(z, y):
    # where no term of PyTorch's formula cancels, equal to 1e-14; where one does (z < 0 and
    # y = 0) PyTorch's value is off by up to EPS * |z|, ours is not (next test)
    assert_matches_torch(binary_cross_entropy, F.binary_cross_entropy_with_logits,
                         [z], [y], value_abs=EPS * abs(z), grad_abs=EPS)


@pytest.mark.parametrize('y', [0.0, 1.0, 0.3])
def test_binary_cross_entropy_slope_at_a_zero_logit_is_sigmoid_0_minus_target(y):
    logits = [Value(0.0), Value(0.0)]
    binary_cross_entropy(logits, [y, y]).backward()
    assert [v.grad for v in logits] == [(0.5 - y) / 2] * 2


def exact_bce(z, y):
    with localcontext() as ctx:
        ctx.prec = 400  # enough digits that 1 + exp(-700) keeps its last ones
        z, y = Decimal(z), Decimal(y)
        return float(max(z, 0) + (1 + (-abs(z)).exp()).ln() - z * y)


@pytest.mark.parametrize('z, y', [(20.0, 1.0), (-20.0, 0.0), (40.0, 1.0), (-40.0, 0.0),
                                  (700.0, 1.0), (-700.0, 0.0), (5.0, 1.0), (0.0, 1.0)])
def test_binary_cross_entropy_keeps_every_digit_of_a_small_loss(z, y):
    # against the exact value: the loss of a confident right answer is exp(-|z|), tiny
    assert close(binary_cross_entropy([z], [y]).data, exact_bce(z, y), rel=4e-16)


# ----------------------------------------------------------------------------------
# cross-entropy


def assert_cross_entropy_matches_torch(rows, classes):
    values = [[Value(z) for z in row] for row in rows]
    loss = cross_entropy(values, classes)
    loss.backward()
    t = torch.tensor(rows, dtype=torch.float64, requires_grad=True)
    t_loss = F.cross_entropy(t, torch.tensor(classes))
    t_loss.backward()
    n, scale = len(rows), max(abs(z) for row in rows for z in row)
    # the largest logit is built from relu, max(a, b) = a + relu(b - a), and can round by
    # one ulp of the logits; in the loss that is at most EPS * scale
    assert close(loss.data, t_loss.item(), abs_tol=EPS * max(scale, 1)), (rows, classes)
    for row, t_row in zip(values, t.grad.tolist()):
        for v, g in zip(row, t_row):
            assert close(v.grad, g, abs_tol=2 * EPS / n), (v.grad, g, rows, classes)


def test_cross_entropy_matches_torch_on_random_logits():
    rng = random.Random(7)
    for scale in (1.0, 5.0, 30.0, 1000.0):
        for n_classes in (2, 3, 5):
            rows = [uniforms(rng, n_classes, scale) for _ in range(8)]
            assert_cross_entropy_matches_torch(rows, [rng.randrange(n_classes) for _ in rows])


@pytest.mark.parametrize('row', [[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 999.0],
                                 [-1000.0, -1000.0, -1000.0], [0.0, 0.0, 0.0],
                                 [2.0, 2.0, -1.0], [1000.0, 1000.0, 1000.0]])
@pytest.mark.parametrize('c', [0, 1, 2])
def test_cross_entropy_matches_torch_on_extreme_and_tied_logits(row, c):
    assert_cross_entropy_matches_torch([row], [c])


def test_cross_entropy_of_two_classes_is_binary_cross_entropy_of_the_difference():
    rng = random.Random(8)
    rows = [uniforms(rng, 2) for _ in range(10)]
    classes = [rng.randrange(2) for _ in rows]
    assert close(cross_entropy(rows, classes).data,
                 binary_cross_entropy([b - a for a, b in rows], classes).data)


# ----------------------------------------------------------------------------------
# A tape records the graph once and replays it on new numbers: its shape must not
# depend on the values that went in


@pytest.mark.parametrize('loss_of', [
    lambda z, y: mse(z, y),
    lambda z, y: mse(z, y, reduction='mean'),
    lambda z, y: hinge(z, [1 if t > 0 else -1 for t in y]),
    lambda z, y: binary_cross_entropy(z, [float(t > 0) for t in y]),
    lambda z, y: cross_entropy([z[:3], z[3:]], [2, 0]),
])
def test_the_graphs_shape_does_not_depend_on_the_numbers(loss_of):
    rng = random.Random(9)
    shapes = {shape(loss_of(uniforms(rng, 6, 10.0), uniforms(rng, 6))) for _ in range(20)}
    shapes.add(shape(loss_of([0.0] * 6, [1.0, -1.0] * 3)))
    assert len(shapes) == 1


# ----------------------------------------------------------------------------------
# Errors say what was wrong, with the value, and what to do


@pytest.mark.parametrize('call, error, words', [
    (lambda: mse([1.0, 2.0], [1.0]), ValueError, ['2 predictions', '1 targets']),
    (lambda: binary_cross_entropy([1.0], [1.0, 0.0, 1.0]), ValueError,
     ['1 predictions', '3 targets']),
    (lambda: hinge([], []), ValueError, ['no predictions']),
    (lambda: mse([Value(1.0)], [1.0], reduction='avg'), ValueError, ["'sum' or 'mean'", "'avg'"]),
    (lambda: mse([[Value(1.0)]], [1.0]), TypeError, ['prediction 0', 'list']),
    (lambda: mse(Value(1.0), [1.0]), TypeError, ['wrap it in a list']),
    (lambda: hinge([1.0, 2.0], [1, 0]), ValueError, ['got 0 at index 1', '2*y - 1']),
    (lambda: l2([], 0.1), ValueError, ['no parameters']),
    (lambda: cross_entropy([[1.0, 2.0]], [2]), ValueError, ['class 2 at index 0', '2 classes']),
    (lambda: cross_entropy([[1.0, 2.0]], [-1]), ValueError, ['class -1 at index 0', '2 classes']),
    (lambda: cross_entropy([[1.0, 2.0], [1.0, 0.0]], [0, 1.0]), TypeError,
     ['index 1', 'integer', '1.0']),
    (lambda: cross_entropy([[1.0, 2.0], [1.0]], [0, 0]), ValueError, ['sample 1 has 1 logits']),
    (lambda: cross_entropy([Value(1.0)], [0]), TypeError, ['binary_cross_entropy']),
    (lambda: cross_entropy([], []), ValueError, ['no samples']),
    (lambda: cross_entropy([[1.0]], [0, 0]), ValueError, ['1 samples', '2 classes']),
])
def test_bad_input_raises_a_clear_error(call, error, words):
    with pytest.raises(error) as info:
        call()
    for word in words:
        assert word in str(info.value), str(info.value)
