"""Random expression programs for differential testing: plain data, read three ways.

A program is a list of instructions over numbered nodes. Nodes 0 .. n-1 are the n leaves;
instruction i makes node n + i, and the last node is the output. An instruction is a tuple
`(op, *operands)` where each operand is an int (a node number) or a float (a constant):

    [('*', 0, 2.0), ('exp', 2), ('-', 3.0, 3), ('sum', 1, 3, 4)]

means v2 = v0 * 2.0; v3 = v2.exp(); v4 = 3.0 - v3; v5 = sum([v1, v3, v4]). Since tapegrad
Values and torch tensors share their operators and method names, one interpreter, `run`,
evaluates a program on either; `to_code` prints it as a Python script that runs both.

`programs()` is the hypothesis strategy; `build_with_values` is what a test of another
engine (the tape) uses to get the eager graph of a program.
"""

import math
import operator

from hypothesis import strategies as st

from tapegrad import Value

BINARY = {'+': operator.add, '-': operator.sub, '*': operator.mul,
          '/': operator.truediv, '**': operator.pow}
UNARY = {'neg': operator.neg,
         'exp': lambda x: x.exp(), 'log': lambda x: x.log(), 'tanh': lambda x: x.tanh(),
         'sigmoid': lambda x: x.sigmoid(), 'relu': lambda x: x.relu()}
OPS = {**BINARY, **UNARY, 'sum': lambda *xs: sum(xs)}
# a neuron's sum, b + w0*x0 + w1*x1 + ..., as nn.Neuron writes it (networks() only)
NEURON = {'neuron': lambda b, *pairs: sum((w * x for w, x in zip(pairs[::2], pairs[1::2])), b)}


def run(program, leaves, ops={**OPS, **NEURON}):
    """The output of `program` with nodes 0 .. n-1 taken from `leaves` (Values or tensors).

    `ops` maps each op name to the function that performs it.
    """
    nodes = list(leaves)
    for op, *operands in program:
        args = [nodes[a] if isinstance(a, int) else a for a in operands]
        nodes.append(ops[op](*args))
    return nodes[-1]


def build_with_values(program, leaf_values):
    """The eager graph of `program`: (output Value, the leaf Values), backward not yet run."""
    leaves = [Value(x) for x in leaf_values]
    return run(program, leaves), leaves


def eager_result(program, leaf_values):
    """[output value, d output / d leaf for each leaf] from tapegrad's eager engine."""
    out, leaves = build_with_values(program, leaf_values)
    out.backward()
    return [out.data] + [leaf.grad for leaf in leaves]


# ----------------------------------------------------------------------------------
# Printing a program as code


def _literal(x):
    """A float as Python source; negatives in parentheses so `(-2.0) ** v1` parses as meant."""
    text = repr(x) if math.isfinite(x) else f"float('{x}')"
    return f"({text})" if text.startswith('-') else text


def _expression(op, operands):
    names = [f"v{a}" if isinstance(a, int) else _literal(a) for a in operands]
    if op in BINARY:
        return f"{names[0]} {op} {names[1]}"
    if op == 'neg':
        return f"-{names[0]}"
    if op == 'sum':
        return f"sum([{', '.join(names)}])"
    if op == 'neuron':
        terms = ', '.join(f"{w} * {x}" for w, x in zip(names[1::2], names[2::2]))
        return f"sum([{terms}], {names[0]})"
    return f"{names[0]}.{op}()"


RUN_ON_BOTH = """
xs = [{}]
for make in (Value, lambda x: torch.tensor(x, dtype=torch.float64, requires_grad=True)):
    leaves = [make(x) for x in xs]
    out = f(*leaves)
    out.backward()
    print(float(out.data), [0.0 if leaf.grad is None else float(leaf.grad) for leaf in leaves])"""


def to_code(program, leaf_values):
    """A Python script that runs `program` on tapegrad and on PyTorch and prints both."""
    n = len(leaf_values)
    lines = ["import torch",
             "from tapegrad import Value",
             "",
             f"def f({', '.join(f'v{i}' for i in range(n))}):"]
    for i, (op, *operands) in enumerate(program):
        lines.append(f"    v{n + i} = {_expression(op, operands)}")
    lines.append(f"    return v{n + len(program) - 1}")
    lines.append(RUN_ON_BOTH.format(', '.join(_literal(x) for x in leaf_values)))
    return '\n'.join(lines)


# ----------------------------------------------------------------------------------
# The hypothesis strategy

# Values where ops change regime: zeros of both signs, the ends of exp's range, the
# smallest and largest magnitudes, infinities and nan.
EDGE_VALUES = [0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 2.0, 1e-300, -1e-300, 1e300, -1e300,
               709.0, 710.0, -745.0, 1000.0, -1000.0, math.inf, -math.inf, math.nan]
CONSTANTS = [0.0, -0.0, 1.0, -1.0, 2.0, 0.5, -0.5, 3.0, -2.5, 1e-3, 100.0]
EXPONENTS = [0.0, 1.0, 2.0, 3.0, -1.0, -2.0, 0.5, -0.5, 1.5, -1.5, 2.5, 0.25]

ordinary = st.floats(-4.0, 4.0)


