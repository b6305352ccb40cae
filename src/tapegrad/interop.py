"""Outgrowing tapegrad: hand a model or a traced loss to PyTorch, and take a model back.

tapegrad stays small on purpose. When a model needs a GPU, a bigger network or another
framework's tools, this module converts:

- `to_torch(model)`: a Neuron, Layer or MLP as a `torch.nn.Sequential` of `Linear` layers
  and activation modules with the same weights; in float64 (the default) its outputs and
  gradients agree with tapegrad's to rounding;
- `from_torch(sequential)`: the reverse, for Linear layers and the activations tapegrad has;
- `to_onnx(model, path)`: the model as an ONNX file, written by `torch.onnx`;
- `TorchLoss`, what `tapegrad.compile(fn, params).to_torch()` returns: a compiled loss as
  a function over PyTorch tensors, its tape lowered to a few batched tensor operations.

The Sequential is laid out as `Module.named_parameters()` names it: each Linear followed
by its activation (Identity for 'linear' between layers, nothing after the last), so the
Linears sit at 0, 2, 4, ... and an MLP's `state_dict()` has exactly the twin's keys.

PyTorch is imported inside the functions: `import tapegrad` never needs it. Install it
with `pip install 'tapegrad[torch]'`.
"""

import itertools
import random
from dataclasses import dataclass
from pathlib import Path

from .nn import MLP, Module

# tapegrad's activation -> the torch.nn module that applies it
TORCH_ACTIVATIONS = {'tanh': 'Tanh', 'relu': 'ReLU', 'sigmoid': 'Sigmoid', 'linear': 'Identity'}


def _torch():
    try:
        import torch
    except ImportError:
        raise ImportError("tapegrad.interop needs PyTorch: pip install 'tapegrad[torch]' "
                          "(or any build of torch for your machine)") from None
    return torch


# ----------------------------------------------------------------------------------
# Models


def to_torch(model, dtype=None):
    """`model` (a Neuron, Layer or MLP) as a torch.nn.Sequential with the same weights.

    float64 by default, where outputs and gradients agree with tapegrad's to rounding;
    `dtype=torch.float32` (or the name 'float32') for PyTorch's usual precision: any
    floating-point torch dtype, or its name as torch spells it. The Sequential takes a batch of
    rows and gives one row of outputs per input row (one column for a single neuron).

        >>> import random
        >>> to_torch(MLP(2, [3, 1], act='relu', out_act='linear', rng=random.Random(0)))
        Sequential(
          (0): Linear(in_features=2, out_features=3, bias=True)
          (1): ReLU()
          (2): Linear(in_features=3, out_features=1, bias=True)
        )
    """
    torch = _torch()
    dtype = _float_dtype(torch, dtype, 'to_torch')
    layers = _linears(model)
    modules = []
    for i, (weight, bias, act) in enumerate(layers):
        # skip_init: no random weights (nor a draw from torch's generator); loaded below
        modules.append(torch.nn.utils.skip_init(torch.nn.Linear, len(weight[0]), len(weight),
                                                dtype=dtype))
        if act not in TORCH_ACTIVATIONS:
            raise ValueError(f"to_torch: layer {i} has the activation {act!r}, which has no "
                             f"PyTorch module here; known: {', '.join(TORCH_ACTIVATIONS)}")
        if act != 'linear' or i < len(layers) - 1:  # Identity keeps the Linears at 0, 2, 4
            modules.append(getattr(torch.nn, TORCH_ACTIVATIONS[act])())
    twin = torch.nn.Sequential(*modules)
    twin.load_state_dict(model.state_dict(as_tensors=True))
    return twin


def _float_dtype(torch, dtype, caller):
    """The torch dtype that `dtype` names: None is float64; a floating-point torch.dtype,
    or its name ('float32', 'torch.float32'), is itself."""
    if dtype is None:
        return torch.float64
    found = getattr(torch, dtype.removeprefix('torch.'), None) if isinstance(dtype, str) else dtype
    if isinstance(found, torch.dtype) and found.is_floating_point:
        return found
    error = ValueError if isinstance(dtype, (str, torch.dtype)) else TypeError
    raise error(f"{caller}: dtype must be a floating-point torch dtype such as torch.float64 "
                f"(the default) or torch.float32, or its name, 'float64' or 'float32'; got "
                f"{dtype!r}")


