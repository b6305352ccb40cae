"""The fuzzer's random programs on the tape: compile() must give the eager engine's bits.

The eager engine is checked against PyTorch in test_fuzz.py; here the tape is checked
against the eager engine, exactly: the same value and gradients, nan for nan, and signed
zeros told apart, because the replay applies the same rules in the same order.
"""

import math
import os

from hypothesis import HealthCheck, given, note, settings

import tapegrad
from fuzzgraphs import eager_result, programs, run, to_code
from tapegrad import Value

EXAMPLES = {'ci': 1_000, 'nightly': 20_000}[os.environ.get('TAPEGRAD_FUZZ', 'ci')]


def same_bits(a, b):
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)


def tape_result(program, leaf_values):
    leaves = [Value(x) for x in leaf_values]
    step = tapegrad.compile(lambda: run(program, leaves), leaves)
    return [step()] + [leaf.grad for leaf in leaves]


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(programs())
def test_tape_replays_random_programs_bit_for_bit(example):
    program, leaf_values = example
    note(to_code(program, leaf_values))
    eager, tape = eager_result(program, leaf_values), tape_result(program, leaf_values)
    names = ['value'] + [f"grad of v{i}" for i in range(len(leaf_values))]
    wrong = [f"{name}: eager {e!r}, tape {t!r}" for name, e, t in zip(names, eager, tape)
             if not same_bits(e, t)]
    assert not wrong, '\n'.join(wrong) + f"\nprogram:\n{to_code(program, leaf_values)}"
