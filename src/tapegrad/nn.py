"""Neuron, Layer and MLP: a neural network built from Values, as in the seeds.

Weights are drawn with `random.uniform(-1, 1)` in the seeds' order (neuron by neuron,
weight by weight), so `random.seed(42)` before building a model gives the seeds' model.
"""

import numbers
import operator
import random
from collections import namedtuple

from . import checkpoint
from .engine import Value
from .validate import one_of, whole_number

ACTIVATIONS = ('tanh', 'relu', 'sigmoid', 'linear')
BIAS_INITS = ('zero', 'uniform')

# what load_state_dict(strict=False) returns, as PyTorch's does
IncompatibleKeys = namedtuple('IncompatibleKeys', 'missing_keys unexpected_keys')


class Module:
    """Anything with parameters: a list of Values that training adjusts."""

    def parameters(self):
        return []

    def zero_grad(self):
        for p in self.parameters():
            p.grad = 0.0

    def config(self):
        """The constructor arguments that rebuild this architecture (saved in checkpoints)."""
        raise NotImplementedError(f"{type(self).__name__} does not describe its architecture")

    def save(self, path, optimizer=None):
        """Write architecture and parameters (and the optimizer's state) to a JSON file.

        Written atomically: a crash mid-write leaves any previous file at `path` whole.
        """
        return checkpoint.write(path, self, optimizer)

    # -- PyTorch's names: the model as the Sequential that interop.to_torch builds ------

    def linears(self):
        """The model as layers in a row, as PyTorch's Linear sees them: one (weight, bias,
        act) per layer; weight is a list of rows of Values (a row per neuron), bias a list."""
        raise NotImplementedError(
            f"{type(self).__name__} does not lay out its parameters as layers: give it a "
            f"linears() method (one (weight rows, bias, act) per layer, see MLP.linears) "
            f"or a named_parameters() method")

    def named_parameters(self):
        """[(name, Values)] named as in PyTorch: '0.weight' (rows of Values), '0.bias',
        '2.weight', ... The Linears are at 0, 2, 4: an activation module follows each."""
        named = []
        for i, (weight, bias, _) in enumerate(self.linears()):
            named += [(f'{2 * i}.weight', weight), (f'{2 * i}.bias', bias)]
        return named

    def state_dict(self, as_tensors=False):
        """{name: numbers} for named_parameters(): nested lists of floats, or float64 torch
        tensors with as_tensors=True. The keys and shapes of the PyTorch twin's state_dict()."""
        state = {name: _numbers(values) for name, values in self.named_parameters()}
        if as_tensors:
            import torch  # here only: tapegrad itself runs without PyTorch
            state = {name: torch.tensor(data, dtype=torch.float64) for name, data in state.items()}
        return state

    def load_state_dict(self, state_dict, strict=True):
        """Set the parameters from a state_dict() of this model or of its PyTorch twin.

        As in PyTorch: keys missing from `state_dict` or unexpected in it are an error
        that lists them, unless strict=False, which loads the rest; a shape that differs
        is always an error. Nothing changes unless everything loads. Returns
        (missing_keys, unexpected_keys).
        """
        own = dict(self.named_parameters())
        given = {name: _as_lists(data) for name, data in dict(state_dict).items()}
        missing = [name for name in own if name not in given]
        unexpected = [name for name in given if name not in own]
        problems = []
        if strict and missing:
            problems.append(f"missing keys {', '.join(map(repr, missing))}")
        if strict and unexpected:
            problems.append(f"unexpected keys {', '.join(map(repr, unexpected))}")
        if problems:
            problems[-1] += " (strict=False loads the keys that match)"
        problems += _shape_problems(own, given)
        if problems:
            raise ValueError(f"{type(self).__name__}.load_state_dict: {'; '.join(problems)}")
        for name, values in own.items():
            if name in given:
                _assign(values, given[name])
        return IncompatibleKeys(missing, unexpected)

    @classmethod
    def load(cls, path):
        """A new model rebuilt from a file written by save(); `MLP.load('model.json')`."""
        document = checkpoint.read(path)
        if document.get('class') != cls.__name__:
            raise checkpoint.CheckpointError(f"{path}: holds a {document.get('class')}, "
                                             f"not a {cls.__name__}; load it with "
                                             f"{document.get('class')}.load()")
        state = random.getstate()  # rebuilding draws weights: leave the caller's random as it was
        try:
            model = cls(**document['model'])
        except (TypeError, ValueError) as error:
            raise checkpoint.CheckpointError(f"{path}: cannot build a {cls.__name__} from "
                                             f"{document['model']!r}: {error}") from None
        finally:
            random.setstate(state)
        checkpoint.restore_parameters(path, model, document)
        return model


