"""Exercise 6: Module and Neuron, a weighted sum and a nonlinearity."""

import random

from ..framework import Exercise, Failed, NotStarted, close, num, run_parts, show, value_class
from .network import ACTIVATIONS
from ...engine import Value as Reference

TEXT = """
## Exercise 6: a neuron

A neuron weighs its inputs, adds a bias and passes the sum through a nonlinearity:

    out = relu(w[0] * x[0] + w[1] * x[1] + ... + b)

The weights and the bias are Values, so the output is a Value whose graph reaches back to
them, and `out.backward()` gives every weight its gradient. With `nonlin=False` the neuron
skips the relu and is linear, which the last layer of a network uses.

`Module` is the base class of everything with parameters (the Values that training
adjusts): `parameters()` lists them and `zero_grad()` resets their gradients.

**Task:** write `Module.parameters`, `Neuron.__call__` and `Neuron.parameters` (weights
first, then the bias).
"""

STUB = '''
class Module:
    """Anything with parameters: the Values that training adjusts."""

    def parameters(self):
        """The list of the Values that training adjusts. A plain Module has none."""
        ### YOUR CODE HERE
        raise NotImplementedError("Exercise 6: Module.parameters")

    def zero_grad(self):
        for p in self.parameters():
            p.grad = 0.0


class Neuron(Module):
    """relu(w . x + b), or w . x + b when nonlin is False."""

    def __init__(self, nin, nonlin=True):
        self.w = [Value(random.uniform(-1, 1)) for _ in range(nin)]
        self.b = Value(0.0)
        self.nonlin = nonlin

    def __call__(self, x):
        """The output for the inputs x: a list of nin numbers or Values."""
        ### YOUR CODE HERE
        raise NotImplementedError("Exercise 6: Neuron.__call__")

    def parameters(self):
        ### YOUR CODE HERE
        raise NotImplementedError("Exercise 6: Neuron.parameters")


# Try it:
# n = Neuron(3)
# print(n([1.0, -2.0, 0.5]), len(n.parameters()))
'''

SOLUTION = '''
class Module:
    """Anything with parameters: the Values that training adjusts."""

    def parameters(self):
        """The list of the Values that training adjusts. A plain Module has none."""
        return []

    def zero_grad(self):
        for p in self.parameters():
            p.grad = 0.0


class Neuron(Module):
    """relu(w . x + b), or w . x + b when nonlin is False."""

    def __init__(self, nin, nonlin=True):
        self.w = [Value(random.uniform(-1, 1)) for _ in range(nin)]
        self.b = Value(0.0)
        self.nonlin = nonlin

    def __call__(self, x):
        """The output for the inputs x: a list of nin numbers or Values."""
        act = sum((wi * xi for wi, xi in zip(self.w, x)), self.b)
        return act.relu() if self.nonlin else act

    def parameters(self):
        return self.w + [self.b]


n = Neuron(3)
print(n([1.0, -2.0, 0.5]), len(n.parameters()))
'''

# What a neuron's parameters are, seen from the worker: are they its w then its b, Values?
PARAMETERS = ("[len(params), all(isinstance(p, Value) for p in params), "
              "[id(p) for p in params] == [id(p) for p in list(n.w) + [n.b]], "
              "[see(p) for p in params[:5]]]")
GRADIENTS = ("xs = [Value(v) for v in x]\nfor p in n.parameters():\n    p.grad = 0.0\n"
             "out = n(xs)\nout.backward()")


def classes(learner, *names):
    """NotStarted unless every class in `names` is there."""
    missing = [name for name in names if not learner.has(name, 'class')]
    if missing:
        raise NotStarted(f"there is no class {' or '.join(missing)}")


