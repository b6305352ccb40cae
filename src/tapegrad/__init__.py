"""tapegrad: a scalar autograd engine, exact against PyTorch, with a tape that replays it fast.

    >>> from tapegrad import Value
    >>> x = Value(3.0)
    >>> y = 3 * x**2 - 4 * x + 5
    >>> y.backward(); x.grad
    14.0
"""

import importlib
import sys

from .engine import Value
from .finitediff import GradcheckError, gradcheck, numerical_derivative
from .nn import MLP, Layer, Module, Neuron

# Names whose modules import NumPy, tqdm or numba: loaded on first use, so that
# `import tapegrad` stays as quick as the engine itself.
_LAZY = {
    'fit': 'train', 'History': 'train', 'TrainingError': 'train', 'compile': 'tape',
    'detect_anomaly': 'anomaly', 'AnomalyError': 'anomaly',
}

__all__ = ['Value', 'Module', 'Neuron', 'Layer', 'MLP',
           'numerical_derivative', 'gradcheck', 'GradcheckError', *_LAZY]
__version__ = '0.1.0'


_SUBMODULES = ('losses', 'optim', 'data', 'train', 'viz', 'tape', 'expression', 'cli',
               'anomaly', 'checkpoint', 'checker', 'interop')


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(f'.{_LAZY[name]}', __name__), name)
    if name in _SUBMODULES:  # tapegrad.optim works without `import tapegrad.optim`
        return importlib.import_module(f'.{name}', __name__)
    raise AttributeError(f"module 'tapegrad' has no attribute {name!r}")


if 'IPython' in sys.modules:  # in a notebook, a computed Value displays as its graph
    from .viz import register_jupyter_display
    register_jupyter_display()