def _linears(model):
    if not isinstance(model, Module):
        raise TypeError(f"to_torch takes a tapegrad Neuron, Layer or MLP, got "
                        f"{type(model).__name__}: {model!r:.80}")
    try:
        return model.linears()
    except NotImplementedError:
        name = type(model).__name__
        raise TypeError(f"to_torch converts models made of layers (Neuron, Layer, MLP); {name} "
                        f"is a Module of its own: give {name} a linears() method listing its "
                        f"layers as (weight rows, bias, act), as MLP.linears does, or build its "
                        f"PyTorch twin yourself and load model.state_dict() into it (which "
                        f"needs {name}.named_parameters())") from None


def from_torch(module):
    """A torch.nn.Sequential of Linear layers and activations as an MLP with its weights.

    Each Linear (with a bias) may be followed by one of Tanh, ReLU, Sigmoid or Identity;
    none means 'linear'. The hidden layers share one activation (the MLP's `act`), the last
    may have another (`out_act`). Anything else is an error that names the layer.
    """
    torch = _torch()
    if not isinstance(module, torch.nn.Sequential):
        raise TypeError(f"from_torch takes a torch.nn.Sequential of Linear layers and "
                        f"activations, got {type(module).__name__}")
    activation_of = {name: act for act, name in TORCH_ACTIVATIONS.items()}
    layers = []  # [index, Linear, act]
    for index, child in enumerate(module):
        kind = type(child).__name__
        if isinstance(child, torch.nn.Linear):
            _check_linear(index, child, layers)
            layers.append([index, child, 'linear'])
        elif kind in activation_of and type(child) is getattr(torch.nn, kind):
            if not layers or layers[-1][0] != index - 1:
                raise ValueError(f"from_torch: layer {index} ({kind}) does not come right "
                                 f"after a Linear; tapegrad applies one activation after each")
            layers[-1][2] = activation_of[kind]
        else:
            raise TypeError(f"from_torch: layer {index} is a {kind}; tapegrad's MLP has Linear "
                            f"layers, each followed by one of "
                            f"{', '.join(activation_of)} or by nothing")
    if not layers:
        raise ValueError("from_torch: the Sequential has no Linear layer")
    hidden = {act for _, _, act in layers[:-1]}
    if len(hidden) > 1:
        found = ', '.join(f"layer {i}: {act}" for i, _, act in layers[:-1])
        raise ValueError(f"from_torch: an MLP's hidden layers share one activation; these "
                         f"differ ({found})")
    out_act = layers[-1][2]
    # a private generator: the weights drawn here are replaced, and the caller's
    # random sequence stays as it was
    model = MLP(layers[0][1].in_features, [linear.out_features for _, linear, _ in layers],
                act=hidden.pop() if hidden else out_act, out_act=out_act, rng=random.Random(0))
    model.load_state_dict({f'{2 * i}.{name}': getattr(linear, name)
                           for i, (_, linear, _) in enumerate(layers) for name in ('weight', 'bias')})
    return model


def _check_linear(index, linear, layers):
    if linear.bias is None:
        raise ValueError(f"from_torch: layer {index} is a Linear without a bias; every "
                         f"tapegrad neuron has one: build it with bias=True (a zero bias "
                         f"computes the same)")
    if layers and layers[-1][1].out_features != linear.in_features:
        raise ValueError(f"from_torch: layer {index} takes {linear.in_features} inputs, but "
                         f"the Linear before it (layer {layers[-1][0]}) gives "
                         f"{layers[-1][1].out_features}")


