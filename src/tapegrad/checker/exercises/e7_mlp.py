"""Exercise 7: Layer and MLP, neurons side by side and layers in a row."""

import random

from ..framework import Exercise, Failed, close, num, run_parts, show, value_class
from .e6_neuron import classes
from .network import read_network
from ...engine import Value as Reference

TEXT = """
## Exercise 7: layers and networks

A **layer** is a row of neurons that all read the same inputs; its output is the list of
their outputs (or the one output itself, for a layer of one neuron). A **multi-layer
perceptron** (MLP) is layers in a row, each reading the previous one's output:
`MLP(3, [4, 4, 1])` takes 3 inputs through layers of 4, 4 and 1 neurons. Its hidden
layers use relu, its last layer is linear.

**Task:** write `__call__` and `parameters` of `Layer` and `MLP`.
"""

STUB = '''
class Layer(Module):
    """nout neurons reading the same nin inputs."""

    def __init__(self, nin, nout, **kwargs):
        self.neurons = [Neuron(nin, **kwargs) for _ in range(nout)]

    def __call__(self, x):
        """The neurons' outputs: a list, or the single Value when there is one neuron."""
        ### YOUR CODE HERE
        raise NotImplementedError("Exercise 7: Layer.__call__")

    def parameters(self):
        ### YOUR CODE HERE
        raise NotImplementedError("Exercise 7: Layer.parameters")


class MLP(Module):
    """Layers in a row: relu hidden layers, then a linear last layer."""

    def __init__(self, nin, nouts):
        sizes = [nin] + nouts
        self.layers = [Layer(sizes[i], sizes[i + 1], nonlin=i != len(nouts) - 1)
                       for i in range(len(nouts))]

    def __call__(self, x):
        ### YOUR CODE HERE
        raise NotImplementedError("Exercise 7: MLP.__call__")

    def parameters(self):
        ### YOUR CODE HERE
        raise NotImplementedError("Exercise 7: MLP.parameters")


# Try it:
# model = MLP(3, [4, 4, 1])
# print(model([1.0, -2.0, 0.5]), len(model.parameters()))  # a Value, and 41 parameters
'''

SOLUTION = '''
class Layer(Module):
    """nout neurons reading the same nin inputs."""

    def __init__(self, nin, nout, **kwargs):
        self.neurons = [Neuron(nin, **kwargs) for _ in range(nout)]

    def __call__(self, x):
        """The neurons' outputs: a list, or the single Value when there is one neuron."""
        outs = [n(x) for n in self.neurons]
        return outs[0] if len(outs) == 1 else outs

    def parameters(self):
        return [p for n in self.neurons for p in n.parameters()]


class MLP(Module):
    """Layers in a row: relu hidden layers, then a linear last layer."""

    def __init__(self, nin, nouts):
        sizes = [nin] + nouts
        self.layers = [Layer(sizes[i], sizes[i + 1], nonlin=i != len(nouts) - 1)
                       for i in range(len(nouts))]

    def __call__(self, x):
        for layer in self.layers:
            x = layer(x)
        return x

    def parameters(self):
        return [p for layer in self.layers for p in layer.parameters()]


model = MLP(3, [4, 4, 1])
print(model([1.0, -2.0, 0.5]), len(model.parameters()))
'''

LAYER = ("outs = layer(x)\nouts = list(outs) if isinstance(outs, (list, tuple)) else [outs]\n"
         "each = [n(x) for n in layer.neurons]")
ORDER = ("[len(params), all(isinstance(p, Value) for p in params), [id(p) for p in params] == "
         "[id(p) for part in {parts} for p in part.parameters()]]")


