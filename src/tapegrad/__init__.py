"""tapegrad: a scalar autograd engine, exact against PyTorch, with a tape that replays it fast.

    >>> from tapegrad import Value
    >>> x = Value(3.0)
    >>> y = 3 * x**2 - 4 * x + 5
    >>> y.backward(); x.grad
    14.0
"""

from .engine import Value
from .finitediff import GradcheckError, gradcheck, numerical_derivative
from .nn import MLP, Layer, Module, Neuron

__all__ = ['Value', 'Module', 'Neuron', 'Layer', 'MLP',
           'numerical_derivative', 'gradcheck', 'GradcheckError']
__version__ = '0.1.0'
