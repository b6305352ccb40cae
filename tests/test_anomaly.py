"""detect_anomaly(): the first non-finite value or gradient raises, naming the op and your line."""

import math
import random
import re
import threading

import pytest
import torch

from tapegrad import MLP, Value, engine
from tapegrad.anomaly import AnomalyError, detect_anomaly
from torchref import same_float, tapegrad_value_and_grads, torch_value_and_grads

HERE = __file__


def line_of(text):
    """The number of the line of this file that contains `text`."""
    with open(HERE) as source:
        return next(n for n, line in enumerate(source, start=1) if text in line)


def raised(f, *args):
    """The message of the AnomalyError that f(*args) raises inside detect_anomaly()."""
    with pytest.raises(AnomalyError) as error:
        with detect_anomaly():
            f(*args)
    return str(error.value)


# ----------------------------------------------------------------------------------
# Forward: the op that makes inf or nan


FORWARD = {  # name: (expression on a Value x, x, how the message names the op)
    'log(0)': (lambda x: x.log(), 0.0, "'log'"),
    'exp(1000)': (lambda x: x.exp(), 1000.0, "'exp'"),
    '0/0': (lambda x: x / x, 0.0, "'/'"),
    '(-1)**0.5': (lambda x: x ** 0.5, -1.0, "'** 0.5'"),
    '1/-0': (lambda x: 1 / x, -0.0, "'/'"),
    '(-8)**(1/3)': (lambda x: (-8.0) ** x, 1 / 3, "'**'"),
    'overflowing product': (lambda x: x * x, 1e200, "'*'"),
}


@pytest.mark.parametrize('f, x, op', FORWARD.values(), ids=FORWARD)
def test_forward_raises_at_the_op_naming_it_its_inputs_and_the_users_line(f, x, op):
    message = raised(f, Value(x, label='x'))
    t = f(torch.tensor(x, dtype=torch.float64)).item()  # PyTorch gives the same non-finite value
    assert not math.isfinite(t)
    assert f"{op} of [" in message and f"gave {t!r}" in message
    assert f"x={x!r}" in message
    assert f"{HERE}:{f.__code__.co_firstlineno}" in message


def test_forward_shows_the_source_line_and_the_way_through_tapegrad():
    model = MLP(2, [3, 1], rng=random.Random(0))
    model.layers[1].neurons[0].w[2].data = math.inf  # as a diverged update would leave it
    with pytest.raises(AnomalyError) as error:
        with detect_anomaly():
            model([0.5, -1.0])
    message = str(error.value)
    assert f"{HERE}:{line_of('model([0.5, -1.0])')}\n      model([0.5, -1.0])" in message
    assert "MLP.__call__" in message and "Neuron.__call__" in message


def test_a_leaf_created_non_finite_is_reported_at_the_first_op_using_it():
    w = Value(math.inf, label='w')
    message = raised(lambda: w * 2.0 + 1.0)
    assert "'*' of [w=inf, 2.0] has a non-finite input" in message
    assert f"{HERE}:{line_of('raised(lambda: w * 2.0 + 1.0)')}" in message


def test_an_infinite_constant_is_a_non_finite_input():
    message = raised(lambda: Value(0.5) ** math.inf)
    assert "'** inf' of [0.5] has a non-finite input" in message


def test_ops_on_non_numbers_still_raise_type_error():
    with detect_anomaly(), pytest.raises(TypeError):
        Value(1.0) + 'one'


# ----------------------------------------------------------------------------------
# Backward: a finite forward whose gradient is not finite


def test_backward_raises_at_sqrt_of_zero_naming_the_op_and_where_it_was_made():
    x = Value(0.0, label='x')
    with pytest.raises(AnomalyError) as error:
        with detect_anomaly():
            y = x ** 0.5  # finite: 0, but the slope there is inf
            y.label = 'y'
            (y * 3.0).backward()
    message = str(error.value)
    t = torch.tensor(0.0, dtype=torch.float64, requires_grad=True)
    (t ** 0.5 * 3.0).backward()
    assert t.grad.item() == math.inf  # PyTorch's slope is inf too
    assert "backward of '** 0.5' of [x=0.0] (label 'y') gave input 0 the gradient inf" in message
    assert f"{HERE}:{line_of('y = x ** 0.5  # finite')}" in message


