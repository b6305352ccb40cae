"""Parse a formula such as "tanh(2*a + b)" into a Value graph, without eval().

Used by `tapegrad graph`: numbers, variables given values by the caller, + - * / **,
unary minus, parentheses, and the engine's functions of one Value (tanh, exp, ...), with
Python's
precedence (`-a ** 2` is `-(a ** 2)`, `a ** b ** c` is `a ** (b ** c)`).

The reader is a loop over the tokens with two stacks (Dijkstra's shunting yard), not a
recursive descent: a sum of 3,000 terms or a tower of 5,000 powers reads like any other
formula, where Python's own parser runs out of recursion or memory.
"""

import re

from .engine import OPS, Value


def functions():
    """The engine's one-input ops that are methods, such as tanh: a formula writes tanh(x)."""
    return tuple(op.method for op in OPS.values()
                 if op.n_inputs == 1 and not op.takes_number and not op.method.startswith('_'))


_BINARY = {
    '+': lambda a, b: a + b,
    '-': lambda a, b: a - b,
    '*': lambda a, b: a * b,
    '/': lambda a, b: a / b,
    '**': lambda a, b: a ** b,
}
# binding strength; ** binds tighter than a unary minus before it, which binds tighter than *
_PRECEDENCE = {'+': 1, '-': 1, '*': 2, '/': 2, 'unary': 3, '**': 4}
_TOKEN = re.compile(r'\s*(?:(?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)'
                    r'|(?P<name>[A-Za-z_]\w*)|(?P<op>\*\*|[-+*/()])|(?P<other>\S))')


class ExpressionError(ValueError):
    """The formula cannot be read; the message says where and why."""


def parse_expression(text, variables):
    """The Value of `text` with each name taken from `variables` (name -> number).

    Every variable becomes a labelled leaf, so drawings show its name.

    >>> out = parse_expression("tanh(2*a + b)", {'a': 1.0, 'b': -3.0})
    >>> round(out.data, 6)
    -0.761594
    """
    leaves = {name: Value(value, label=name) for name, value in variables.items()}
    used, missing = set(), []
    operands = []     # numbers and Values computed so far
    pending = []      # operators waiting for their right operand: (kind, what, position)
    expect_operand = True

    def cannot_use(what, position):
        return ExpressionError(f"cannot use {what!r} in {text!r} (character {position + 1}): "
                               f"formulas take numbers, variables, + - * / **, parentheses and "
                               f"the functions {', '.join(functions())}")

    def cannot_read(why, position=None):
        where = '' if position is None else f" at character {position + 1}"
        return ExpressionError(f"cannot read {text!r}: {why}{where}")

    def apply(kind, what):
        if kind == 'binary':
            right, left = operands.pop(), operands.pop()
            if not isinstance(left, Value) and not isinstance(right, Value):
                left = Value(left)
            operands.append(_BINARY[what](left, right))
        elif kind == 'unary':
            operand = operands.pop()
            operands.append(-operand if what == '-' else operand)
        else:  # a function
            operand = operands.pop()
            operand = operand if isinstance(operand, Value) else Value(operand)
            operands.append(getattr(operand, what)())

    def close_binary(op):
        """Apply the waiting operators that bind at least as tightly as `op` (** binds right)."""
        strength = _PRECEDENCE[op]
        while pending and pending[-1][0] in ('binary', 'unary'):
            kind, what, _ = pending[-1]
            waiting = _PRECEDENCE['unary' if kind == 'unary' else what]
            if waiting < strength or (waiting == strength and op == '**'):
                break
            pending.pop()
            apply(kind, what)

    tokens = list(_TOKEN.finditer(text))
    for i, token in enumerate(tokens):
        position = token.start(token.lastgroup)
        kind, value = token.lastgroup, token[token.lastgroup]
        if kind == 'other':
            raise cannot_use(value, position)
        if expect_operand:
            if kind == 'number':
                operands.append(float(value) if '.' in value or 'e' in value.lower() else int(value))
                expect_operand = False
            elif kind == 'name' and i + 1 < len(tokens) and tokens[i + 1]['op'] == '(':
                if value not in functions():
                    raise cannot_use(f'{value}(...)', position)
                pending.append(('function', value, position))
            elif kind == 'name':
                if value not in leaves:  # said once the whole formula is read
                    missing.append(value)
                used.add(value)
                operands.append(leaves.get(value, Value(0.0)))
                expect_operand = False
            elif value == '(':
                pending.append(('(', value, position))
            elif value in '+-':
                pending.append(('unary', value, position))
            else:
                raise cannot_read(f"expected a number, a variable or '(' but found {value!r}", position)
        elif kind == 'op' and value in _BINARY:
            close_binary(value)
            pending.append(('binary', value, position))
            expect_operand = True
        elif value == ')':
            close_binary('+')  # everything back to the '('
            if not pending or pending[-1][0] != '(':
                raise cannot_read("a ')' without its '('", position)
            pending.pop()
            if pending and pending[-1][0] == 'function':
                apply(*pending.pop()[:2])
        else:
            raise cannot_read(f"expected an operator or ')' but found {value!r}", position)
    if expect_operand:
        raise cannot_read("it ends where a number, a variable or '(' should come")
    close_binary('+')
    if pending:
        raise cannot_read("a '(' is never closed", pending[-1][2])
    if missing:
        raise ExpressionError(f"{text!r} uses {missing[0]!r} but gives it no value: "
                              f"add --set {missing[0]}=NUMBER")
    out = operands.pop()
    if not isinstance(out, Value):
        out = Value(out)
    unused = set(leaves) - used
    if unused:
        raise ExpressionError(f"--set gives {', '.join(sorted(unused))} but {text!r} does not use it")
    return out
