"""Graphs of a million nodes, forward and backward, in the eager engine and on the tape.

The numbers are chosen so that the exact answers are known in closed form (sums of small
integers, products with 1.0), the independent reference here.
"""

import tapegrad
from tapegrad import Value

N = 1_000_000


def chain(x, w):
    """x*w, then N more '*' nodes (each with its constant 1.0): N + 1 op nodes deep."""
    y = x * w
    for _ in range(N):
        y = y * 1.0
    return y


def wide_sum(xs, w):
    """sum of N products x_i * w: N '*' and N '+' nodes."""
    return sum(x * w for x in xs)


XS = [float(i % 7) for i in range(N)]
TOTAL = sum(i % 7 for i in range(N))   # exact: a sum of small integers


def test_million_node_wide_sum_eager():
    w = Value(0.5)
    out = wide_sum(XS, w)
    out.backward()
    assert out.data == 0.5 * TOTAL and w.grad == TOTAL


def test_million_node_chain_on_the_tape():
    w = Value(0.5)
    step = tapegrad.compile(lambda x: chain(x, w), [w])
    assert step(2.0) == 1.0 and w.grad == 2.0
    w.data, w.grad = 0.25, 0.0                      # a replay with new numbers
    assert step(3.0) == 0.75 and w.grad == 3.0


def test_million_node_wide_sum_on_the_tape():
    w = Value(0.5)
    step = tapegrad.compile(lambda xs: wide_sum(xs, w), [w])
    assert step(XS) == 0.5 * TOTAL and w.grad == TOTAL
    w.grad = 0.0
    assert step([1.0] * N) == 0.5 * N and w.grad == N
