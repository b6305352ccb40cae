"""Parse a formula such as "tanh(2*a + b)" into a Value graph, without eval().

Used by `tapegrad graph`: numbers, variables given values by the caller, + - * / **,
unary minus, and the functions tanh, exp, log, relu, sigmoid.
"""

import ast

from .engine import OPS, Value



def functions():
    """The engine's one-input ops that are methods, such as tanh: a formula writes tanh(x)."""
    return tuple(op.method for op in OPS.values()
                 if op.n_inputs == 1 and not op.takes_number and not op.method.startswith('_'))
_BINARY = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.Pow: lambda a, b: a ** b,
}


class ExpressionError(ValueError):
    """The formula cannot be read; the message says where and why."""


def parse_expression(text, variables):
    """The Value of `text` with each name taken from `variables` (name -> number).

    Every variable becomes a labelled leaf, so drawings show its name.

    >>> out = parse_expression("tanh(2*a + b)", {'a': 1.0, 'b': -3.0})
    >>> round(out.data, 6)
    -0.761594
    """
    try:
        tree = ast.parse(text, mode='eval')
    except SyntaxError as error:
        raise ExpressionError(f"cannot read {text!r}: {error.msg} at character {error.offset}") from None
    leaves = {name: Value(value, label=name) for name, value in variables.items()}
    unused = set(leaves)

    def build(node):
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) \
                and not isinstance(node.value, bool):
            return node.value
        if isinstance(node, ast.Name):
            if node.id not in leaves:
                raise ExpressionError(f"{text!r} uses {node.id!r} but gives it no value: "
                                      f"add --set {node.id}=NUMBER")
            unused.discard(node.id)
            return leaves[node.id]
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            left, right = build(node.left), build(node.right)
            if not isinstance(left, Value) and not isinstance(right, Value):
                return _BINARY[type(node.op)](Value(left), right)
            return _BINARY[type(node.op)](left, right)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            operand = build(node.operand)
            return -operand if isinstance(node.op, ast.USub) else operand
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                and node.func.id in functions() and len(node.args) == 1 and not node.keywords:
            operand = build(node.args[0])
            operand = operand if isinstance(operand, Value) else Value(operand)
            return getattr(operand, node.func.id)()
        raise ExpressionError(f"cannot use {ast.unparse(node)!r} in {text!r}: formulas take numbers, "
                              f"variables, + - * / **, and the functions {', '.join(functions())}")

    out = build(tree.body)
    if not isinstance(out, Value):
        out = Value(out)
    if unused:
        raise ExpressionError(f"--set gives {', '.join(sorted(unused))} but {text!r} does not use it")
    return out
