"""micrograd's `Value` is tapegrad's: the same class, not a copy.

Given the same seeds it computes what micrograd 0.1.0 computes, float for float up to
the last bit or two. micrograd itself varies in those bits from run to run: its `_prev`
is a set, so the order in which a node's gradient contributions are added depends on
memory addresses. Differences worth knowing, all on micrograd's edge cases:

- `data` and `grad` are always floats: `Value(2)` prints as `Value(data=2.0, grad=0.0)`;
- `a / b` is one division (micrograd computes `a * b**-1`, rounding twice);
- ops are named as in tapegrad (`'relu'` for micrograd's `'ReLU'`, `'**k'` with the
  exponent in `_arg` for micrograd's `'**2'`);
- calling `backward()` twice on one graph adds the leaves' gradients once more, as in
  PyTorch; micrograd also keeps adding to the intermediate values' gradients, so its
  leaves end up with more than twice theirs.
"""

from tapegrad.engine import Value

__all__ = ['Value']
