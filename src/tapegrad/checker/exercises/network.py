"""A learner's network read into plain numbers, and rebuilt here with tapegrad's Values.

Exercises 7 and 8 grade networks by rebuilding them: the worker reports every neuron's
weights and bias, and what each neuron gives for two inputs chosen to make its weighted
sum clearly negative and clearly positive, which tells relu, tanh and linear apart. The
grader then computes the outputs, gradients and training losses the network should have.
"""

from dataclasses import dataclass

from ..framework import Failed, close, num
from ...engine import Value as Reference

# Run in the worker after the network is built as `model`: weights, bias and the
# outputs for a negative and a positive weighted sum, neuron by neuron, layer by layer.
READ_NETWORK = '''
def _read_neuron(n):
    w = [data_of(v) for v in n.w]
    push = [3.0 if isinstance(v, float) and v > 0 else -3.0 for v in w]
    low, high = [-p for p in push], push
    return [w, data_of(n.b), data_of(n(low)), data_of(n(high)), low, high]
_network = [[_read_neuron(n) for n in layer.neurons] for layer in model.layers]
'''

ACTIVATIONS = {'relu': lambda z: z.relu(), 'tanh': lambda z: z.tanh(), 'linear': lambda z: z}


@dataclass
class Network:
    layers: list  # of layers, each a list of (weights, bias, activation name)

    def parameters(self):
        return [v for layer in self.layers for w, b, _ in layer for v in w + [b]]

    def __call__(self, x):
        for layer in self.layers:
            x = [ACTIVATIONS[act](sum((wi * xi for wi, xi in zip(w, x)), b))
                 for w, b, act in layer]
        return x[0] if len(x) == 1 else x

    def zero_grad(self):
        for p in self.parameters():
            p.grad = 0.0


def read_network(learner, steps, code, seed):
    """The learner's network, built by `steps` as `model`, rebuilt with tapegrad's Values."""
    raw = learner.run(list(steps) + [READ_NETWORK], '_network', seed=seed, shown=code)
    layers = []
    for i, layer in enumerate(raw):
        rebuilt = []
        for j, (w, b, low, high, x_low, x_high) in enumerate(layer):
            act = _activation(w, b, low, high, x_low, x_high)
            if act is None:
                raise Failed(f"Neuron {j} of layer {i} gives {num(low)} and {num(high)} for "
                             "weighted sums of "
                             f"{num(_z(w, b, x_low))} and {num(_z(w, b, x_high))}: that is "
                             "none of relu, tanh or linear", code)
            rebuilt.append(([Reference(v) for v in w], Reference(b), act))
        layers.append(rebuilt)
    return Network(layers)


def _z(w, b, x):
    return sum(wi * xi for wi, xi in zip(w, x)) + b


def _activation(w, b, low, high, x_low, x_high):
    for name, act in ACTIVATIONS.items():
        if all(close(out, act(Reference(_z(w, b, x))).data, 1e-9)
               for out, x in ((low, x_low), (high, x_high))):
            return name
    return None
