"""tapegrad.interop against PyTorch float64 and onnxruntime.

Models: outputs and gradients of to_torch(model) against the model's own (the eager
engine, itself tested against PyTorch), state dicts against Sequentials written here by
hand and against PyTorch's own load_state_dict, ONNX files run by onnxruntime. Compiled
losses: the tape lowered to tensor ops against the tape's own replay. onnx and
onnxruntime are imported here: without them these tests fail, never skip.
"""

import random
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest
import torch

import tapegrad
from tapegrad import MLP, Layer, Module, Neuron, Value, losses
from tapegrad.data import make_moons
from tapegrad.interop import TORCH_ACTIVATIONS, TorchLoss, from_torch, lower, to_onnx, to_torch
from tapegrad.nn import ACTIVATIONS
from tapegrad.tape import Instruction, Tape, TapeError
from torchref import same_float

F64 = torch.float64
README = Path(__file__).resolve().parent.parent / 'README.md'


def rows(rng, n, nin):
    return [[rng.uniform(-2, 2) for _ in range(nin)] for _ in range(n)]


def outputs(model, X):
    """The model's outputs, one list per row of X (a single output as a list of one)."""
    out = [model(x) for x in X]
    return [o if isinstance(o, list) else [o] for o in out]


def assert_close(got, expected, rel=1e-12, what=''):
    got, expected = np.ravel(got).tolist(), np.ravel(expected).tolist()
    assert len(got) == len(expected), what
    for i, (g, e) in enumerate(zip(got, expected)):
        assert same_float(g, e, rel), f"{what}[{i}]: {g!r} != {e!r}"


def torch_grads(net):
    return {name: p.grad for name, p in net.named_parameters()}


def tapegrad_grads(model):
    return {name: [[v.grad for v in row] for row in values] if isinstance(values[0], list)
            else [v.grad for v in values] for name, values in model.named_parameters()}


# ----------------------------------------------------------------------------------
# to_torch: the same outputs and gradients


@pytest.mark.parametrize('act', ACTIVATIONS)
@pytest.mark.parametrize('out_act', ACTIVATIONS)
def test_mlp_outputs_and_gradients_match_for_every_activation(act, out_act):
    rng = random.Random(10 * ACTIVATIONS.index(act) + ACTIVATIONS.index(out_act))
    model = MLP(3, [5, 4, 2], act=act, out_act=out_act, bias='uniform', rng=rng)
    X, T = rows(rng, 6, 3), rows(rng, 6, 2)
    net = to_torch(model)

    out = outputs(model, X)
    loss = sum((o - t) ** 2 for os, ts in zip(out, T) for o, t in zip(os, ts))
    loss.backward()
    t_out = net(torch.tensor(X, dtype=F64))
    t_loss = ((t_out - torch.tensor(T, dtype=F64)) ** 2).sum()
    t_loss.backward()

    assert t_out.dtype == F64
    assert_close(t_out.tolist(), [[o.data for o in os] for os in out], what='outputs')
    assert same_float(t_loss.item(), loss.data, 1e-12)
    mine, theirs = tapegrad_grads(model), torch_grads(net)
    assert list(mine) == list(theirs)
    for name in mine:
        assert_close(theirs[name].tolist(), mine[name], what=f"grad of {name}")


@pytest.mark.parametrize('act', ACTIVATIONS)
def test_a_neuron_and_a_layer_convert_too(act):
    rng = random.Random(3)
    X = rows(rng, 4, 3)
    for model in (Neuron(3, act=act, bias='uniform', rng=rng),
                  Layer(3, 4, act=act, bias='uniform', rng=rng)):
        net = to_torch(model)
        assert_close(net(torch.tensor(X, dtype=F64)).tolist(),
                     [[o.data for o in os] for os in outputs(model, X)], what=repr(model))


def test_the_sequential_is_laid_out_as_pytorch_users_write_it():
    net = to_torch(MLP(2, [3, 3, 1], act='relu', out_act='linear'))
    assert [type(m) for m in net] == [torch.nn.Linear, torch.nn.ReLU, torch.nn.Linear,
                                      torch.nn.ReLU, torch.nn.Linear]
    # a linear hidden layer keeps its place with Identity; the Linears stay at 0, 2, 4
    net = to_torch(MLP(2, [3, 3, 1], act='linear', out_act='sigmoid'))
    assert [type(m) for m in net] == [torch.nn.Linear, torch.nn.Identity, torch.nn.Linear,
                                      torch.nn.Identity, torch.nn.Linear, torch.nn.Sigmoid]


