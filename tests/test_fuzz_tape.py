"""The fuzzer's random programs on the tape: compile() must give the eager engine's bits.

The eager engine is checked against PyTorch in test_fuzz.py; here the tape is checked
against the eager engine, exactly: the same value and gradients, nan for nan, and signed
zeros told apart, because the replay applies the same rules in the same order.
"""

import math
import os

import pytest
from hypothesis import HealthCheck, given, note, settings

import tapegrad
from fuzzgraphs import eager_result, networks, programs, run, to_code
from tapegrad import Value

EXAMPLES = {'ci': 1_000, 'nightly': 20_000}[os.environ.get('TAPEGRAD_FUZZ', 'ci')]


def same_bits(a, b):
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)


def tape_result(program, leaf_values, backend):
    leaves = [Value(x) for x in leaf_values]
    step = tapegrad.compile(lambda: run(program, leaves), leaves, backend=backend)
    return [step()] + [leaf.grad for leaf in leaves]


def assert_same(eager, tape, names, code):
    wrong = [f"{name}: eager {e!r}, tape {t!r}" for name, e, t in zip(names, eager, tape)
             if not same_bits(e, t)]
    assert not wrong, '\n'.join(wrong) + f"\nprogram:\n{code}"


fuzzing = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                   suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize('backend', ['numpy', 'numba'])
@fuzzing
@given(example=programs())
def test_tape_replays_random_programs_bit_for_bit(backend, example):
    program, leaf_values = example
    note(to_code(program, leaf_values))
    eager, tape = eager_result(program, leaf_values), tape_result(program, leaf_values, backend)
    names = ['value'] + [f"grad of v{i}" for i in range(len(leaf_values))]
    assert_same(eager, tape, names, to_code(program, leaf_values))


@pytest.mark.parametrize('backend', ['numpy', 'numba'])
@fuzzing
@given(example=networks())
def test_tape_replays_networks_with_tied_parameters_bit_for_bit(backend, example):
    """Parameters shared between biases and weights and across neurons; data as inputs."""
    program, leaf_values, n_params = example
    code = to_code(program, leaf_values)
    note(code)
    eager = eager_result(program, leaf_values)[:1 + n_params]  # the data's grads are not kept
    params = [Value(x) for x in leaf_values[:n_params]]
    step = tapegrad.compile(lambda *data: run(program, params + list(data)), params,
                            backend=backend)
    tape = [step(*leaf_values[n_params:])] + [p.grad for p in params]
    names = ['value'] + [f"grad of v{i}" for i in range(n_params)]
    assert_same(eager, tape, names, code)