def check(learner):
    value_class(learner)
    classes(learner, 'Module', 'Neuron')
    takes_nonlin = learner.run("import inspect",
                               "'nonlin' in inspect.signature(Neuron).parameters")
    rng = random.Random(6)

    def module():
        seen = learner.run("ps = list(Module().parameters())", "[see(p) for p in ps]",
                           shown="Module().parameters()")
        if seen:
            raise Failed(f"This returned {[show(p) for p in seen]}; expected []",
                         "Module().parameters()", "A plain Module has no parameters of its own.")

    def neuron(nonlin):
        def part():
            make = "n = Neuron(3)" if nonlin else "n = Neuron(3, nonlin=False)"
            has_fields = learner.run(make, "[hasattr(n, 'w'), hasattr(n, 'b')]", seed=6)
            if not all(has_fields):
                raise Failed("n has no attributes w and b", make,
                             "Keep the weights in self.w and the bias in self.b, as the "
                             "exercise's Neuron.__init__ does.")
            count, values, in_order, seen = learner.run(
                [make, "params = list(n.parameters())"], PARAMETERS, seed=6,
                shown=make + "\nn.parameters()")
            if count != 4 or not values:
                raise Failed(f"This returned {count} items, {[show(p) for p in seen]}; "
                             "expected 4 Values", make + "\nn.parameters()")
            if not in_order:
                raise Failed("n.parameters() should be the weights, then the bias: n.w + [n.b]",
                             make + "\nn.parameters()")
            # Neuron(3) is relu in micrograd's convention; other conventions are accepted
            # when the class takes no `nonlin` (tanh, as in Karpathy's video, or linear).
            acts = (['relu'] if nonlin else ['linear']) if takes_nonlin else list(ACTIVATIONS)
            setup = [make, "n.b.data = 0.25"]
            w = learner.run(setup, "[data_of(v) for v in n.w]", seed=6)
            for _ in range(8):
                x = [round(rng.uniform(-2, 2), 2) for _ in range(3)]
                shown = (f"{make}   # weights {[num(v) for v in w]}\nn.b.data = 0.25\n"
                         f"out = n({x})")
                out, grads = learner.run(
                    setup + [f"x = {x!r}", "first = n(x)", GRADIENTS],
                    "[see(first), [data_of(p.grad) for p in n.parameters()] + "
                    "[data_of(v.grad) for v in xs]]", seed=6, shown=shown)
                if not out['value']:
                    raise Failed(f"out is {show(out)}; expected a Value", shown)
                z = 0.25 + sum(wi * xi for wi, xi in zip(w, x))
                matching = [act for act in acts if close(out.get('data'), _act(z, act))]
                if not matching:
                    raise Failed(f"out.data is {num(out.get('data'))}; expected "
                                 f"{num(_act(z, acts[0]))}", shown, _hint(out, z, acts, nonlin))
                acts = matching[:1]
                _compare_gradients(grads, w, x, acts[0], shown)
        return part

    def zero_grad():
        grads = learner.run(["n = Neuron(3)", "ps = list(n.parameters())",
                             "for p in ps:\n    p.grad = 1.0", "n.zero_grad()"],
                            "[data_of(p.grad) for p in ps]", seed=6,
                            shown="n = Neuron(3)\nn.zero_grad()")
        if any(g != 0 for g in grads):
            raise Failed(f"After n.zero_grad() the grads are {[num(g) for g in grads]}; "
                         "expected all 0", "n = Neuron(3)\nn.zero_grad()")

    parts = [('Module.parameters()', module), ('Neuron', neuron(True))]
    if takes_nonlin:
        parts.append(('Neuron(nin, nonlin=False)', neuron(False)))
    return run_parts(parts + [('zero_grad()', zero_grad)])


def _act(z, name):
    return ACTIVATIONS[name](Reference(z)).data


def _hint(out, z, acts, nonlin):
    got = out.get('data')
    if any(close(got, _act(z - 0.25, act)) for act in acts):
        return "The bias is missing: the neuron computes act(w . x + b)."
    if nonlin and close(got, z):
        return "relu was not applied: with nonlin=True, return act.relu()."
    if not nonlin and close(got, max(z, 0.0)):
        return "With nonlin=False the neuron is linear: return w . x + b as it is."
    return None


def _compare_gradients(grads, w, x, act, shown):
    """The learner's gradients of w, b and the inputs against tapegrad's for the same neuron."""
    params = [Reference(v) for v in w] + [Reference(0.25)]
    inputs = [Reference(v) for v in x]
    out = ACTIVATIONS[act](sum((wi * xi for wi, xi in zip(params[:-1], inputs)), params[-1]))
    out.backward()
    labels = [f"the grad of weight {i}" for i in range(len(w))] + ["the grad of the bias"]
    labels += [f"the grad of input {i}" for i in range(len(x))]
    for label, got, want in zip(labels, grads, [p.grad for p in params + inputs]):
        if not close(got, want, 1e-7):
            raise Failed(f"After out.backward(), {label} is {num(got)}; expected {num(want)}",
                         shown + "\nout.backward()")


EXERCISE = Exercise(6, "Module and Neuron", ('Module', 'Neuron'), (2, 4), check,
                    TEXT, STUB, SOLUTION)
