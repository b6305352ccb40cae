"""micrograd's Module, Neuron, Layer and MLP, built on tapegrad's modules.

micrograd's networks are ReLU networks: `Neuron(nin)` is a ReLU neuron and
`Neuron(nin, nonlin=False)` a linear one; `MLP(nin, nouts)` has ReLU hidden layers and a
linear last layer. Weights are drawn with `random.uniform(-1, 1)` neuron by neuron, as
micrograd draws them, and biases start at 0, so `random.seed(1337)` gives micrograd's
model. Each class is a subclass of tapegrad's, so `fit` and the tape accept these models.
"""

from tapegrad import nn
from tapegrad.engine import Value

__all__ = ['Value', 'Module', 'Neuron', 'Layer', 'MLP']

Module = nn.Module


class Neuron(nn.Neuron):
    """relu(w . x + b), or w . x + b when `nonlin` is False."""

    def __init__(self, nin, nonlin=True):
        super().__init__(nin, act='relu' if nonlin else 'linear')
        self.nonlin = nonlin

    def config(self):
        return {'nin': self.nin, 'nonlin': self.nonlin}

    def __repr__(self):
        return f"{'ReLU' if self.nonlin else 'Linear'}Neuron({self.nin})"


class Layer(nn.Layer):
    """`nout` micrograd neurons reading the same inputs; keyword arguments go to Neuron."""

    def __init__(self, nin, nout, **kwargs):  # tapegrad's Layer would build tapegrad Neurons
        self.neurons = [Neuron(nin, **kwargs) for _ in range(nout)]

    def config(self):
        return {'nin': self.neurons[0].nin, 'nout': len(self.neurons),
                'nonlin': self.neurons[0].nonlin}

    def __repr__(self):
        return f"Layer of [{', '.join(str(n) for n in self.neurons)}]"


class MLP(nn.MLP):
    """ReLU layers of sizes `nouts`, the last one linear: MLP(2, [16, 16, 1])."""

    def __init__(self, nin, nouts):  # tapegrad's MLP would build tapegrad Layers
        self.act, self.out_act = 'relu', 'linear'
        sizes = [nin] + list(nouts)
        self.layers = [Layer(sizes[i], sizes[i + 1], nonlin=i != len(nouts) - 1)
                       for i in range(len(nouts))]

    def config(self):
        nin, *nouts = self.sizes
        return {'nin': nin, 'nouts': nouts}

    def __repr__(self):
        return f"MLP of [{', '.join(str(layer) for layer in self.layers)}]"
