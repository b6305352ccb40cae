"""The formula reader's grammar against Python's own: random formulas, and ones too deep
for Python's recursive parser."""

import math
import random
import re

import pytest

from tapegrad.expression import ExpressionError, parse_expression

VALUES = {'a': 1.25, 'b': -0.75, 'c': 2.0}


def random_formula(rng, depth):
    if depth == 0 or rng.random() < 0.25:
        return rng.choice(['a', 'b', 'c', '2', '0.5', '3e-1'])
    form = rng.randrange(4)
    if form == 0:
        return f"{random_formula(rng, depth - 1)} {rng.choice(['+', '-', '*', '/', '**'])} " \
               f"{random_formula(rng, depth - 1)}"
    if form == 1:
        return f"-{random_formula(rng, depth - 1)}"
    if form == 2:
        return f"({random_formula(rng, depth - 1)})"
    return f"{rng.choice(['tanh', 'exp', 'relu', 'sigmoid'])}({random_formula(rng, depth - 1)})"


def python_value(text):
    """The formula's value as Python computes it (floats, Python's own precedence)."""
    scope = dict(VALUES, tanh=math.tanh, exp=math.exp, relu=lambda x: max(x, 0.0),
                 sigmoid=lambda x: 1 / (1 + math.exp(-x)))
    return eval(text, {'__builtins__': {}}, scope)   # the reference, not the code under test


def variables(text):
    return {name: VALUES[name] for name in re.findall(r'\b[a-z]\b', text)}


def computable_formula(rng):
    """A random formula that Python computes to a real number (no 1/0, no complex power)."""
    while True:
        text = random_formula(rng, 4)
        try:
            expected = python_value(text)
        except (ZeroDivisionError, OverflowError, ValueError):
            continue
        if isinstance(expected, float):
            return text, expected


@pytest.mark.parametrize('seed', range(300))
def test_precedence_and_grouping_are_pythons(seed):
    text, expected = computable_formula(random.Random(seed))
    got = parse_expression(text, variables(text)).data
    assert got == pytest.approx(expected, rel=1e-12, nan_ok=True), text


@pytest.mark.parametrize('text, expected', [
    ('+'.join(['a'] * 3000), 3000 * 1.25),               # Python: RecursionError
    ('**'.join(['c'] * 5000).replace('c', '1', 1), 1.0),  # Python: MemoryError
    ('(' * 10_000 + 'a' + ')' * 10_000, 1.25),            # Python: too many nested parentheses
    ('-' * 5000 + 'a', 1.25),
])
def test_formulas_too_deep_for_pythons_parser(text, expected):
    assert parse_expression(text, variables(text)).data == expected


@pytest.mark.parametrize('text, message', [
    ('a +', "cannot read 'a \\+': it ends where a number"),
    ('(a', "a '\\(' is never closed at character 1"),
    ('a)', "a '\\)' without its '\\(' at character 2"),
    ('a b', "expected an operator or '\\)' but found 'b' at character 3"),
    ('a % b', "cannot use '%'"),
    ('tanh(a, b)', "cannot use ','"),
    ('1_0 * a', "cannot use '_0'|expected an operator"),
])
def test_bad_formulas_name_the_place(text, message):
    with pytest.raises(ExpressionError, match=message):
        parse_expression(text, variables(text))
