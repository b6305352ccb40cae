"""numerical_derivative and gradcheck against calculus done by hand."""

import math

import pytest

from tapegrad import GradcheckError, Value, gradcheck, numerical_derivative


def test_numerical_derivative_of_the_seeds_polynomial():
    # f(x) = 3x^2 - 4x + 5, f'(3) = 6*3 - 4 = 14
    approx = numerical_derivative(lambda x: 3 * x**2 - 4 * x + 5, 3.0)
    assert abs(approx - 14.0) < 1e-6


def test_numerical_derivative_agrees_with_backward_on_the_same_polynomial():
    x = Value(3.0)
    y = 3 * x**2 - 4 * x + 5
    y.backward()
    assert x.grad == 14.0


@pytest.mark.parametrize('f, xs', [
    (lambda a, b: (a * b).tanh(), [0.5, -1.0]),
    (lambda a, b: a ** b, [1.7, 2.3]),
    (lambda a: (a.sigmoid() + a.exp()).log(), [0.3]),
    (lambda a, b, c: (a / b - c).relu() * c, [2.0, 0.5, 1.0]),
])
def test_gradcheck_passes_on_correct_gradients(f, xs):
    report = gradcheck(f, xs)
    assert report.passed and len(report.ok) == len(xs)
    assert 'yes' in str(report)


def test_gradcheck_raises_on_a_wrong_gradient():
    def wrong_square(a):
        out = a * a
        return Value(out.data, (a,), 'tanh')   # claims a tanh: the wrong derivative
    with pytest.raises(GradcheckError, match='NO'):
        gradcheck(wrong_square, [1.5])


def test_gradcheck_requires_a_value():
    with pytest.raises(TypeError, match='must return a Value'):
        gradcheck(lambda a: 3.0, [1.0])


def test_gradcheck_treats_matching_nan_as_agreement():
    report = gradcheck(lambda a: (a * 0 + math.nan) * a, [1.0])
    assert report.passed