def test_float32_on_request_and_pytorch_s_generator_untouched():
    model = MLP(2, [4, 1], rng=random.Random(0))
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    net = to_torch(model, dtype=torch.float32)
    assert torch.equal(torch.rand(3), expected)
    assert net[0].weight.dtype == torch.float32
    assert net[0].weight[0, 0].item() == np.float32(model.layers[0].neurons[0].w[0].data)


def test_dtype_by_name_and_what_else_is_refused():
    model = MLP(2, [4, 1], rng=random.Random(0))
    for name, dtype in [('float32', torch.float32), ('torch.float32', torch.float32),
                        ('float64', torch.float64), (torch.float16, torch.float16)]:
        assert to_torch(model, dtype=name)[0].weight.dtype == dtype
    accepted = r"dtype must be a floating-point torch dtype such as torch.float64 .* or its name"
    for dtype in ['int64', torch.int32, 'nn', 'float8']:
        with pytest.raises(ValueError, match=rf"to_torch: {accepted}, 'float64' or 'float32'; got "):
            to_torch(model, dtype=dtype)
    for dtype in [float, np.float32]:
        with pytest.raises(TypeError, match=f"to_torch: {accepted}"):
            to_torch(model, dtype=dtype)


def test_every_activation_has_a_pytorch_module():
    assert set(TORCH_ACTIVATIONS) == set(ACTIVATIONS)


def test_what_to_torch_cannot_convert_is_named():
    class Twice(Module):  # a user's own model
        def __init__(self):
            self.inner = MLP(2, [2, 1])

        def __call__(self, x):
            return self.inner(x) * 2

    with pytest.raises(TypeError, match=r"Twice is a Module of its own: give Twice a "
                                        r"linears\(\) method"):
        to_torch(Twice())
    with pytest.raises(TypeError, match="got list"):
        to_torch([Value(1.0)])
    model = MLP(2, [2, 1])
    model.layers[0].neurons[0].act = model.layers[0].neurons[1].act = 'softplus'
    with pytest.raises(ValueError, match="layer 0 has the activation 'softplus'"):
        to_torch(model)


# ----------------------------------------------------------------------------------
# from_torch


@pytest.mark.parametrize('act, out_act', [('tanh', 'tanh'), ('relu', 'linear'),
                                          ('sigmoid', 'relu'), ('linear', 'sigmoid')])
def test_round_trips_are_bit_identical(act, out_act):
    model = MLP(3, [4, 5, 2], act=act, out_act=out_act, bias='uniform', rng=random.Random(1))
    back = from_torch(to_torch(model))
    assert back.config() == model.config()
    assert [p.data for p in back.parameters()] == [p.data for p in model.parameters()]

    torch.manual_seed(0)  # and from PyTorch's side, in float32 as PyTorch makes it
    net = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    again = to_torch(from_torch(net), dtype=torch.float32)
    for (name, p), (name_again, q) in zip(net.state_dict().items(), again.state_dict().items()):
        assert name == name_again and torch.equal(p, q)


def test_a_sequential_written_in_pytorch_computes_the_same_in_tapegrad():
    torch.manual_seed(1)
    net = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.ReLU(), torch.nn.Linear(8, 8),
                              torch.nn.ReLU(), torch.nn.Linear(8, 1)).double()
    model = from_torch(net)
    assert (model.act, model.out_act, model.sizes) == ('relu', 'linear', [2, 8, 8, 1])
    X = rows(random.Random(2), 5, 2)
    assert_close([[o.data for o in os] for os in outputs(model, X)],
                 net(torch.tensor(X, dtype=F64)).tolist())


def test_from_torch_reads_missing_and_identity_activations_as_linear():
    lin = [torch.nn.Linear(2, 3), torch.nn.Linear(3, 1)]
    assert from_torch(torch.nn.Sequential(*lin)).config()['act'] == 'linear'
    model = from_torch(torch.nn.Sequential(lin[0], torch.nn.Identity(), lin[1], torch.nn.Tanh()))
    assert (model.act, model.out_act) == ('linear', 'tanh')