class Neuron(Module):
    """act(w . x + b): one weight per input, one bias."""

    def __init__(self, nin, act='tanh', bias='zero', rng=None):
        self.nin = whole_number('Neuron: nin (number of inputs)', nin)
        self.act = one_of('Neuron: act', act, ACTIVATIONS)
        one_of('Neuron: bias', bias, BIAS_INITS)
        uniform = (rng or random).uniform
        # labelled, so that drawings of the graph name them
        self.w = [Value(uniform(-1, 1), label=f'w{i + 1}') for i in range(self.nin)]
        self.b = Value(uniform(-1, 1) if bias == 'uniform' else 0.0, label='b')

    def __call__(self, x):
        if len(x) != self.nin:
            raise ValueError(f"Neuron expects {self.nin} inputs, got {len(x)}: {list(x)!r}")
        # b + w0*x0 + w1*x1 + ..., in the seeds' order, so the sums round as theirs do
        # (map(mul, w, x) is the products w0*x0, w1*x1, ...: a generator costs more a term)
        act = sum(map(operator.mul, self.w, x), self.b)
        return act if self.act == 'linear' else getattr(act, self.act)()

    def parameters(self):
        return self.w + [self.b]

    def linears(self):
        return [([self.w], [self.b], self.act)]

    def config(self):
        return {'nin': self.nin, 'act': self.act}

    def __repr__(self):
        return f"Neuron({self.nin}, act={self.act!r})"


class Layer(Module):
    """`nout` neurons that all read the same inputs."""

    def __init__(self, nin, nout, **kwargs):
        nout = whole_number('Layer: nout (number of neurons)', nout)
        self.neurons = [Neuron(nin, **kwargs) for _ in range(nout)]

    def __call__(self, x):
        out = [n(x) for n in self.neurons]
        return out[0] if len(out) == 1 else out

    def parameters(self):
        return [p for n in self.neurons for p in n.parameters()]

    def linears(self):
        weight, bias = [n.w for n in self.neurons], [n.b for n in self.neurons]
        return [(weight, bias, self.neurons[0].act)]

    def config(self):
        first = self.neurons[0]
        return {'nin': first.nin, 'nout': len(self.neurons), 'act': first.act}

    def __repr__(self):
        first = self.neurons[0]
        return f"Layer({first.nin}, {len(self.neurons)}, act={first.act!r})"


class MLP(Module):
    """Layers in a row: MLP(3, [4, 4, 1]) maps 3 inputs through 4 and 4 neurons to 1.

    `act` is the activation of every layer; `out_act`, when given, replaces it in the
    last layer (for example `act='relu', out_act='linear'` as in micrograd's demo).
    """

    def __init__(self, nin, nouts, act='tanh', out_act=None, bias='zero', rng=None):
        nin = whole_number('MLP: nin (number of inputs)', nin)
        if isinstance(nouts, numbers.Integral) or not list(nouts):
            raise ValueError(f"MLP: nouts must be a non-empty list of layer sizes, "
                             f"such as [4, 4, 1]; got {nouts!r}")
        nouts = [whole_number('MLP: each layer size in nouts', n) for n in nouts]
        self.act = act
        self.out_act = act if out_act is None else out_act
        sizes = [nin] + nouts
        self.layers = [
            Layer(sizes[i], sizes[i + 1], act=self.out_act if i == len(nouts) - 1 else act,
                  bias=bias, rng=rng)
            for i in range(len(nouts))
        ]

    def __call__(self, x):
        for layer in self.layers:
            x = layer([x] if isinstance(x, Value) else x)  # a layer of one gives one Value
        return x

    def parameters(self):
        return [p for layer in self.layers for p in layer.parameters()]

    def linears(self):
        return [linear for layer in self.layers for linear in layer.linears()]

    def config(self):
        nin, *nouts = self.sizes
        return {'nin': nin, 'nouts': nouts, 'act': self.act, 'out_act': self.out_act}

    @property
    def sizes(self):
        """[nin, layer sizes...], e.g. [3, 4, 4, 1]."""
        return [self.layers[0].neurons[0].nin] + [len(layer.neurons) for layer in self.layers]

    def __repr__(self):
        nin, *nouts = self.sizes
        text = f"MLP({nin}, {nouts}, act={self.act!r}"
        if self.out_act != self.act:
            text += f", out_act={self.out_act!r}"
        return text + f")  # {len(self.parameters())} parameters"


# ----------------------------------------------------------------------------------
# State dicts: nested lists of Values and of numbers, matched by shape


def _numbers(values):
    """Values (nested in lists) as their numbers, nested alike."""
    return [_numbers(v) for v in values] if isinstance(values, list) else values.data


def _as_lists(data):
    """A tensor or array as nested lists (0-d: a number); lists and numbers as they are."""
    return data.tolist() if hasattr(data, 'tolist') else data


def _shape(nested):
    """(rows, columns) of a list of lists of numbers, (n,) of a list, () of a number;
    None for anything else (ragged lists, strings, ...)."""
    if isinstance(nested, numbers.Real) and not isinstance(nested, bool):
        return ()
    if isinstance(nested, (list, tuple)):
        shapes = {_shape(item) for item in nested}
        if None not in shapes and len(shapes) <= 1:
            return (len(nested), *(shapes.pop() if shapes else ()))
    return None


def _shape_problems(own, given):
    problems = []
    for name, values in own.items():
        if name in given and _shape(given[name]) != _shape(_numbers(values)):
            shape = _shape(given[name])
            what = f"shape {shape}" if shape is not None else f"not numbers: {given[name]!r:.60}"
            problems.append(f"{name!r} is {what} in the state dict, "
                            f"shape {_shape(_numbers(values))} in the model")
    return problems


def _assign(values, data):
    """Set the Values (nested in lists) to the numbers of `data` (nested alike)."""
    if isinstance(values, list):
        for v, d in zip(values, data):
            _assign(v, d)
    else:
        values.data = float(data)
