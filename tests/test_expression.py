"""The formula reader behind `tapegrad graph`, checked against the same formula in PyTorch."""

import pytest
import torch

from tapegrad.expression import ExpressionError, parse_expression
from torchref import same_float


@pytest.mark.parametrize('text, values', [
    ("tanh(2*a + b)", {'a': 1.0, 'b': -3.0}),
    ("a ** b / (1 - exp(-a)) + log(b)", {'a': 0.7, 'b': 2.5}),
    ("-relu(a - 2) + sigmoid(a * b) ** 2", {'a': 3.0, 'b': -0.5}),
    ("2 ** a + 3 * 4", {'a': 1.5}),
])
def test_formula_value_and_gradients_match_torch(text, values):
    out = parse_expression(text, values)
    out.backward()
    tensors = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in values.items()}
    scope = dict(tensors, tanh=torch.tanh, exp=torch.exp, log=torch.log, relu=torch.relu,
                 sigmoid=torch.sigmoid)
    expected = eval(text, {'__builtins__': {}}, scope)   # the test's reference, not the code under test
    expected.backward()
    assert same_float(out.data, expected.item())
    leaves = {v.label: v for v in _leaves(out)}
    for name, t in tensors.items():
        assert same_float(leaves[name].grad, t.grad.item())


def _leaves(root):
    seen, stack, found = set(), [root], []
    while stack:
        v = stack.pop()
        if id(v) in seen:
            continue
        seen.add(id(v))
        if not v._prev and v.label:
            found.append(v)
        stack.extend(v._prev)
    return found


@pytest.mark.parametrize('text, values, message', [
    ("tanh(2*a + ", {'a': 1.0}, 'cannot read'),
    ("a + c", {'a': 1.0}, "uses 'c' but gives it no value"),
    ("a", {'a': 1.0, 'b': 2.0}, 'does not use it'),
    ("__import__('os').system('true')", {}, 'cannot use'),
    ("a.data", {'a': 1.0}, 'cannot use'),
    ("max(a, 1)", {'a': 1.0}, 'cannot use'),
])
def test_bad_formulas_are_clear_errors_and_never_run_code(text, values, message):
    with pytest.raises(ExpressionError, match=message):
        parse_expression(text, values)