def test_from_torch_leaves_python_s_random_alone():
    random.seed(9)
    expected = random.random()
    random.seed(9)
    from_torch(torch.nn.Sequential(torch.nn.Linear(4, 4)))
    assert random.random() == expected


L = torch.nn.Linear


@pytest.mark.parametrize('layers, error, message', [
    ([L(2, 3), torch.nn.ReLU(), torch.nn.Dropout(), L(3, 1)], TypeError, r"layer 2 is a Dropout"),
    ([L(2, 3), torch.nn.LeakyReLU(), L(3, 1)], TypeError, r"layer 1 is a LeakyReLU"),
    ([L(2, 3, bias=False)], ValueError, r"layer 0 is a Linear without a bias.*bias=True"),
    ([torch.nn.Tanh(), L(2, 3)], ValueError, r"layer 0 \(Tanh\) does not come right after"),
    ([L(2, 3), torch.nn.Tanh(), torch.nn.Tanh()], ValueError, r"layer 2 \(Tanh\)"),
    ([L(2, 3), torch.nn.Tanh(), L(4, 1)], ValueError,
     r"layer 2 takes 4 inputs, but the Linear before it \(layer 0\) gives 3"),
    ([L(2, 3), torch.nn.Tanh(), L(3, 3), torch.nn.ReLU(), L(3, 1)], ValueError,
     r"hidden layers share one activation.*layer 0: tanh, layer 2: relu"),
    ([torch.nn.Sequential(L(2, 3))], TypeError, r"layer 0 is a Sequential"),
    ([], ValueError, r"no Linear layer"),
])
def test_what_from_torch_cannot_take_is_named(layers, error, message):
    with pytest.raises(error, match=message):
        from_torch(torch.nn.Sequential(*layers))


def test_from_torch_takes_a_sequential_only():
    with pytest.raises(TypeError, match="got Linear"):
        from_torch(L(2, 3))


# ----------------------------------------------------------------------------------
# State dicts


def hand_written_twin():
    """MLP(3, [4, 4, 2]) with tanh as a PyTorch user would write it."""
    torch.manual_seed(3)
    return torch.nn.Sequential(L(3, 4), torch.nn.Tanh(), L(4, 4), torch.nn.Tanh(),
                               L(4, 2)).double()


def shapes(state):
    return {name: tuple(np.shape(value)) for name, value in state.items()}


def test_state_dict_has_the_keys_and_shapes_of_pytorch_s():
    model = MLP(3, [4, 4, 2], out_act='linear')
    expected = shapes(hand_written_twin().state_dict())
    assert shapes(model.state_dict()) == expected
    assert list(model.state_dict()) == list(expected)
    assert [name for name, _ in model.named_parameters()] == \
        [name for name, _ in hand_written_twin().named_parameters()]
    tensors = model.state_dict(as_tensors=True)
    assert all(t.dtype == F64 for t in tensors.values()) and shapes(tensors) == expected


def test_named_parameters_are_the_model_s_own_values():
    model = MLP(3, [4, 2])
    named = dict(model.named_parameters())
    assert named['0.weight'][1] is model.layers[0].neurons[1].w
    assert named['2.bias'][0] is model.layers[1].neurons[0].b
    flat = [v for _, values in model.named_parameters() for row in values
            for v in (row if isinstance(row, list) else [row])]
    assert sorted(map(id, flat)) == sorted(map(id, model.parameters()))


def test_state_dicts_go_both_ways():
    net = hand_written_twin()
    X = torch.tensor(rows(random.Random(4), 5, 3), dtype=F64)
    model = MLP(3, [4, 4, 2], out_act='linear')
    assert model.load_state_dict(net.state_dict()) == ([], [])
    assert_close([[o.data for o in os] for os in outputs(model, X.tolist())], net(X).tolist())

    other = MLP(3, [4, 4, 2], out_act='linear', bias='uniform', rng=random.Random(5))
    net.load_state_dict(other.state_dict(as_tensors=True))
    assert_close(net(X).tolist(), [[o.data for o in os] for os in outputs(other, X.tolist())])
    # nested lists load too, and numbers come back bit for bit
    model.load_state_dict(other.state_dict())
    assert model.state_dict() == other.state_dict()


