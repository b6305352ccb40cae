"""`tapegrad exercises DIR`: a fresh exercise notebook, and its solutions beside it.

The exercises follow the course seeds' path (a numerical derivative, a Value, its ops,
backpropagation, neurons, layers, training); the text is tapegrad's own. `Value` is
defined once, in exercise 1, and each later exercise attaches its functions to it
(`Value.__add__ = __add__`), so a method is written in one place only and a stub never
replaces work already done. `tapegrad check` grades a copy being worked on: the
untouched notebook is "not started" everywhere, the solutions pass everything.
"""

import json
from pathlib import Path

EXERCISES_FILE, SOLUTIONS_FILE = 'exercises.ipynb', 'solutions.ipynb'


def markdown(text):
    return ('markdown', text.strip('\n'))


def code(exercise, solution=None):
    """A code cell: `exercise` in the exercise notebook, `solution` (if any) in the other."""
    return ('code', exercise.strip('\n'), (solution or exercise).strip('\n'))


CELLS = [
    markdown("""
# Build your own micrograd: exercises

In these exercises you write a small automatic-differentiation engine, the idea at the
heart of PyTorch and JAX, on single numbers: a `Value` that remembers how it was computed,
and a `backward()` that works out how the final result depends on every number that went
into it. On top of it you build neurons, layers and a training loop.

How to work:

- Each exercise explains an idea, then gives a code cell whose stubs raise
  `NotImplementedError`. Replace each `raise` line with your code.
- `Value` is defined in exercise 1; later exercises add methods to it with lines like
  `Value.__add__ = __add__`. After changing a cell, run all the cells again from the top.
- Check your work from a terminal at any time (save the notebook first):
  `tapegrad check exercises.ipynb`. It tells which exercises pass and, for the first
  mistake, the case that shows it.
- The solutions are in `solutions.ipynb`, next to this notebook. Try first!
"""),
    markdown("""
## Exercise 0: a derivative is a slope

The derivative of a function `f` at `x` says how fast `f(x)` changes when `x` changes a
little: nudge `x` by a tiny `h`, and `f(x)` moves by about `f'(x) * h`. So the slope can be
measured without any calculus, by comparing two nearby points:

    f'(x) ≈ (f(x + h) - f(x)) / h

For `f(x) = 3x² - 4x + 5` calculus gives `f'(x) = 6x - 4`, so the slope at `x = 3` is 14.

**Task:** write `numerical_derivative(f, x, h)` that estimates the slope this way.
"""),
    code('''
import math
import random


def numerical_derivative(f, x, h=1e-6):
    """The slope of f at x, estimated from f(x) and f(x + h)."""
    ### YOUR CODE HERE
    raise NotImplementedError("Exercise 0: numerical_derivative")


# Try it: about 14.0
# print(numerical_derivative(lambda x: 3 * x**2 - 4 * x + 5, 3.0))
''', '''
import math
import random


def numerical_derivative(f, x, h=1e-6):
    """The slope of f at x, estimated from f(x) and f(x + h)."""
    return (f(x + h) - f(x)) / h


print(numerical_derivative(lambda x: 3 * x**2 - 4 * x + 5, 3.0))
'''),
    markdown("""
## Exercise 1: a number that can hold its gradient

A neural network is a long calculation that ends in one number, the loss. To improve the
network we need, for every number in it, the **gradient**: how much the loss changes when
that number is nudged. So we wrap each number in a `Value` with two fields:

- `data`: the number itself (a float);
- `grad`: the gradient of the final result with respect to it, 0.0 until computed.

A readable `repr` (what the notebook shows for a Value) makes everything after this easier
to debug: `Value(data=2.5, grad=0.0)`.

`__init__` also takes `_children` and `_op`: ignore them until exercise 3.

**Task:** write `__init__` and `__repr__`.
"""),
    code('''
class Value:
    """One number in a calculation, and the slope of the final result with respect to it."""

    def __init__(self, data, _children=(), _op=''):
        # Exercise 1: keep data (as a float) in self.data, and start self.grad at 0.0.
        # Exercise 3 comes back here to keep _children and _op, and exercise 4 to give
        # every Value a _backward.
        ### YOUR CODE HERE
        raise NotImplementedError("Exercise 1: Value.__init__")

    def __repr__(self):
        """Such as Value(data=2.5, grad=0.0)."""
        ### YOUR CODE HERE
        raise NotImplementedError("Exercise 1: Value.__repr__")


# Try it:
# Value(2.5)
''', '''
class Value:
    """One number in a calculation, and the slope of the final result with respect to it."""

    def __init__(self, data, _children=(), _op=''):
        self.data = float(data)
        self.grad = 0.0

    def __repr__(self):
        """Such as Value(data=2.5, grad=0.0)."""
        return f"Value(data={self.data}, grad={self.grad})"


Value(2.5)
'''),
    markdown("""
## Exercise 2: `+` and `*`

Python turns `a + b` into the method call `a.__add__(b)`, and `a * b` into `a.__mul__(b)`.
Defining them lets us write formulas with Values as with plain numbers. Each returns a
**new** Value and leaves `a` and `b` as they were.

A plain number mixed in, as in `a + 1`, first becomes a Value. With the number on the
left, `2 + a`, Python first asks the number, which knows nothing of Values, and then calls
`a.__radd__(2)`: the *reflected* method. `sum([a, b, c])` needs it too, because it starts
from 0 and computes `0 + a` first.

**Task:** write `__add__`, `__radd__`, `__mul__` and `__rmul__`.
"""),
    code('''
def __add__(self, other):
    """self + other, as a new Value. A plain number becomes a Value first, so a + 1 works."""
    other = other if isinstance(other, Value) else Value(other)
    ### YOUR CODE HERE: a new Value holding the sum.
    ### (Exercise 3 comes back to give it its inputs and op; exercise 4 its _backward.)
    raise NotImplementedError("Exercise 2: Value.__add__")


def __radd__(self, other):
    """other + self, for a plain number on the left: 2 + a."""
    ### YOUR CODE HERE
    raise NotImplementedError("Exercise 2: Value.__radd__")


def __mul__(self, other):
    """self * other, as a new Value."""
    other = other if isinstance(other, Value) else Value(other)
    ### YOUR CODE HERE (exercises 3 and 4 come back here too)
    raise NotImplementedError("Exercise 2: Value.__mul__")


def __rmul__(self, other):
    """other * self, for a plain number on the left: 3 * a."""
    ### YOUR CODE HERE
    raise NotImplementedError("Exercise 2: Value.__rmul__")


# Make the functions above methods of Value.
Value.__add__, Value.__radd__ = __add__, __radd__
Value.__mul__, Value.__rmul__ = __mul__, __rmul__

# Try it:
# a, b = Value(-4.0), Value(2.0)
# print(a + b, a * b, 2 + a, 3 * a, sum([a, b]))
''', '''
def __add__(self, other):
    """self + other, as a new Value. A plain number becomes a Value first, so a + 1 works."""
    other = other if isinstance(other, Value) else Value(other)
    return Value(self.data + other.data)


def __radd__(self, other):
    """other + self, for a plain number on the left: 2 + a."""
    return self + other  # addition does not care about order


def __mul__(self, other):
    """self * other, as a new Value."""
    other = other if isinstance(other, Value) else Value(other)
    return Value(self.data * other.data)


def __rmul__(self, other):
    """other * self, for a plain number on the left: 3 * a."""
    return self * other


Value.__add__, Value.__radd__ = __add__, __radd__
Value.__mul__, Value.__rmul__ = __mul__, __rmul__

a, b = Value(-4.0), Value(2.0)
print(a + b, a * b, 2 + a, 3 * a, sum([a, b]))
'''),
    markdown("""
## Exercise 3: remembering how a value was made

To send gradients backwards through a calculation, each result must remember where it
came from. A Value made by an op keeps:

- `_prev`: its inputs, the Values the op read (for `c = a * b`, the Values `a` and `b`
  themselves, not copies), as a tuple or a set;
- `_op`: the op's symbol, `'+'` or `'*'`.

A Value you create yourself, like `Value(2.0)`, has no inputs: its `_prev` is empty and
its `_op` is `''`. Together these links form the **computation graph** of the result.

**Task:** in `__init__` (exercise 1's cell), keep `_children` as `self._prev` and `_op` as
`self._op`. In `__add__` and `__mul__` (exercise 2's cell), create the result with its
inputs and op: `Value(..., (self, other), '+')`. Then run all the cells again.
"""),
    code('''
# Exercise 3's code goes into the cells of exercises 1 and 2. Then try it:
# a, b = Value(-4.0), Value(2.0)
# d = a * b + b
# print(d._op, [v.data for v in d._prev])  # + and the inputs -8.0 (that is a * b) and 2.0
''', '''
def __init__(self, data, _children=(), _op=''):
    self.data = float(data)
    self.grad = 0.0
    self._prev = tuple(_children)  # the inputs, in order
    self._op = _op                 # '' for a Value created directly


def __add__(self, other):
    other = other if isinstance(other, Value) else Value(other)
    return Value(self.data + other.data, (self, other), '+')


def __mul__(self, other):
    other = other if isinstance(other, Value) else Value(other)
    return Value(self.data * other.data, (self, other), '*')


Value.__init__, Value.__add__, Value.__mul__ = __init__, __add__, __mul__

a, b = Value(-4.0), Value(2.0)
d = a * b + b
print(d._op, [v.data for v in d._prev])
'''),
    markdown("""
## Exercise 4: backpropagation

`c.backward()` should fill in, for every Value `v` that `c` depends on,
`v.grad = dc/dv`. The **chain rule** breaks this into small steps. If `out = x * y` and we
already know `out.grad` (how the end result depends on `out`), then

- nudging `x` by `h` moves `out` by `y * h`, so `x.grad` gets `y.data * out.grad`;
- likewise `y.grad` gets `x.data * out.grad`.

For `out = x + y` both inputs get `1.0 * out.grad`. Each op's result gets a small function,
`_backward`, that does exactly this for its inputs. A Value you create has nothing to pass
on: its `_backward` does nothing.

Two details decide whether the answer is right:

1. **Add, don't overwrite.** In `b = a + a`, or whenever a Value is used twice, each use
   sends its share: `x.grad += ...`, never `x.grad = ...`.
2. **Order.** A Value may pass its gradient on only once it has received everything
   from the Values computed from it. Listing the graph so that every Value comes after
   its inputs (a *topological order*) and walking that list **backwards**, from the
   result to the inputs, guarantees this. Build the list with a loop and a list of nodes
   still to visit, not with a function that calls itself: Python stops at about 1,000
   nested calls, and graphs get much deeper than that.

**Task:** give every Value a `_backward` (in `__init__`, one that does nothing; in
`__add__` and `__mul__`, one that sends the gradient to the inputs as above), then write
`backward()` below: find the topological order, set the result's own `grad` to 1.0 (the
slope of `c` with respect to itself), then call `_backward()` on every Value, result first.
"""),
    code('''
def backward(self):
    """Fill in the .grad of every Value that self depends on: d(self)/d(that Value)."""
    ### YOUR CODE HERE
    raise NotImplementedError("Exercise 4: Value.backward")


Value.backward = backward

# Exercise 4 also changes __init__, __add__ and __mul__ (the cells of exercises 1 and 2).
# Try it:
# a, b = Value(2.0), Value(3.0)
# c = a * b
# c.backward()
# print(a.grad, b.grad)  # 3.0 2.0
# a = Value(3.0)
# b = a + a
# b.backward()
# print(a.grad)  # 2.0: a is used twice
''', '''
def __init__(self, data, _children=(), _op=''):
    self.data = float(data)
    self.grad = 0.0
    self._prev = tuple(_children)
    self._op = _op
    self._backward = lambda: None  # a Value created directly has no inputs to update


def __add__(self, other):
    other = other if isinstance(other, Value) else Value(other)
    out = Value(self.data + other.data, (self, other), '+')

    def _backward():
        self.grad += out.grad   # d(x + y)/dx = 1
        other.grad += out.grad  # d(x + y)/dy = 1
    out._backward = _backward
    return out


def __mul__(self, other):
    other = other if isinstance(other, Value) else Value(other)
    out = Value(self.data * other.data, (self, other), '*')

    def _backward():
        self.grad += other.data * out.grad  # d(x * y)/dx = y
        other.grad += self.data * out.grad  # d(x * y)/dy = x
    out._backward = _backward
    return out


def backward(self):
    """Fill in the .grad of every Value that self depends on: d(self)/d(that Value)."""
    # Depth first with an explicit stack: a node goes into `order` once all of its
    # inputs are in, which the (node, True) entry marks.
    order, visited, stack = [], set(), [(self, False)]
    while stack:
        node, inputs_done = stack.pop()
        if inputs_done:
            order.append(node)
        elif node not in visited:
            visited.add(node)
            stack.append((node, True))
            stack.extend((child, False) for child in node._prev)
    self.grad = 1.0
    for node in reversed(order):
        node._backward()


Value.__init__, Value.__add__, Value.__mul__ = __init__, __add__, __mul__
Value.backward = backward

a, b = Value(2.0), Value(3.0)
c = a * b
c.backward()
print(a.grad, b.grad)
a = Value(3.0)
b = a + a
b.backward()
print(a.grad)
'''),
    markdown("""
## Exercise 5: more operations

Networks need more than `+` and `*`. Some ops are combinations of those we have, and need
no `_backward` of their own, because the ops they are made of already have one:

- `-a` is `a * -1`, and `a - b` is `a + (-b)`;
- `a / b` is `a * b**-1`.

The others are new, each with its own local derivative:

| op | value | derivative |
|---|---|---|
| `x ** k` (k a number) | x^k | `k * x**(k - 1)` |
| `x.tanh()` | tanh(x) | `1 - tanh(x)**2`, from the output |
| `x.relu()` | x if x > 0, else 0 | 1 if x > 0, else 0 |
| `x.exp()` | e^x | e^x, the output itself |

Reflected forms are needed again for a number on the left: `5 - a` calls `a.__rsub__(5)`,
and `3 / a` calls `a.__rtruediv__(3)`.

**Task:** write the methods below.
"""),
    code('''
def __neg__(self):
    """-self"""
    ### YOUR CODE HERE
    raise NotImplementedError("Exercise 5: Value.__neg__")


def __sub__(self, other):
    """self - other"""
    ### YOUR CODE HERE
    raise NotImplementedError("Exercise 5: Value.__sub__")


def __rsub__(self, other):
    """other - self, for a plain number on the left: 5 - a."""
    ### YOUR CODE HERE
    raise NotImplementedError("Exercise 5: Value.__rsub__")


def __truediv__(self, other):
    """self / other"""
    ### YOUR CODE HERE
    raise NotImplementedError("Exercise 5: Value.__truediv__")


def __rtruediv__(self, other):
    """other / self, for a plain number on the left: 3 / a."""
    ### YOUR CODE HERE
    raise NotImplementedError("Exercise 5: Value.__rtruediv__")


def __pow__(self, k):
    """self ** k, for a plain number k."""
    ### YOUR CODE HERE
    raise NotImplementedError("Exercise 5: Value.__pow__")


def tanh(self):
    ### YOUR CODE HERE
    raise NotImplementedError("Exercise 5: Value.tanh")


def relu(self):
    ### YOUR CODE HERE
    raise NotImplementedError("Exercise 5: Value.relu")


def exp(self):
    ### YOUR CODE HERE
    raise NotImplementedError("Exercise 5: Value.exp")


Value.__neg__, Value.__sub__, Value.__rsub__ = __neg__, __sub__, __rsub__
Value.__truediv__, Value.__rtruediv__, Value.__pow__ = __truediv__, __rtruediv__, __pow__
Value.tanh, Value.relu, Value.exp = tanh, relu, exp

# Try it: 24.7041, then a.grad 138.8338 and b.grad 645.5773
# a, b = Value(-4.0), Value(2.0)
# c = a + b
# d = a * b + b**3
# c = c + c + 1
# c = c + 1 + c + (-a)
# d = d + d * 2 + (b + a).relu()
# d = d + 3 * d + (b - a).relu()
# e = c - d
# f = e**2
# g = f / 2.0
# g = g + 10.0 / f
# print(f"{g.data:.4f}")
# g.backward()
# print(f"{a.grad:.4f} {b.grad:.4f}")
''', '''
def __neg__(self):
    """-self"""
    return self * -1


def __sub__(self, other):
    """self - other"""
    return self + (-other)


def __rsub__(self, other):
    """other - self, for a plain number on the left: 5 - a."""
    return other + (-self)


def __truediv__(self, other):
    """self / other"""
    return self * other**-1


def __rtruediv__(self, other):
    """other / self, for a plain number on the left: 3 / a."""
    return other * self**-1


def __pow__(self, k):
    """self ** k, for a plain number k."""
    out = Value(self.data**k, (self,), f'**{k}')

    def _backward():
        self.grad += k * self.data ** (k - 1) * out.grad
    out._backward = _backward
    return out


def tanh(self):
    t = math.tanh(self.data)
    out = Value(t, (self,), 'tanh')

    def _backward():
        self.grad += (1 - t**2) * out.grad
    out._backward = _backward
    return out


def relu(self):
    out = Value(self.data if self.data > 0 else 0.0, (self,), 'relu')

    def _backward():
        self.grad += (1.0 if self.data > 0 else 0.0) * out.grad
    out._backward = _backward
    return out


def exp(self):
    out = Value(math.exp(self.data), (self,), 'exp')

    def _backward():
        self.grad += out.data * out.grad
    out._backward = _backward
    return out


Value.__neg__, Value.__sub__, Value.__rsub__ = __neg__, __sub__, __rsub__
Value.__truediv__, Value.__rtruediv__, Value.__pow__ = __truediv__, __rtruediv__, __pow__
Value.tanh, Value.relu, Value.exp = tanh, relu, exp

a, b = Value(-4.0), Value(2.0)
c = a + b
d = a * b + b**3
c = c + c + 1
c = c + 1 + c + (-a)
d = d + d * 2 + (b + a).relu()
d = d + 3 * d + (b - a).relu()
e = c - d
f = e**2
g = f / 2.0
g = g + 10.0 / f
print(f"{g.data:.4f}")
g.backward()
print(f"{a.grad:.4f} {b.grad:.4f}")
'''),
    markdown("""
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
"""),
    code('''
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
''', '''
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
'''),
    markdown("""
## Exercise 7: layers and networks

A **layer** is a row of neurons that all read the same inputs; its output is the list of
their outputs (or the one output itself, for a layer of one neuron). A **multi-layer
perceptron** (MLP) is layers in a row, each reading the previous one's output:
`MLP(3, [4, 4, 1])` takes 3 inputs through layers of 4, 4 and 1 neurons. Its hidden
layers use relu, its last layer is linear.

**Task:** write `__call__` and `parameters` of `Layer` and `MLP`.
"""),
    code('''
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
''', '''
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
'''),
    markdown("""
## Exercise 8: training

Training repeats four steps:

1. **forward:** the model's predictions for every input, and the loss, here the mean
   squared error `mean((prediction - target)**2)`;
2. **zero the gradients:** `model.zero_grad()`, because `backward()` adds to them;
3. **backward:** `loss.backward()`;
4. **update:** move every parameter a little against its gradient, downhill:
   `p.data -= learning_rate * p.grad`.

**Task:** write `train`, returning the loss of each step (as floats, measured before that
step's update).
"""),
    code('''
def train(model, xs, ys, steps, learning_rate):
    """Fit model to inputs xs and targets ys by gradient descent; the loss of each step."""
    ### YOUR CODE HERE
    raise NotImplementedError("Exercise 8: train")


# Try it: the loss should fall.
# random.seed(0)
# model = MLP(2, [4, 4, 1])
# xs = [[2.0, 3.0], [1.0, -1.0], [-1.0, -2.0], [-2.0, 2.0]]
# ys = [1.0, -1.0, -1.0, 1.0]
# losses = train(model, xs, ys, steps=50, learning_rate=0.05)
# print(losses[0], losses[-1])
''', '''
def train(model, xs, ys, steps, learning_rate):
    """Fit model to inputs xs and targets ys by gradient descent; the loss of each step."""
    losses = []
    for _ in range(steps):
        predictions = [model(x) for x in xs]
        loss = sum((p - y) ** 2 for p, y in zip(predictions, ys)) * (1.0 / len(ys))
        model.zero_grad()
        loss.backward()
        for p in model.parameters():
            p.data -= learning_rate * p.grad
        losses.append(loss.data)
    return losses


random.seed(0)
model = MLP(2, [4, 4, 1])
xs = [[2.0, 3.0], [1.0, -1.0], [-1.0, -2.0], [-2.0, 2.0]]
ys = [1.0, -1.0, -1.0, 1.0]
losses = train(model, xs, ys, steps=50, learning_rate=0.05)
print(losses[0], losses[-1])
'''),
    markdown("""
## What you built

A scalar autograd engine (Values that remember their inputs, local derivatives, and a
backward pass over the graph in reverse topological order) and a small neural-network
library on top of it. PyTorch does the same on tensors. tapegrad is this engine too,
with checks against PyTorch and a tape that replays a graph fast: `from tapegrad import
Value, MLP`.
"""),
]