def to_onnx(model, path, dtype=None):
    """Write `model` as an ONNX file through torch.onnx and return its path.

    The graph maps 'input', a batch of rows of the model's inputs (any number of rows),
    to 'output', one row per input row. float64 by default, as to_torch; pass
    dtype=torch.float32 (or 'float32') for runtimes without double precision. Needs
    PyTorch 2.5 or later and the onnx and onnxscript packages.
    """
    torch = _torch()
    twin = to_torch(model, _float_dtype(torch, dtype, 'to_onnx')).eval()
    first = twin[0]
    # two rows: an example batch of one would be exported as a fixed size of one
    example = torch.zeros(2, first.in_features, dtype=first.weight.dtype)
    try:
        torch.onnx.export(twin, (example,), str(path), input_names=['input'],
                          output_names=['output'], verbose=False,
                          dynamic_shapes=({0: torch.export.Dim('batch')},))
    except ImportError as error:
        raise ImportError(f"to_onnx needs the onnx and onnxscript packages "
                          f"(pip install onnx onnxscript): {error}") from error
    return Path(path)


# ----------------------------------------------------------------------------------
# A compiled loss as a function over PyTorch tensors


class TorchLoss:
    """A compiled loss over PyTorch tensors: `loss = f(params, *data)`.

    What `tapegrad.compile(fn, params).to_torch()` returns. `params` is one tensor with
    the compiled function's parameters in their order (`f.params_tensor()` makes one from
    their current .data); `data` are tensors shaped like the data the compiled function
    takes, say X of shape (100, 2) and y of shape (100,). The loss is a 0-d tensor, and
    loss.backward() leaves in params.grad what the compiled function leaves in the
    parameters' .grad. It computes in the dtype and on the device of `params`.

    For each shape of the data the tape is lowered once (see `lower`) into a few batched
    tensor operations: a layer's matrix-vector products over every sample become one
    matrix product, the activations after them one call, a long sum one reduction.
    """

    def __init__(self, compiled):
        self.compiled = compiled
        self._programs = {}  # (shapes of the data, device) -> Program

    def params_tensor(self, dtype=None, device=None):
        """The parameters' current .data as a new leaf tensor that requires grad."""
        torch = _torch()
        return torch.tensor([p.data for p in self.compiled.params], dtype=dtype or torch.float64,
                            device=device, requires_grad=True)

    def program(self, *data, device=None):
        """The Program that calls with data shaped like `data` (tensors) run on `device`
        (by default the data's)."""
        device = device or (data[0].device if data else None)
        key = (tuple(tuple(d.shape) for d in data), device)
        if key not in self._programs:
            tape = self.compiled.tape(*(d.detach().cpu().tolist() for d in data))
            n_data = sum(d.numel() for d in data)
            self._programs[key] = lower(tape, len(self.compiled.params), n_data, device)
        return self._programs[key]

    def __call__(self, params, *data):
        torch = _torch()
        n = len(self.compiled.params)
        if not isinstance(params, torch.Tensor) or tuple(params.shape) != (n,):
            what = tuple(params.shape) if isinstance(params, torch.Tensor) else type(params).__name__
            raise TypeError(f"TorchLoss: params must be a tensor of the {n} parameters "
                            f"(f.params_tensor() makes one), got {what}")
        data = [_as_data(torch, i, d, params) for i, d in enumerate(data)]
        program = self.program(*data, device=params.device)
        chunks = [params, torch.cat([d.reshape(-1) for d in data] or [params[:0]]),
                  torch.tensor(program.consts, dtype=params.dtype, device=params.device)]
        for step in program.steps:
            chunks.append(_run(step, chunks))
        chunk, offset = program.loss
        return chunks[chunk][offset]


def _as_data(torch, i, data, params):
    """A data argument as a tensor in the dtype and on the device of `params`."""
    if not isinstance(data, torch.Tensor):
        return torch.tensor(data, dtype=params.dtype, device=params.device)
    if data.is_floating_point() and data.dtype != params.dtype:  # as Linear, refuse to round
        raise TypeError(f"TorchLoss: data argument {i} is {data.dtype} and params are "
                        f"{params.dtype}: give both one dtype, e.g. torch.tensor(X, dtype="
                        f"{params.dtype}) (from a list of floats torch.tensor makes float32)")
    return data.to(dtype=params.dtype, device=params.device)