def test_load_state_dict_lists_missing_and_unexpected_keys_and_changes_nothing():
    model = MLP(3, [4, 4, 2], out_act='linear')
    before = model.state_dict()
    state = dict(hand_written_twin().state_dict())
    del state['2.bias'], state['4.weight']
    state['6.weight'] = torch.zeros(2, 2)
    with pytest.raises(RuntimeError, match=r"(?s)Missing key\(s\).*Unexpected key\(s\)"):
        hand_written_twin().load_state_dict(state)  # PyTorch's strict check, for reference
    with pytest.raises(ValueError, match=r"missing keys '2.bias', '4.weight'; unexpected keys "
                                         r"'6.weight' \(strict=False loads"):
        model.load_state_dict(state)
    assert model.state_dict() == before


def test_strict_false_returns_what_pytorch_returns_and_loads_the_rest():
    state = dict(hand_written_twin().state_dict())
    del state['2.bias']
    state['6.weight'] = torch.zeros(2, 2)
    theirs = hand_written_twin().load_state_dict(state, strict=False)
    model = MLP(3, [4, 4, 2], out_act='linear')
    bias = [n.b.data for n in model.layers[1].neurons]
    mine = model.load_state_dict(state, strict=False)
    assert (mine.missing_keys, mine.unexpected_keys) == (theirs.missing_keys,
                                                         theirs.unexpected_keys)
    assert model.state_dict()['0.weight'] == state['0.weight'].tolist()
    assert [n.b.data for n in model.layers[1].neurons] == bias


@pytest.mark.parametrize('strict', [True, False])
def test_a_shape_that_differs_is_always_an_error(strict):
    model = MLP(3, [4, 4, 2])
    before = model.state_dict()
    state = model.state_dict()
    state['2.weight'] = [[0.0] * 3] * 4
    state['4.bias'] = [[1.0, 2.0]]
    with pytest.raises(RuntimeError, match="size mismatch for 2.weight"):
        hand_written_twin().load_state_dict({k: torch.tensor(v) for k, v in state.items()},
                                            strict=strict)
    with pytest.raises(ValueError, match=r"'2.weight' is shape \(4, 3\) in the state dict, "
                                         r"shape \(4, 4\) in the model; '4.bias' is shape "
                                         r"\(1, 2\) in the state dict, shape \(2,\)"):
        model.load_state_dict(state, strict=strict)
    state = model.state_dict()
    state['0.bias'] = ['a', 'b', 'c', 'd']
    with pytest.raises(ValueError, match=r"'0.bias' is not numbers"):
        model.load_state_dict(state, strict=strict)
    assert model.state_dict() == before


def test_a_module_of_its_own_says_what_state_dict_needs():
    class Scale(Module):
        def __init__(self):
            self.a = Value(2.0)

        def parameters(self):
            return [self.a]

    with pytest.raises(NotImplementedError, match=r"give it a linears\(\) method.*"
                                                  r"or a named_parameters\(\) method"):
        Scale().state_dict()

    class Named(Scale):
        def named_parameters(self):
            return [('a', [self.a])]

    scaled = Named()
    scaled.load_state_dict({'a': torch.tensor([3.0])})
    assert scaled.state_dict() == {'a': [3.0]}


# ----------------------------------------------------------------------------------
# ONNX


@pytest.mark.parametrize('act, out_act, dtype, rel', [('relu', 'linear', F64, 1e-12),
                                                      ('tanh', 'sigmoid', torch.float32, 1e-5)])
def test_onnx_file_runs_in_onnxruntime_with_the_same_outputs(tmp_path, act, out_act, dtype, rel):
    model = MLP(3, [8, 8, 2], act=act, out_act=out_act, bias='uniform', rng=random.Random(6))
    path = to_onnx(model, tmp_path / 'model.onnx', dtype=dtype)
    onnx.checker.check_model(onnx.load(str(path)))
    session = onnxruntime.InferenceSession(str(path), providers=['CPUExecutionProvider'])
    for n in (1, 7):  # any batch size
        X = rows(random.Random(n), n, 3)
        numpy_dtype = np.float64 if dtype == F64 else np.float32
        (got,) = session.run(['output'], {'input': np.array(X, dtype=numpy_dtype)})
        assert got.shape == (n, 2)
        assert_close(got, [[o.data for o in os] for os in outputs(model, X)], rel=rel)


