"""Differential fuzzing: random programs over every op, tapegrad against PyTorch float64.

Each example is a random program from `fuzzgraphs.programs()`; its output value and the
gradient of every leaf must agree with PyTorch's. A failure shrinks to a minimal program,
printed as a script that runs it on both.

Agreement means: nan where PyTorch has nan, an infinity of the same sign where it has one,
and finite results within 1e-9 relative. Near zero a relative test is meaningless: x - y
for x close to y, or 1 - tanh(x)**2 where tanh(x) is close to 1, turns a one-ulp
difference into a large relative one, and one-ulp differences are legitimate (PyTorch's
exp and tanh do not always round as the C library's do, its x ** 3 is x * x * x where
tapegrad's is pow(x, 3), its backward of tanh computes 1 - y**2 with one rounding, and it
adds up a leaf's gradient terms in its own order). So a result beyond 1e-9
relative still agrees when PyTorch's own result moves as far once every operand of every op
(and the result that tanh and sigmoid read back), or every gradient flowing back along an
operand, is off by up to 1e-9 relative: the tolerance is the program's sensitivity to
rounding, measured on the reference. Near zero that is 1e-9 of the terms that cancelled,
such as 1/x and -x/x**2 in the slope of x / x, or 1 and tanh(x)**2 in 1 - tanh(x)**2.

Where PyTorch differs by design, the reference follows tapegrad's (documented) choice:
`number / tensor` divides (see `divide`), where PyTorch multiplies by a reciprocal.

Sizes: the "fuzz-ci" profile (the default) compares 10,000 short programs and 500 long ones,
the same every run; TAPEGRAD_FUZZ=nightly selects "fuzz-nightly", 200,000 and 10,000 fresh
ones. The number of programs compared is written at the end of the pytest run.
"""

import math
import os
import random
import time

import pytest
import torch
from hypothesis import HealthCheck, given, note, settings

from fuzzgraphs import OPS, eager_result, programs, run, to_code
from tapegrad import engine

RELATIVE = 1e-9