def check(learner):
    value_class(learner)
    classes(learner, 'Layer', 'MLP')
    rng = random.Random(7)
    x = [round(rng.uniform(-2, 2), 2) for _ in range(3)]

    def layer():
        code = "layer = Layer(3, 4)"
        count = learner.run(code, "len(getattr(layer, 'neurons', None) or []) "
                                  "if hasattr(layer, 'neurons') else None", seed=7)
        if count is None:
            raise Failed("layer has no attribute neurons", code,
                         "Keep the layer's neurons in a list, self.neurons.")
        if count != 4:
            raise Failed(f"layer.neurons has {count} neurons; expected 4", code)
        code += f"\nout = layer({x})"
        outs, each = learner.run(["layer = Layer(3, 4)", f"x = {x!r}", LAYER],
                                 "[[see(v) for v in outs], [see(v) for v in each]]", seed=7,
                                 shown=code)
        if len(outs) != 4:
            raise Failed(f"out has {len(outs)} values; expected 4, one per neuron", code,
                         "Does __call__ skip a neuron, say with neurons[:-1] or range(len - 1)?"
                         if len(outs) == 3 else None)
        for i, (got, want) in enumerate(zip(outs, each)):
            if not got['value'] or not close(got.get('data'), want.get('data')):
                raise Failed(f"out[{i}] is {show(got)}; expected layer.neurons[{i}](x) = "
                             f"{num(want.get('data'))}", code)
        count, values, in_order = learner.run(
            ["layer = Layer(3, 4)", "params = list(layer.parameters())"],
            ORDER.format(parts='layer.neurons'), seed=7,
            shown="layer = Layer(3, 4)\nlayer.parameters()")
        if count != 16 or not values:
            raise Failed(f"layer.parameters() gave {count} items; expected 16 Values",
                         "layer = Layer(3, 4)\nlayer.parameters()")
        if not in_order:
            raise Failed("layer.parameters() is not the neurons' parameters, neuron by neuron",
                         "layer = Layer(3, 4)\nlayer.parameters()")
        code = f"one = Layer(3, 1)\none({x})"
        single = learner.run(f"single = Layer(3, 1)({x!r})", "see(single)", seed=7, shown=code)
        if not single['value']:
            raise Failed(f"This returned {show(single)}; expected the single Value itself", code,
                         "A layer of one neuron returns that neuron's Value, not a list, so an "
                         "MLP ending in one neuron gives a Value.")

    def mlp():
        code = "model = MLP(3, [4, 4, 1])"
        sizes = learner.run(code, "[len(getattr(layer, 'neurons', ())) for layer in "
                                  "getattr(model, 'layers', None) or []]", seed=7)
        if sizes != [4, 4, 1]:
            raise Failed("model.layers should be three layers of 4, 4 and 1 neurons", code)
        network = read_network(learner, [code], code, seed=7)
        code += f"\nout = model({x})"
        out, grads = learner.run(
            ["model = MLP(3, [4, 4, 1])", f"x = [Value(v) for v in {x!r}]", "out = model(x)",
             "for p in model.parameters():\n    p.grad = 0.0", "out.backward()"],
            "[see(out), [data_of(p.grad) for p in model.parameters()] + "
            "[data_of(v.grad) for v in x]]", seed=7, shown=code)
        want = network([float(v) for v in x])
        if not out['value']:
            raise Failed(f"out is {show(out)}; expected a single Value", code)
        if not close(out.get('data'), want.data):
            raise Failed(f"out.data is {num(out.get('data'))}; feeding x through the layers one "
                         f"after another gives {num(want.data)}", code,
                         "Each layer's output is the next layer's input.")
        count, values, in_order = learner.run(
            ["model = MLP(3, [4, 4, 1])", "params = list(model.parameters())"],
            ORDER.format(parts='model.layers'), seed=7, shown=code + "\nmodel.parameters()")
        if count != 41 or not values:
            raise Failed(f"model.parameters() gave {count} items; expected 41 Values",
                         code + "\nmodel.parameters()")
        if not in_order:
            raise Failed("model.parameters() is not the layers' parameters, layer by layer",
                         code + "\nmodel.parameters()")
        inputs = [Reference(v) for v in x]
        out = network(inputs)
        out.backward()
        expected = [p.grad for p in network.parameters()] + [v.grad for v in inputs]
        for i, (got, want) in enumerate(zip(grads, expected)):
            label = f"parameter {i}" if i < 41 else f"input {i - 41}"
            if not close(got, want, 1e-7):
                raise Failed(f"After out.backward(), the grad of {label} is {num(got)}; "
                             f"expected {num(want)}", code + "\nout.backward()")

    return run_parts([('Layer', layer), ('MLP', mlp)])


EXERCISE = Exercise(7, "Layer and MLP", ('Layer', 'MLP'), (6,), check, TEXT, STUB, SOLUTION)