# ----------------------------------------------------------------------------------
# A compiled loss as PyTorch tensor ops


def moons(n):
    np.random.seed(1337)
    X, labels = make_moons(n, noise=0.1)
    return X, [2 * label - 1 for label in labels]


def micrograd_demo():
    """micrograd's moons loss: MLP(2, [16, 16, 1]), hinge + 1e-4 L2, compiled."""
    model = MLP(2, [16, 16, 1], act='relu', out_act='linear', rng=random.Random(1337))

    def loss_fn(X, y):
        scores = [model(x) for x in X]
        return losses.hinge(scores, y) + losses.l2(model.parameters(), 1e-4)

    return model, tapegrad.compile(loss_fn, model.parameters())


def tapegrad_and_torch(compiled, *data):
    """(loss, grads) from the tape and from its PyTorch lowering."""
    for p in compiled.params:
        p.grad = 0.0
    loss = compiled(*data)
    f = compiled.to_torch()
    theta = f.params_tensor()
    t_loss = f(theta, *(torch.tensor(d, dtype=F64) for d in data))
    t_loss.backward()
    return (loss, [p.grad for p in compiled.params]), (t_loss.item(), theta.grad.tolist())


def test_moons_loss_lowered_to_pytorch_has_tapegrad_s_gradients():
    _, compiled = micrograd_demo()
    X, y = moons(100)
    (loss, grads), (t_loss, t_grads) = tapegrad_and_torch(compiled, X, y)
    assert same_float(t_loss, loss, 1e-12)
    assert_close(t_grads, grads, what='grads')
    assert sum(g != 0 for g in grads) > 300  # the check is not vacuous


def test_moons_loss_runs_as_a_few_batched_tensor_ops():
    _, compiled = micrograd_demo()
    X, y = moons(100)
    program = compiled.to_torch().program(torch.tensor(X), torch.tensor(y))
    matvecs = [step for step in program.steps if step.op == 'matvec']
    # one matrix product per layer, over all 100 samples
    assert [step.count for step in matvecs] == [100, 100, 100]
    assert [step.arg for step in matvecs] == [(16, 2), (16, 16), (1, 16)]
    assert len(program.steps) < 20  # against about 8,000 instructions on the tape
    # the sum over samples is one reduction, not a chain of 100 additions
    assert any(step.op == 'sum' and step.arg == 100 for step in program.steps)


def test_the_lowering_follows_new_shapes_of_data_and_pytorch_training():
    model, compiled = micrograd_demo()
    f = compiled.to_torch()
    for n in (100, 37):
        X, y = moons(n)
        (loss, grads), (t_loss, t_grads) = tapegrad_and_torch(compiled, X, y)
        assert same_float(t_loss, loss, 1e-12)
        assert_close(t_grads, grads, what=f'grads, {n} samples')
    # three SGD steps in PyTorch, three in tapegrad: the same parameters
    X, y = moons(50)
    theta = f.params_tensor()
    opt = torch.optim.SGD([theta], lr=0.5)
    Xt, yt = torch.tensor(X, dtype=F64), torch.tensor(y)  # labels: whole numbers, any dtype
    for _ in range(3):
        opt.zero_grad()
        f(theta, Xt, yt).backward()
        opt.step()
        model.zero_grad()
        compiled(X, y)
        for p in model.parameters():
            p.data -= 0.5 * p.grad
    assert_close(theta.tolist(), [p.data for p in model.parameters()], rel=1e-11)


def test_a_shared_weight_and_every_engine_op():
    """A user's loss where w appears in many places: a dot, a product, an exponent."""
    w, b, c = Value(0.7), Value(-0.3), Value(1.5)

    def loss_fn(xs, ys):
        total = 0.0
        for x, y in zip(xs, ys):
            h = (b + w * x).tanh()                      # fused to a dot over w
            pred = w * h + c * h ** 2 + (w * y).sigmoid() - (x * c).exp().log() / c
            total = total + (pred - y).relu() + (y - pred).relu() * 0.5 + c ** w
        return total / len(xs) + w ** 0.5 * 0.01

    compiled = tapegrad.compile(loss_fn, [w, b, c])
    xs = [0.5, -1.0, 2.0, 0.25, -0.75]
    ys = [1.0, 0.0, -1.0, 0.5, 2.0]
    (loss, grads), (t_loss, t_grads) = tapegrad_and_torch(compiled, xs, ys)
    assert same_float(t_loss, loss, 1e-12)
    assert_close(t_grads, grads, what='grads')
    # and the eager engine, for what the tape itself computes
    for p in (w, b, c):
        p.grad = 0.0
    eager = loss_fn(xs, ys)
    eager.backward()
    assert_close(t_grads, [w.grad, b.grad, c.grad], what='eager grads')
    ops = {ins.op for ins in compiled.tape(xs, ys).instructions}
    assert {'dot', '*', '+', '/', '**', '**k', 'exp', 'log', 'tanh', 'sigmoid', 'relu'} <= ops