@dataclass
class Step:
    """One batched tensor op: `op` over `operands`, each read from the chunks as
    (which chunks, positions in them end to end: a slice or an index tensor, shape)."""

    op: str
    arg: object
    operands: tuple
    count: int  # how many of the tape's instructions it does at once

    def __str__(self):
        detail = ''
        if self.op == 'matvec':
            detail = f"W {self.arg[0]}x{self.arg[1]}"
        elif self.op == 'sum':
            detail = f"{self.arg} terms + {self.operands[2][2][1]} products"
        elif self.arg is not None:
            detail = f"k={self.arg!r}"
        return f"{self.op:<8}{self.count:>6} at once   {detail}".rstrip()


@dataclass
class Program:
    """A tape as batched tensor ops over chunks of numbers: the params, the data (flat),
    the consts, then one chunk per step, its outputs. The loss is at (chunk, offset)."""

    consts: list
    steps: list
    loss: tuple

    def __str__(self):
        return '\n'.join(map(str, self.steps))


def lower(tape, n_params, n_data, device=None):
    """The Program of a tape's loss, for `n_params` parameters and `n_data` data numbers.

    Every instruction gets a level, one more than the highest of its operands' (leaves
    are level 0). Instructions of one level do not read each other, so those of the same
    kind run as one tensor op: the same engine op (and constant k), sums of the same
    length (see _sums), matvecs with the same weights (one matrix product over their x's).
    """
    torch = _torch()
    instructions = _sums(tape.instructions[:tape.backward_end], tape.outputs[0])
    leaves = [ins for ins in instructions if ins.op in ('param', 'input', 'const')]
    where, consts = {}, []  # where: slot -> (chunk, offset)
    for ins in leaves:
        if ins.op == 'const':
            consts.append(ins.arg)
        chunk = ('param', 'input', 'const').index(ins.op)
        where[ins.out[0]] = chunk, (len(consts) - 1 if ins.op == 'const' else ins.arg)
    level = dict.fromkeys(where, 0)
    groups = {}  # (level, kind...) -> instructions, in the tape's order
    for ins in instructions[len(leaves):]:
        at = 1 + max(level[s] for s in ins.args)
        level.update((s, at) for s in ins.out)
        groups.setdefault((at, *_kind(ins)), []).append(ins)
    sizes = [n_params, n_data, len(consts)]  # of the chunks
    steps = []
    for key in sorted(groups, key=lambda key: key[0]):  # by level; stable within one
        group = groups[key]
        steps.append(_step(torch, group, where, sizes, device))
        outputs = [s for ins in group for s in ins.out]
        where.update((s, (len(sizes), offset)) for offset, s in enumerate(outputs))
        sizes.append(len(outputs))
    return Program(consts, steps, where[tape.outputs[0]])


def _kind(ins):
    """What instructions must share to run as one tensor op (besides their level)."""
    if ins.op == 'matvec':
        n = ins.arg[1]
        return ins.op, ins.arg, ins.args[n:]  # the same W and b: one matrix product
    return ins.op, ins.arg, len(ins.args)


def _step(torch, group, where, sizes, device):
    """The Step that does the instructions of `group` (all of one kind) at once."""
    first = group[0]
    if first.op == 'matvec':
        m, n = first.arg
        x = [ins.args[:n] for ins in group]  # one row per instruction
        W = [first.args[n + j * n:n + (j + 1) * n] for j in range(m)]
        b = first.args[n + m * n:]
        operands = (x, W, b)
    elif first.op == 'sum':  # (base, t0, t1, ..., a0, x0, a1, x1, ...), arg: how many t's
        k = first.arg
        operands = ([ins.args[0] for ins in group], [ins.args[1:1 + k] for ins in group],
                    [ins.args[1 + k::2] for ins in group], [ins.args[2 + k::2] for ins in group])
    else:
        _check_tensor_form(torch, first)
        operands = tuple([ins.args[i] for ins in group] for i in range(len(first.args)))
    return Step(first.op, first.arg,
                tuple(_operand(torch, slots, where, sizes, device) for slots in operands),
                len(group))


