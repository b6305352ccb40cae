"""One neuron's computation graph for one input: every Value with its data and grad, laid out.

The graph is the eager engine's own: the model (a copy, so that training's gradients are
untouched) runs on the chosen input, `backward()` fills every grad, and the part of the
graph that one neuron computes (its weights, bias, inputs, products, sums and activation)
is cut out and placed in columns, output on the right, as the course draws it. The page
then replays the backward pass over it one Value at a time, in reverse topological order.
"""

import ast
import copy
import functools
import inspect
import textwrap

from ..engine import OPS, Value
from ..train import LOSSES
from .frames import finite

WRT = ('neuron', 'loss')
COLUMN, ROW = 150, 56  # pixels between columns and rows of the drawing


class GraphError(ValueError):
    """A neuron or sample that the model or the data does not have."""


def _index(what, value, size):
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < size:
        raise GraphError(f"{what} must be a whole number from 0 to {size - 1}, got {value!r}")
    return value


def _subgraph(root, cut):
    """The Values from `root` back to the inputs in `cut`, each after its inputs."""
    order, seen, stack = [], {id(root)}, [(root, iter(root._prev if id(root) not in cut else ()))]
    while stack:
        v, children = stack[-1]
        for child in children:
            if id(child) not in seen:
                seen.add(id(child))
                stack.append((child, iter(() if id(child) in cut else child._prev)))
                break
        else:
            stack.pop()
            order.append(v)
    return order


def neuron_graph(model, X, targets, loss, layer, neuron, sample, wrt='neuron'):
    """The graph of model.layers[layer].neurons[neuron] on X[sample], as plain data.

    wrt='neuron': every grad is d(neuron's output)/d(value), as when you call backward()
    on the neuron's output; wrt='loss': d(loss on this one sample)/d(value), what training
    uses, flowing back through the layers after this one.
    """
    layer = _index('layer', layer, len(model.layers))
    neuron = _index('neuron', neuron, len(model.layers[layer].neurons))
    sample = _index('sample', sample, len(X))
    if wrt not in WRT:
        raise GraphError(f"wrt must be 'neuron' or 'loss', got {wrt!r}")

    inputs = [Value(x, label=f'x{i + 1}') for i, x in enumerate(X[sample])]
    cut = root = None
    for li, lay in enumerate(model.layers):
        outputs = [n(inputs) for n in lay.neurons]
        last = li == len(model.layers) - 1
        for j, out in enumerate(outputs):
            out.label = ('out' if len(outputs) == 1 else f'out{j + 1}') if last else f'h{li + 1}.{j + 1}'
        if li == layer:
            cut, root = inputs, outputs[neuron]
        inputs = outputs
    if wrt == 'loss':
        prediction = inputs[0] if len(inputs) == 1 else inputs
        LOSSES[loss]([prediction], [targets[sample]]).backward()
    else:
        root.backward()

    order = _subgraph(root, {id(v) for v in cut})
    names = _names(order, root)
    nodes = _layout(order, root, names, {id(v) for v in cut})
    what = 'layer' if layer < len(model.layers) - 1 else 'output layer'
    return {
        'title': f"{what} {layer + 1}, neuron {neuron + 1}, on sample {sample} "
                 f"({', '.join(f'{x:.3g}' for x in X[sample])})",
        'layer': layer, 'neuron': neuron, 'sample': sample, 'wrt': wrt,
        'root_note': (f"{names[id(root)]}.grad = 1: backward() starts at the output, whose "
                      f"gradient with respect to itself is 1" if wrt == 'neuron' else
                      f"{names[id(root)]}.grad = {root.grad:.4g}: what the layers after this "
                      f"neuron and the {loss} loss on this sample pass back to it"),
        'nodes': nodes,
        'width': max(n['x'] for n in nodes) + COLUMN, 'height': max(n['y'] for n in nodes) + ROW,
    }


def _names(order, root):
    """A short name for each Value: its label, w1·x1 for a product of two labelled ones, s1,
    s2, ... for the partial sums."""
    names, sums = {}, 0
    for v in order:
        if v.label:
            names[id(v)] = v.label
        elif v._op == '*' and all(names.get(id(c)) for c in v._prev):
            names[id(v)] = '·'.join(names[id(c)] for c in v._prev)
        elif v._op == '+':
            sums += 1
            names[id(v)] = f's{sums}'
        else:
            names[id(v)] = f'{v._op or "v"}{len(names)}'
    return names


def _explain(v, names):
    """How v passes its grad back to each input, as the line of its rule in engine.py that
    does it, with the graph's names, then with the numbers:
    `s3.grad += h1.1.grad * (1.0 - h1.1.data * h1.1.data) = 1 * (1.0 - 0.42 * 0.42)`."""
    lines = []
    for k, child in enumerate(v._prev):
        rule = _rule(OPS[v._op].rule).get(k)
        c = names[id(child)]
        if rule is None:  # (the engine's source is not there to read)
            lines.append(f"{c}.grad += ∂{names[id(v)]}/∂{c} × {names[id(v)]}.grad")
            continue
        expression, inputs, arg = rule
        nodes = dict(zip(inputs, v._prev), out=v)
        says = (_Say({n: names[id(node)] for n, node in nodes.items()}, arg, v._arg),
                _Say(nodes, arg, v._arg))
        said, numbers = (ast.unparse(say.visit(copy.deepcopy(expression))) for say in says)
        lines.append(f"{c}.grad += {said} = {numbers}")
    return lines