def test_backward_raises_at_log_of_a_tiny_value_under_a_large_gradient():
    x = Value(1e-300, label='x')
    with pytest.raises(AnomalyError) as error:
        with detect_anomaly():
            y = x.log()
            (y * 1e300).backward()
    t = torch.tensor(1e-300, dtype=torch.float64, requires_grad=True)
    (t.log() * 1e300).backward()
    assert t.grad.item() == math.inf
    assert "backward of 'log' of [x=1e-300] gave input 0 the gradient inf" in str(error.value)
    assert f"{HERE}:{line_of('y = x.log()')}" in str(error.value)


def test_backward_of_a_graph_made_before_the_with_says_no_line_is_known():
    x = Value(0.0)
    y = x ** 0.5
    with pytest.raises(AnomalyError, match="the op was made\n  outside detect_anomaly"):
        with detect_anomaly():
            y.backward()


# ----------------------------------------------------------------------------------
# Finite work: the same results as without the context, and PyTorch's


def every_op(a, b, c):
    h = (a * b).tanh() + (b / c).sigmoid() - (a - c).relu()
    return (h ** 2 + (c.exp() + 1).log()) ** (a.sigmoid()) * (2 ** b) / (1 + c ** 2)


def test_finite_work_gives_the_same_results_as_without_the_context():
    rng = random.Random(3)
    for _ in range(20):
        xs = [rng.uniform(-2, 2) for _ in range(3)]
        with detect_anomaly():
            checked = tapegrad_value_and_grads(every_op, xs)
        plain = tapegrad_value_and_grads(every_op, xs)
        reference = torch_value_and_grads(every_op, xs)
        assert checked == plain
        for ours, theirs in zip([checked[0], *checked[1]], [reference[0], *reference[1]]):
            assert same_float(ours, theirs, rel=1e-12)


def test_a_training_step_gives_the_same_gradients_as_without_the_context():
    model = MLP(3, [4, 4, 1], rng=random.Random(1))

    def gradients():
        model.zero_grad()
        data = [([1.0, -2.0, 0.5], 1.0), ([0.0, 3.0, -1.0], -1.0)]
        loss = sum((model(x) - y) ** 2 for x, y in data)
        loss.backward()
        return [p.grad for p in model.parameters()]

    with detect_anomaly():
        checked = gradients()
    assert checked == gradients()


# ----------------------------------------------------------------------------------
# The engine is never changed, and only the thread inside the `with` is checked


def engine_as_it_is():
    return dict(vars(Value)), dict(engine._BACKWARD), dict(engine.OPS)


def test_the_engine_is_never_patched_even_after_an_exception():
    before = engine_as_it_is()
    with detect_anomaly():
        assert engine_as_it_is() == before
    with pytest.raises(ZeroDivisionError):
        with detect_anomaly():
            1 / 0
    with pytest.raises(AnomalyError):
        with detect_anomaly():
            Value(0.0).log()
    assert engine_as_it_is() == before
    assert Value(0.0).log().data == -math.inf  # IEEE results again, no error
    assert not engine._watchers


def test_nested_contexts_keep_checking_until_the_outermost_exits():
    with detect_anomaly():
        with detect_anomaly():
            Value(1.0).log()
        with pytest.raises(AnomalyError):
            Value(0.0).log()
    assert Value(0.0).log().data == -math.inf


def test_other_threads_are_neither_checked_nor_changed():
    inside, outside = threading.Event(), threading.Event()
    seen = {}

    def eager_user():  # runs while the main thread is inside detect_anomaly()
        inside.wait()
        x = Value(0.0)
        y = x.log() * 2.0
        y.backward()
        seen['result'] = (y.data, x.grad)
        outside.set()

    worker = threading.Thread(target=eager_user)
    worker.start()
    with detect_anomaly():
        inside.set()
        outside.wait(timeout=60)
        with pytest.raises(AnomalyError):
            Value(0.0).log()
    worker.join()
    assert seen['result'] == (-math.inf, math.inf)


def test_creation_lines_are_kept_only_inside_the_context():
    from tapegrad import anomaly
    with detect_anomaly():
        y = Value(2.0).tanh()
        assert y in anomaly._open.checker.created_at
    assert anomaly._open.checker is None


@pytest.mark.parametrize('op', engine.OPS.values(), ids=list(engine.OPS))
def test_every_op_of_the_engine_is_checked(op):
    operands = [Value(math.inf)] + [Value(2.0)] * (op.n_inputs - 1) + [2.0] * op.takes_number
    with pytest.raises(AnomalyError, match=f"'{re.escape(op.shown(2.0))}' of .* has a non-finite input"):
        with detect_anomaly():
            op.call(*operands)


def test_anomaly_error_is_a_floating_point_error():
    assert issubclass(AnomalyError, FloatingPointError)
    assert issubclass(AnomalyError, ArithmeticError)