def _operand(torch, slots, where, sizes, device):
    """Where to read `slots` (nested lists): (the chunks they lie in, their positions in
    those chunks end to end, the shape). Positions that run on are a slice: no copy."""
    slots = torch.tensor(slots, dtype=torch.long)
    places = [where[s] for s in slots.reshape(-1).tolist()]
    chunks = sorted({chunk for chunk, _ in places}) or [0]  # none: an empty slice of any
    start = dict(zip(chunks, itertools.accumulate([sizes[c] for c in chunks], initial=0)))
    positions = [start[chunk] + offset for chunk, offset in places]
    first = positions[0] if positions else 0
    if positions == list(range(first, first + len(positions))):
        at = slice(first, first + len(positions))
    else:
        at = torch.tensor(positions, dtype=torch.long, device=device)
    return tuple(chunks), at, tuple(slots.shape)


def _run(step, chunks):
    """A Step's outputs, one tensor op (or two) for the whole group."""
    operands = []
    for which, at, shape in step.operands:
        source = chunks[which[0]] if len(which) == 1 else _torch().cat([chunks[c] for c in which])
        part = source[at] if isinstance(at, slice) else source.index_select(0, at)
        operands.append(part.reshape(shape))
    if step.op == 'matvec':
        x, W, b = operands
        return (x @ W.T + b).reshape(-1)
    if step.op == 'sum':
        total, terms, a, x = operands
        if terms.shape[1]:
            total = total + terms.sum(dim=1)
        if a.shape[1]:
            total = total + (a * x).sum(dim=1)
        return total
    return _call(step.op, operands, step.arg)


def _call(op, operands, arg):
    """The engine's op `op` applied to tensors, as it is applied to Values: engine.OPS
    says how (an operator, or the method of the same name, which tensors have too)."""
    from .engine import OPS
    declared = OPS[op]
    return declared.call(*operands, *([arg] if declared.takes_number else []))


def _check_tensor_form(torch, ins):
    """Raise TapeError unless `ins` is an engine op that _call can apply to tensors."""
    from .tape import TapeError
    from .engine import OPS
    reason = None
    if len(ins.out) != 1:
        reason = f"it writes {len(ins.out)} slots"
    elif ins.op not in OPS:
        reason = f"{ins.op!r} is not an op of the engine"
    elif not OPS[ins.op].method.startswith('__') and not hasattr(torch.Tensor, OPS[ins.op].method):
        reason = f"torch.Tensor has no method {OPS[ins.op].method!r}"
    if reason is None:
        try:
            _call(ins.op, [torch.ones(1, dtype=torch.float64)] * len(ins.args), ins.arg)
        except (TypeError, ValueError, RuntimeError) as error:
            reason = str(error)
    if reason is not None:
        raise TapeError(f"the instruction `{str(ins).strip()}` has no tensor form: {reason}. "
                        f"TorchLoss lowers the engine's ops, 'dot' and 'matvec'")


def _sums(instructions, loss):
    """Additions and dots as one kind: ('sum', base, t0, t1, ..., a0, x0, a1, x1, ...) with
    arg the number of t's, which is base + t0 + t1 + ... + a0*x0 + a1*x1 + ...

    A chain of them, each adding to the one before, whose partial sums nothing else reads,
    becomes one sum: `sum()` over samples makes such a chain, one link per sample. Adding
    the terms as one reduction rounds the total differently from adding them one by one,
    by about a unit in its last place; the gradients are the same numbers.
    """
    from .tape.passes import ADD
    reads = {}
    for ins in instructions:
        for s in ins.args:
            reads[s] = reads.get(s, 0) + 1
    fused, made_at = [], {}  # made_at: the slot of a sum -> its index in fused
    for ins in instructions:
        if ins.op not in (ADD, 'dot'):  # the tape's two ways of adding up
            fused.append(ins)
            continue
        base, terms, pairs = ins.args[0], (), ()
        if ins.op == ADD:
            terms = ins.args[1:]
        else:
            pairs = ins.args[1:]
        j = made_at.pop(base, None)
        if j is not None and reads[base] == 1 and base != loss:  # extend that sum
            earlier, fused[j] = fused[j], None
            k = earlier.arg
            base, terms, pairs = (earlier.args[0], earlier.args[1:1 + k] + terms,
                                  earlier.args[1 + k:] + pairs)
        made_at[ins.out[0]] = len(fused)
        fused.append(type(ins)('sum', ins.out, (base, *terms, *pairs), len(terms)))
    return [ins for ins in fused if ins is not None]