def _notebook(cells, use_solutions):
    return {
        'cells': [_cell(i, cell, use_solutions) for i, cell in enumerate(cells)],
        'metadata': {
            'kernelspec': {'display_name': 'Python 3', 'language': 'python', 'name': 'python3'},
            'language_info': {'name': 'python'},
        },
        'nbformat': 4,
        'nbformat_minor': 5,
    }


def _cell(index, cell, use_solutions):
    kind, text = cell[0], cell[-1] if use_solutions else cell[1]
    fields = {'cell_type': kind, 'id': f'cell-{index}', 'metadata': {},
              'source': text.splitlines(keepends=True)}
    if kind == 'code':
        fields.update(execution_count=None, outputs=[])
    return fields


def write_exercises(directory):
    """Write exercises.ipynb and solutions.ipynb into `directory`; returns their paths.

    Refuses to overwrite an existing exercises.ipynb, which may hold a learner's work.
    """
    directory = Path(directory)
    exercises, solutions = directory / EXERCISES_FILE, directory / SOLUTIONS_FILE
    if exercises.exists():
        raise FileExistsError(f"{exercises} already exists and may hold your work: "
                              "move it away, or choose another directory")
    directory.mkdir(parents=True, exist_ok=True)
    for path, use_solutions in ((exercises, False), (solutions, True)):
        path.write_text(json.dumps(_notebook(CELLS, use_solutions), indent=1) + '\n',
                        encoding='utf-8')
    return [exercises, solutions]