def _mostly(common, rare):
    """`common` three times in four, `rare` otherwise (one_of picks its branches evenly)."""
    return st.one_of(common, common, common, rare)


leaf_values = _mostly(ordinary, st.sampled_from(EDGE_VALUES) | st.floats())
constants = _mostly(ordinary, st.sampled_from(CONSTANTS))
exponents = _mostly(st.sampled_from(EXPONENTS), st.floats(-3.0, 3.0))

chain_or_reuse = st.integers(0, 3)  # 0, 1, 2: the newest node; 3: any node
node_number = st.integers(0, 1 << 16)
shapes = st.sampled_from(['node op node', 'node op constant', 'constant op node'])
op_names = st.sampled_from(list(OPS))


@st.composite
def programs(draw, max_leaves=4, min_steps=1, max_steps=30, max_sum=12):
    """(program, leaf values): a random program over every op, and a value for each leaf.

    Each instruction's first operand is the newest node three times in four, which makes
    deep chains; other operands are any node, which reuses intermediates and leaves. 'sum'
    adds up to `max_sum` nodes, which makes wide sums. Instructions the output does not
    depend on are left out. Shrinking heads for short programs, fewer leaves, 0.0 and chains.
    """
    n_leaves = draw(st.integers(1, max_leaves))
    values = [draw(leaf_values) for _ in range(n_leaves)]
    program = []

    def any_node():
        return draw(node_number) % (n_leaves + len(program))

    def mostly_newest():
        return n_leaves + len(program) - 1 if draw(chain_or_reuse) < 3 else any_node()

    for _ in range(draw(st.integers(min_steps, max_steps))):
        op = draw(op_names)
        if op in UNARY:
            program.append((op, mostly_newest()))
        elif op == 'sum':
            n_terms = draw(st.integers(2, max_sum))
            program.append((op, mostly_newest(), *[any_node() for _ in range(n_terms - 1)]))
        else:
            right = exponents if op == '**' else constants
            shape = draw(shapes)
            if shape == 'node op node':
                program.append((op, mostly_newest(), any_node()))
            elif shape == 'node op constant':
                program.append((op, mostly_newest(), draw(right)))
            else:
                program.append((op, draw(constants), mostly_newest()))
    return without_dead_code(program, n_leaves), values


def without_dead_code(program, n_leaves):
    """`program` without the instructions its output does not depend on, nodes renumbered.

    Dead code adds nothing to a comparison, and leaving it out makes failures short to read.
    """
    output = n_leaves + len(program) - 1
    needed = {output}
    for node in range(output, n_leaves - 1, -1):
        if node in needed:
            needed.update(a for a in program[node - n_leaves][1:] if isinstance(a, int))
    renumbered = {leaf: leaf for leaf in range(n_leaves)}  # old node number -> new one
    kept = []
    for node, (op, *operands) in enumerate(program, start=n_leaves):
        if node in needed:
            renumbered[node] = n_leaves + len(kept)
            kept.append((op, *[renumbered[a] if isinstance(a, int) else a for a in operands]))
    return kept


# ----------------------------------------------------------------------------------
# Networks: layers of neurons whose parameters are tied


@st.composite
def networks(draw, max_params=6, max_inputs=3, max_layers=3, max_width=4):
    """(program, leaf values, number of parameters): layers of neurons over data inputs.

    Leaves 0 .. P-1 are the parameters, the rest the data. Each neuron's bias and weights
    are parameters drawn with replacement (so one parameter is often a bias and a weight,
    or the weight of several neurons) or, now and then, constants; an input is now and
    then a constant too, and weight and input come in either order. The output adds up
    the last layer, sometimes with a parameter-only term such as an L2 penalty. These are
    the graphs the tape's passes turn into dots and matvecs.
    """
    n_params = draw(st.integers(1, max_params))
    n_inputs = draw(st.integers(1, max_inputs))
    n_leaves = n_params + n_inputs
    values = [draw(_mostly(ordinary, st.sampled_from(CONSTANTS))) for _ in range(n_leaves)]
    program = []

    def parameter_or_constant():
        return draw(st.integers(0, n_params - 1)) if draw(st.integers(0, 5)) else draw(constants)

    xs = list(range(n_params, n_leaves))
    for width in draw(st.lists(st.integers(1, max_width), min_size=1, max_size=max_layers)):
        outputs = []
        for _ in range(width):
            terms = []
            for i, x in enumerate(xs):  # the first weight a parameter: the sum is a Value
                w = parameter_or_constant() if i else draw(st.integers(0, n_params - 1))
                x = x if draw(st.integers(0, 5)) else draw(constants)
                terms += [w, x] if draw(st.integers(0, 5)) else [x, w]
            program.append(('neuron', parameter_or_constant(), *terms))
            activation = draw(st.sampled_from(['tanh', 'relu', 'sigmoid', 'exp', None]))
            if activation:
                program.append((activation, n_leaves + len(program) - 1))
            outputs.append(n_leaves + len(program) - 1)
        xs = outputs
    if draw(st.booleans()):
        p = draw(st.integers(0, n_params - 1))
        program.append(('*', p, p))
        xs = xs + [n_leaves + len(program) - 1]
    program.append(('sum', *xs))
    return program, values, n_params