def test_extra_outputs_of_the_loss_function_are_left_out():
    w = Value(2.0)
    compiled = tapegrad.compile(lambda xs: (sum(w * x for x in xs), [w * x for x in xs]), [w])
    f = compiled.to_torch()
    theta = f.params_tensor()
    loss = f(theta, [1.0, 2.0, 3.0])
    assert loss.item() == 12.0 and loss.shape == ()


def test_an_instruction_without_a_tensor_form_is_named(monkeypatch):
    from tapegrad import engine
    tape = Tape([Instruction('param', (0,), (), 0),
                 Instruction('wobble', (1,), (0,))], outputs=[1], backward_end=2)
    with pytest.raises(TapeError, match=r"`1  wobble\s+0` has no tensor form: 'wobble' is not "
                                        r"an op of the engine"):
        lower(tape, n_params=1, n_data=0)

    def wobble(self):  # an op of the engine's whose method tensors do not have
        return Value(self.data, (self,), 'wobble')

    def wobble_backward(out):
        out._prev[0].grad += out.grad

    monkeypatch.setattr(Value, 'wobble', wobble, raising=False)
    monkeypatch.setitem(engine.OPS, 'wobble', None)  # removed again after the test
    engine.primitive('wobble', wobble)(wobble_backward)
    monkeypatch.setitem(engine._BACKWARD, 'wobble', wobble_backward)
    with pytest.raises(TapeError, match=r"`1  wobble\s+0` has no tensor form: torch.Tensor "
                                        r"has no method 'wobble'"):
        lower(tape, n_params=1, n_data=0)


def test_params_must_be_one_tensor_of_all_parameters():
    _, compiled = micrograd_demo()
    f = compiled.to_torch()
    assert isinstance(f, TorchLoss)
    X, y = moons(10)
    with pytest.raises(TypeError, match=r"a tensor of the 337 parameters \(f.params_tensor\(\) "
                                        r"makes one\), got \(336,\)"):
        f(torch.zeros(336, dtype=F64), torch.tensor(X), torch.tensor(y))
    with pytest.raises(TypeError, match="got list"):
        f([0.0] * 337, torch.tensor(X), torch.tensor(y))
    with pytest.raises(TypeError, match=r"data argument 0 is torch.float32 and params are "
                                        r"torch.float64"):
        f(f.params_tensor(), torch.tensor(X), torch.tensor(y))
    # lists and numbers are read in the params' dtype
    assert f(f.params_tensor(), X, y).item() == f(f.params_tensor(), torch.tensor(X, dtype=F64),
                                                  torch.tensor(y)).item()


# ----------------------------------------------------------------------------------
# Without PyTorch, and the README


def test_import_tapegrad_does_not_import_torch():
    code = ("import sys, tapegrad, tapegrad.interop, tapegrad.tape\n"
            "assert 'torch' not in sys.modules, 'torch was imported'")
    subprocess.run([sys.executable, '-c', code], check=True)


def test_the_readme_section_runs():
    text = README.read_text(encoding='utf-8')
    section = text.split('\n## When you outgrow tapegrad\n')[1].split('\n## ')[0]
    blocks = re.findall(r'```python\n(.*?)```', section, re.S)
    assert len(blocks) == 2
    namespace = {}
    for block in blocks:
        exec(compile(block, 'README.md', 'exec'), namespace)
    assert isinstance(namespace['model'], MLP) and namespace['theta'].grad is not None
    assert same_float(namespace['loss'].item(), namespace['compiled'](namespace['X'],
                                                                      namespace['y']), 1e-12)