settings.register_profile('fuzz-ci', max_examples=10_000, deadline=None, derandomize=True,
                          database=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile('fuzz-nightly', max_examples=200_000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
PROFILE = settings.get_profile(f"fuzz-{os.environ.get('TAPEGRAD_FUZZ', 'ci')}")
LONG_PROGRAMS = settings(PROFILE, max_examples=PROFILE.max_examples // 20)


class Count:
    """The programs compared, written into pytest's closing summary for the record."""

    programs = 0
    seconds = 0.0

    def pytest_terminal_summary(self, terminalreporter):
        terminalreporter.write_line(f"fuzz: {self.programs:,} random programs compared with "
                                    f"PyTorch float64 in {self.seconds:.1f} s")


compared = Count()


@pytest.fixture(scope='module', autouse=True)
def report_count(request):
    request.config.pluginmanager.register(compared)
    start = time.perf_counter()
    yield
    compared.seconds = time.perf_counter() - start


# ----------------------------------------------------------------------------------
# The reference and the comparison


def divide(x, y):
    """x / y by PyTorch's division, also for a number x.

    For `number / tensor` PyTorch computes number * (1 / tensor), whose backward squares
    1 / y: below |y| = 1e-154 that overflows, and 0 / y gets the slope 0 * inf = nan where
    the true one, -0 / y**2, is 0. tapegrad divides, so its reference divides too.
    """
    return torch.as_tensor(x, dtype=torch.float64) / y


TORCH_OPS = {**OPS, '/': divide}


def torch_result(program, leaf_values, ops=TORCH_OPS):
    """[output value, d output / d leaf for each leaf] from PyTorch float64."""
    leaves = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in leaf_values]
    out = run(program, leaves, ops)
    out.backward()
    return [out.item()] + [0.0 if leaf.grad is None else leaf.grad.item() for leaf in leaves]


class SlopeFromJitteredResult(torch.autograd.Function):
    """tanh or sigmoid, whose backward reads their result y, reading y * factor instead.

    Their slopes 1 - y**2 and (1 - y) * y cancel as y nears 1, where one ulp of y (PyTorch's
    tanh does not always round as the C library's does) moves the slope far more than
    jittering the input can.
    """

    @staticmethod
    def forward(ctx, x, name, factor):
        y = getattr(torch, name)(x)
        ctx.name = name
        ctx.save_for_backward(y * factor)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        slope = 1 - y * y if ctx.name == 'tanh' else (1 - y) * y
        return grad * slope, None, None


def jittered_ops(rng, part):
    """Every op with one part of its rounding imitated by random factors within 1 +- RELATIVE.

    part='values': each tensor operand is off by a factor, and so is the result that tanh
    and sigmoid read in backward; the exponent of x ** y stays exact, as a negative base to
    a power just off an integer is nan. part='gradients': each gradient flowing back along
    an operand is off by a factor, and the values are exact. Apart, because at a cliff
    (1 ** w for a huge w) jittered values change the regime and hide how large the
    gradient terms that cancelled were.
    """
    def factor():
        return 1.0 + rng.uniform(-RELATIVE, RELATIVE)

    def jitter(x):
        if not isinstance(x, torch.Tensor):
            return x
        if part == 'values':
            return x * factor()
        moved = x * 1.0
        moved.register_hook(lambda grad: grad * factor())
        return moved

    def jittered(name, op):
        if part == 'values' and name == '**':
            return lambda base, exponent: op(jitter(base), exponent)
        if part == 'values' and name in ('tanh', 'sigmoid'):
            return lambda x: SlopeFromJitteredResult.apply(jitter(x), name, factor())
        return lambda *args: op(*map(jitter, args))
    return {name: jittered(name, op) for name, op in TORCH_OPS.items()}


def distance(x, reference):
    """|x - reference|; 0 for nan against nan and equal infinities, inf across those kinds."""
    if math.isfinite(x) and math.isfinite(reference):
        return abs(x - reference)
    same_kind = (math.isnan(x) and math.isnan(reference)) or x == reference
    return 0.0 if same_kind else math.inf


def within_relative(a, b):
    """a and b are the same kind of non-finite, or within RELATIVE of the larger."""
    d = distance(a, b)
    return d == 0 or (math.isfinite(d) and d <= RELATIVE * max(abs(a), abs(b)))


def rounding_spread(program, leaf_values, reference):
    """How far each of PyTorch's results moves when its values or its gradients are jittered."""
    rng = random.Random(0)
    spread = [0.0] * len(reference)
    for part in ['values', 'values', 'gradients', 'gradients']:  # two draws of each
        moved = torch_result(program, leaf_values, jittered_ops(rng, part))
        spread = [max(s, distance(m, r)) for s, m, r in zip(spread, moved, reference)]
    return spread


def check_program(program, leaf_values):
    """Assert tapegrad's value and leaf gradients agree with PyTorch's (see the module doc)."""
    ours = eager_result(program, leaf_values)
    theirs = torch_result(program, leaf_values)
    differ = [i for i, (a, b) in enumerate(zip(ours, theirs)) if not within_relative(a, b)]
    if not differ:
        return
    spread = rounding_spread(program, leaf_values, theirs)
    wrong = [i for i in differ if distance(ours[i], theirs[i]) > spread[i]]
    names = ['value'] + [f"grad of v{i}" for i in range(len(leaf_values))]
    report = '\n'.join(f"{names[i]}: tapegrad {ours[i]!r}, PyTorch {theirs[i]!r} "
                       f"(rounding moves PyTorch's by up to {spread[i]:.3g})" for i in wrong)
    assert not wrong, f"{report}\nreproduce with:\n\n{to_code(program, leaf_values)}"


# ----------------------------------------------------------------------------------
# The fuzz tests


@PROFILE
@given(programs())
def test_random_programs_match_torch(example):
    program, leaf_values = example
    note(to_code(program, leaf_values))
    check_program(program, leaf_values)
    compared.programs += 1


@LONG_PROGRAMS
@given(programs(max_leaves=6, min_steps=50, max_steps=200, max_sum=40))
def test_long_programs_match_torch(example):
    program, leaf_values = example
    note(to_code(program, leaf_values))
    check_program(program, leaf_values)
    compared.programs += 1


# ----------------------------------------------------------------------------------
# The harness itself: its printed code runs, and it catches a wrong engine


EVERY_FORM = [('+', 0, 1), ('-', 2, 1.5), ('*', -2.0, 3), ('/', 4, 0), ('/', 3.0, 5),
              ('**', 6, 2.0), ('**', 1, 0.5), ('**', 7, 1), ('**', -2.0, 0), ('neg', 9),
              ('exp', 10), ('log', 11), ('tanh', 12), ('sigmoid', 13), ('relu', 14),
              ('sum', 15, 8, 8, 2)]


def test_printed_code_reproduces_both_results(capsys):
    leaf_values = [0.7, -1.3]
    exec(to_code(EVERY_FORM, leaf_values), {})
    printed = capsys.readouterr().out.splitlines()
    for line, result in zip(printed, [eager_result(EVERY_FORM, leaf_values),
                                      torch_result(EVERY_FORM, leaf_values)]):
        assert line == f"{result[0]!r} {result[1:]!r}"


def test_printed_code_spells_out_nan_inf_and_negative_constants():
    code = to_code([('**', -2.0, 0), ('+', 1, math.inf)], [math.nan])
    assert "v1 = (-2.0) ** v0" in code and "v2 = v1 + float('inf')" in code
    assert "xs = [float('nan')]" in code


def test_a_wrong_gradient_is_caught(monkeypatch):
    def tanh_backward_missing_the_square(out):
        (x,) = out._prev
        x.grad += out.grad * (1.0 - out.data)

    monkeypatch.setitem(engine._BACKWARD, 'tanh', tanh_backward_missing_the_square)
    with pytest.raises(AssertionError, match="grad of v0: tapegrad") as failure:
        check_program([('tanh', 0)], [0.5])
    assert "v1 = v0.tanh()" in str(failure.value)


def test_a_wrong_gradient_is_caught_where_the_answer_is_zero(monkeypatch):
    # d/dx (x*x - x*x) is 0 whatever the rounding: the rounding allowance must not excuse it
    def mul_backward_twice(out):
        a, b = out._prev
        a.grad += 2 * out.grad * b.data
        b.grad += out.grad * a.data

    monkeypatch.setitem(engine._BACKWARD, '*', mul_backward_twice)
    with pytest.raises(AssertionError, match="grad of v0"):
        check_program([('*', 0, 0), ('*', 0, 0), ('-', 1, 2)], [1.25])