@functools.cache
def _rule(rule):
    """An op's backward rule, read from its source (in engine.py): for each input's place,
    the expression its rule adds into that input's .grad, and the rule's names for the
    inputs in order, and its name for the number the op takes. {} if the source cannot be
    read."""
    try:
        source = textwrap.dedent(inspect.getsource(rule))
    except (OSError, TypeError):
        return {}
    places, lines, inputs = {'_a': 0, '_b': 1, '_arg': 'arg'}, {}, {}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Assign):  # a, b = out._a, out._b; x = out._a; ...
            targets = node.targets[0].elts if isinstance(node.targets[0], ast.Tuple) else node.targets
            values = node.value.elts if isinstance(node.value, ast.Tuple) else [node.value]
            if isinstance(node.value, ast.Attribute) and node.value.attr == '_prev':
                inputs.update((name.id, k) for k, name in enumerate(targets))  # (x,) = out._prev
            for name, value in zip(targets, values):
                if isinstance(value, ast.Attribute) and value.attr in places:
                    inputs[name.id] = places[value.attr]
        elif (isinstance(node, ast.AugAssign) and isinstance(node.op, ast.Add)
              and isinstance(node.target, ast.Attribute) and node.target.attr == 'grad'):
            lines[node.target.value.id] = node.value  # x.grad += ...
    arg = next((n for n, place in inputs.items() if place == 'arg'), None)
    names = sorted((n for n in inputs if n != arg), key=inputs.get)
    return {inputs[n]: (lines[n], names, arg) for n in lines if n in inputs}


class _Say(ast.NodeTransformer):
    """A rule's expression with its Values' names (`out`, `x`, ...) replaced: by the graph's
    names (given strings) or by their numbers (given Values); `ieee.div(a, b)` as a / b,
    the other `ieee.f` as f."""

    def __init__(self, values, arg, number):
        self.values, self.arg, self.number = values, arg, number

    def visit_Attribute(self, node):
        if isinstance(node.value, ast.Name) and node.value.id in self.values:
            value = self.values[node.value.id]
            if isinstance(value, str):
                return ast.Name(f'{value}.{node.attr}')
            number = getattr(value, node.attr)
            return ast.Name(f'{number:.4g}' if number >= 0 else f'({number:.4g})')
        if isinstance(node.value, ast.Name) and node.value.id == 'ieee':
            return ast.Name(node.attr.replace('pow_number', 'pow'))
        return self.generic_visit(node)

    def visit_Name(self, node):  # the number the op takes (the k of x ** k)
        return ast.Name(f'{self.number:g}') if node.id == self.arg else node

    def visit_Call(self, node):
        node = self.generic_visit(node)
        if isinstance(node.func, ast.Name) and node.func.id == 'div' and len(node.args) == 2:
            return ast.BinOp(node.args[0], ast.Div(), node.args[1])
        return node


def _kind(v, cut_ids):
    if id(v) in cut_ids:
        return 'input'
    if not v._prev:
        return 'bias' if v.label == 'b' else 'weight'
    return 'op'


def _layout(order, root, names, cut_ids):
    """Columns by distance from the output (on the right). Each Value's first input sits
    level with it and the next ones below, where their column leaves room: a neuron's chain
    of sums runs along the top, each product and its two factors under it."""
    depth = {id(root): 0}
    for v in reversed(order):
        for child in v._prev if id(v) not in cut_ids else ():
            depth[id(child)] = max(depth.get(id(child), 0), depth[id(v)] + 1)
    deepest = max(depth.values())
    row, free = {}, {}  # free[column]: the first row of that column not yet taken
    stack = [(root, 0)]  # depth first from the output, each input as high as room allows
    while stack:
        v, wanted = stack.pop()
        if id(v) in row:
            continue
        column = depth[id(v)]
        row[id(v)] = max(wanted, free.get(column, 0))
        free[column] = row[id(v)] + 1
        children = [] if id(v) in cut_ids else list(v._prev)
        stack.extend((c, row[id(v)] + i) for i, c in reversed(list(enumerate(children))))

    index = {id(v): i for i, v in enumerate(order)}
    position = {id(v): k for k, v in enumerate(reversed(order))}  # when backward visits it
    nodes = []
    for v in order:
        children = [] if id(v) in cut_ids else [index[id(c)] for c in v._prev]
        data, grad = finite([v.data, v.grad])
        nodes.append({
            'id': index[id(v)], 'name': names[id(v)], 'op': v._op, 'kind': _kind(v, cut_ids),
            'data': data, 'grad': grad, 'children': children, 'visit': position[id(v)],
            'x': (deepest - depth[id(v)]) * COLUMN + 8, 'y': row[id(v)] * ROW + 8,
            'explain': [] if id(v) in cut_ids else _explain(v, names),
        })
    return nodes


