"""The course's own solution, assembled from the exercise notebook in the course seeds.

Source: shared/seeds/002_727a913224dfab10.txt, "Building micrograd from scratch - exercise
notebook": its code cells "Solution 0", "Solution 5", "Solution 6" and "Solution 7", then
its training loop ("Final example - training a tiny neural network"), copied verbatim and
in that order. Nothing here is ours; `tapegrad check` must pass all nine exercises on it.
"""

# Solution 0 – numerical derivative

import math

def f(x):
    return 3 * x**2 - 4 * x + 5

def numerical_derivative(f, x, h=1e-6):
    return (f(x + h) - f(x)) / h

x0 = 3.0
approx = numerical_derivative(f, x0)
exact = 6 * x0 - 4

print(f"x = {x0}")
print(f"numerical derivative ~ {approx:.6f}")
print(f"exact derivative     = {exact:.6f}")


# Solution 5 – full Value engine with many scalar operations

import math

class Value:
    def __init__(self, data, _children=(), _op="", label=""):
        self.data = float(data)
        self.grad = 0.0
        self._prev = set(_children)
        self._op = _op
        self._backward = lambda: None
        self.label = label

    def __repr__(self):
        return f"Value(data={self.data}, grad={self.grad})"

    @staticmethod
    def _lift(x):
        return x if isinstance(x, Value) else Value(x)

    # ----- basic arithmetic -----
    def __add__(self, other):
        other = Value._lift(other)
        out = Value(self.data + other.data, (self, other), "+")

        def _backward():
            self.grad += 1.0 * out.grad
            other.grad += 1.0 * out.grad

        out._backward = _backward
        return out

    def __radd__(self, other):
        return self + other

    def __mul__(self, other):
        other = Value._lift(other)
        out = Value(self.data * other.data, (self, other), "*")

        def _backward():
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad

        out._backward = _backward
        return out

    def __rmul__(self, other):
        return self * other

    # ----- unary minus and subtraction -----
    def __neg__(self):
        # -x is just (-1) * x
        return self * -1.0

    def __sub__(self, other):
        other = Value._lift(other)
        return self + (-other)

    def __rsub__(self, other):
        other = Value._lift(other)
        return other + (-self)

    # ----- division -----
    def __truediv__(self, other):
        other = Value._lift(other)
        return self * (other ** -1.0)

    def __rtruediv__(self, other):
        other = Value._lift(other)
        return other * (self ** -1.0)

    # ----- powers -----
    def __pow__(self, exponent):
        assert isinstance(exponent, (int, float)), "only supports int/float powers"
        out = Value(self.data ** exponent, (self,), f"**{exponent}")

        def _backward():
            self.grad += exponent * (self.data ** (exponent - 1)) * out.grad

        out._backward = _backward
        return out

    # ----- nonlinearities -----
    def tanh(self):
        x = self.data
        t = (math.exp(2 * x) - 1) / (math.exp(2 * x) + 1)
        out = Value(t, (self,), "tanh")

        def _backward():
            self.grad += (1.0 - t**2) * out.grad

        out._backward = _backward
        return out

    def relu(self):
        x = self.data
        out = Value(x if x > 0 else 0.0, (self,), "ReLU")

        def _backward():
            self.grad += (1.0 if x > 0 else 0.0) * out.grad

        out._backward = _backward
        return out

    def exp(self):
        x = self.data
        e = math.exp(x)
        out = Value(e, (self,), "exp")

        def _backward():
            self.grad += out.data * out.grad

        out._backward = _backward
        return out

    # ----- backward engine -----
    def backward(self):
        topo = []
        visited = set()

        def build(v):
            if v not in visited:
                visited.add(v)
                for child in v._prev:
                    build(child)
                topo.append(v)

        build(self)

        # zero grads
        for v in topo:
            v.grad = 0.0

        # seed gradient
        self.grad = 1.0

        # backprop
        for v in reversed(topo):
            v._backward()


# Small stress test (adapted from micrograd README)
a = Value(-4.0, label="a")
b = Value(2.0, label="b")
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

print("g.data =", g.data)
g.backward()
print("a.grad =", a.grad)
print("b.grad =", b.grad)


# Solution 6 – Module and Neuron

import random

class Module:
    def parameters(self):
        # Base module: no parameters
        return []

    def zero_grad(self):
        for p in self.parameters():
            p.grad = 0.0


class Neuron(Module):
    def __init__(self, nin, nonlin=True):
        self.w = [Value(random.uniform(-1, 1)) for _ in range(nin)]
        self.b = Value(0.0)
        self.nonlin = nonlin

    def __call__(self, x):
        # weighted sum: w·x + b
        act = sum((wi * xi for wi, xi in zip(self.w, x)), self.b)
        # nonlinearity
        return act.relu() if self.nonlin else act

    def parameters(self):
        return self.w + [self.b]


# Test a neuron
n = Neuron(3)
x = [Value(1.0), Value(-2.0), Value(0.5)]
out = n(x)
print("neuron output:", out)


# Solution 7 – Layer and MLP

class Layer(Module):
    def __init__(self, nin, nout, **kwargs):
        self.neurons = [Neuron(nin, **kwargs) for _ in range(nout)]

    def __call__(self, x):
        outs = [n(x) for n in self.neurons]
        return outs[0] if len(outs) == 1 else outs

    def parameters(self):
        return [p for n in self.neurons for p in n.parameters()]


class MLP(Module):
    def __init__(self, nin, nouts):
        sizes = [nin] + nouts
        self.layers = [
            Layer(sizes[i], sizes[i+1], nonlin=(i != len(nouts) - 1))
            for i in range(len(nouts))
        ]

    def __call__(self, x):
        for layer in self.layers:
            x = layer(x)
        return x

    def parameters(self):
        return [p for layer in self.layers for p in layer.parameters()]


mlp = MLP(3, [4, 4, 1])
x = [Value(1.0), Value(-2.0), Value(0.5)]
y = mlp(x)
print("MLP output:", y)


# Tiny 2D dataset
xs = [
    [Value(2.0),  Value(3.0)],   # want +1
    [Value(1.0),  Value(-1.0)],  # want -1
    [Value(-1.0), Value(-2.0)],  # want -1
    [Value(-2.0), Value(2.0)],   # want +1
]
ys = [1.0, -1.0, -1.0, 1.0]

model = MLP(2, [4, 4, 1])
print("Number of parameters:", len(model.parameters()))

learning_rate = 0.1
steps = 50

for step in range(steps):
    # Forward pass: compute predictions
    ypred = [model(x) for x in xs]

    # Mean squared error loss
    losses = [(yout - ytrue)**2 for yout, ytrue in zip(ypred, ys)]
    loss = sum(losses) * (1.0 / len(losses))

    # Backpropagation
    model.zero_grad()
    loss.backward()

    # Parameter update
    for p in model.parameters():
        p.data += -learning_rate * p.grad

    if step % 5 == 0 or step == steps - 1:
        print(f"step {step:03d}  loss = {loss.data:.4f}")

print("\nFinal predictions:")
for x, ytrue, yout in zip(xs, ys, ypred):
    print(f"target={ytrue:+.1f}, pred={yout.data:+.3f}")
