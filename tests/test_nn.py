"""Neuron, Layer and MLP against the same network written in PyTorch with copied weights."""

import random

import pytest
import torch

from tapegrad import MLP, Layer, Module, Neuron, Value
from torchref import same_float

TORCH_ACT = {'tanh': torch.tanh, 'relu': torch.relu, 'sigmoid': torch.sigmoid,
             'linear': lambda z: z}


def torch_twin(model):
    """The model's weights as float64 tensors: one (W, b, act) per layer."""
    layers = []
    for layer in model.layers:
        W = torch.tensor([[w.data for w in n.w] for n in layer.neurons],
                         dtype=torch.float64, requires_grad=True)
        b = torch.tensor([n.b.data for n in layer.neurons], dtype=torch.float64, requires_grad=True)
        layers.append((W, b, TORCH_ACT[layer.neurons[0].act]))
    return layers


def torch_forward(layers, x):
    h = torch.tensor(x, dtype=torch.float64)
    for W, b, act in layers:
        h = act(W @ h + b)
    return h


@pytest.mark.parametrize('act, out_act', [('tanh', None), ('relu', 'linear'), ('sigmoid', 'tanh'),
                                          ('linear', 'sigmoid')])
def test_mlp_outputs_and_every_gradient_match_torch(act, out_act):
    rng = random.Random(7)
    model = MLP(3, [5, 4, 2], act=act, out_act=out_act, bias='uniform', rng=rng)
    xs = [[rng.uniform(-2, 2) for _ in range(3)] for _ in range(6)]
    targets = [[rng.uniform(-1, 1) for _ in range(2)] for _ in range(6)]

    loss = sum((o - t) ** 2 for x, ts in zip(xs, targets) for o, t in zip(model(x), ts))
    model.zero_grad()
    loss.backward()

    twin = torch_twin(model)
    t_loss = sum(((torch_forward(twin, x) - torch.tensor(t, dtype=torch.float64)) ** 2).sum()
                 for x, t in zip(xs, targets))
    t_loss.backward()

    assert same_float(loss.data, t_loss.item(), 1e-12)
    for layer, (W, b, _) in zip(model.layers, twin):
        for i, neuron in enumerate(layer.neurons):
            for j, w in enumerate(neuron.w):
                assert same_float(w.grad, W.grad[i, j].item(), 1e-11)
            assert same_float(neuron.b.grad, b.grad[i].item(), 1e-11)


def test_seeds_network_has_41_parameters_and_one_output():
    model = MLP(3, [4, 4, 1])
    assert len(model.parameters()) == 41 == (3 * 4 + 4) + (4 * 4 + 4) + (4 * 1 + 1)
    out = model([2.0, 3.0, -1.0])
    assert isinstance(out, Value) and -1 < out.data < 1


def test_random_seed_reproduces_the_seeds_weight_order():
    # the seeds draw neuron by neuron, weight by weight, with random.uniform(-1, 1)
    random.seed(42)
    model = MLP(3, [4, 4, 1])
    random.seed(42)
    expected = []
    for nin, nout in [(3, 4), (4, 4), (4, 1)]:
        for _ in range(nout):
            expected += [random.uniform(-1, 1) for _ in range(nin)] + [0.0]
    assert [p.data for p in model.parameters()] == expected


def test_rng_argument_is_independent_of_the_global_random():
    a = MLP(2, [3, 1], rng=random.Random(1))
    random.seed(99)
    b = MLP(2, [3, 1], rng=random.Random(1))
    assert [p.data for p in a.parameters()] == [p.data for p in b.parameters()]


def test_layer_returns_a_value_for_one_neuron_and_a_list_otherwise():
    assert isinstance(Layer(2, 1)([1.0, 2.0]), Value)
    outs = Layer(2, 3)([1.0, 2.0])
    assert isinstance(outs, list) and len(outs) == 3


def test_inputs_may_be_values_or_floats():
    n = Neuron(2, rng=random.Random(0))
    assert n([1.0, 2.0]).data == n([Value(1.0), Value(2.0)]).data


def test_zero_grad_clears_every_parameter():
    model = MLP(2, [3, 1])
    model([1.0, -1.0]).backward()
    assert any(p.grad != 0 for p in model.parameters())
    model.zero_grad()
    assert all(p.grad == 0 for p in model.parameters())
    assert Module().parameters() == []


@pytest.mark.parametrize('make, x, message', [
    (lambda: Neuron(3), [2.0, 3.0], r"Neuron expects 3 inputs, got 2: \[2.0, 3.0\]"),
    (lambda: MLP(3, [4, 1]), [1.0, 2.0, 3.0, 4.0], "expects 3 inputs, got 4"),
])
def test_wrong_input_length_says_expected_and_got(make, x, message):
    with pytest.raises(ValueError, match=message):
        make()(x)


@pytest.mark.parametrize('make, message', [
    (lambda: MLP(0, [4]), 'nin'),
    (lambda: MLP(3, []), 'non-empty list'),
    (lambda: MLP(3, 4), 'non-empty list'),
    (lambda: MLP(3, [4, -1]), 'layer size'),
    (lambda: MLP(3, [4, 2.5]), 'layer size'),
    (lambda: Neuron(2, act='softmax'), "act must be one of 'tanh', 'relu', 'sigmoid', 'linear'"),
    (lambda: Neuron(2, bias='gaussian'), 'bias must be one of'),
    (lambda: Layer(2, 0), 'nout'),
])
def test_bad_sizes_and_options_are_clear_errors(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_reprs_show_the_architecture():
    assert repr(Neuron(3)) == "Neuron(3, act='tanh')"
    assert repr(Layer(3, 4, act='relu')) == "Layer(3, 4, act='relu')"
    assert repr(MLP(2, [16, 16, 1], act='relu', out_act='linear')) == \
        "MLP(2, [16, 16, 1], act='relu', out_act='linear')  # 337 parameters"
