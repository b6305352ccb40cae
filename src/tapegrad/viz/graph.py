"""The computation graph behind a Value: as a graphviz drawing (draw_dot) or as text (dump_graph).

A drawing has one box per Value (its label if any, its data, its grad) and one small oval
per operation, with edges input -> operation -> output: what the seeds' `draw_dot` shows.
"""

import math
import re

from ..engine import OPS, Value, topological_order
from ._common import finish, largest_finite, require, short

RANKDIRS = ('LR', 'TB', 'RL', 'BT')

# ColorBrewer's 5-class "Blues": light for small |grad|, dark for large; white text on the
# two darkest.
GRAD_COLORS = ('#eff3ff', '#bdd7e7', '#6baed6', '#3182bd', '#08519c')
WHITE_TEXT_FROM = 3
NOT_A_NUMBER_COLOR = '#d9d9d9'


def draw_dot(root, rankdir='LR', color_by_grad=False, max_nodes=500, path=None, format=None,
             return_path=False):
    """Draw the graph that computed `root` and return it as a `graphviz.Digraph`.

    rankdir: 'LR' draws inputs on the left and `root` on the right; 'TB' top to bottom.
    color_by_grad: fill each box by its |grad| as a share of the largest |grad| of the
        values below `root` (whose own grad is always 1), with the scale in a caption:
        which values does the output depend on most?
    max_nodes: refuse graphs of more Values than this; a drawing that large is unreadable.
    path: also draw into this file, SVG or PNG by its suffix (or by `format`).
    return_path: return the path written rather than the graph; without graphviz's `dot`
        program that is the `.dot` source file written in its place.

    In a notebook the returned Digraph displays itself.
    """
    graphviz = require('graphviz')
    _check_is_value('draw_dot', root)
    if rankdir not in RANKDIRS:
        raise ValueError(f"draw_dot: rankdir must be one of {', '.join(RANKDIRS)}, got {rankdir!r}")
    if count_values(root, stop_after=max_nodes) > max_nodes:
        raise ValueError(
            f"draw_dot: the graph behind this Value has {len(topological_order(root))} values, "
            f"more than max_nodes={max_nodes}, and a drawing that large is unreadable. "
            f"For a model, draw its network instead: tapegrad.viz.draw_network(model); for a "
            f"closer look, draw a smaller part (one neuron's output); or pass a larger max_nodes.")

    order = topological_order(root)
    # the root's own grad is 1 by definition: the scale is set by the values below it
    largest_grad = (largest_finite(v.grad for v in order if v is not root)
                    or largest_finite([root.grad]))
    graph = graphviz.Digraph(
        graph_attr={'rankdir': rankdir, 'nodesep': '0.15', 'ranksep': '0.3',
                    'fontname': 'Helvetica', 'fontsize': '11'},
        node_attr={'fontname': 'Helvetica', 'fontsize': '11'},
        edge_attr={'arrowsize': '0.6', 'color': '#555555'})
    name = {v: f"v{i}" for i, v in enumerate(order)}  # the same names at every drawing
    for v in order:
        node = name[v]
        style = grad_fill(v.grad, largest_grad) if color_by_grad else {}
        if v is root:
            style['penwidth'] = '2'
        graph.node(node, label=_value_label(v, rankdir), shape='record', **style)
        if v._prev:
            graph.node(node + 'op', label=op_name(v), shape='ellipse', style='filled',
                       fillcolor='#f2f2f2', color='#999999', margin='0.04,0.02',
                       height='0.3', fontsize='10')
            graph.edge(node + 'op', node)
            for child in v._prev:
                graph.edge(name[child], node + 'op')
    if color_by_grad:
        graph.attr(label=_grad_legend(largest_grad), labelloc='b', labeljust='c')
    return finish(graph, path, format, return_path)


def dump_graph(root):
    """The graph behind `root` as text, one line per Value, each after its inputs.

    Each Value is named by its position in that order and its label (`#3 c`), then come its
    op, data, grad and parents (its inputs), as in the exercise notebook's `dump_graph`:

    >>> from tapegrad import Value
    >>> a, b = Value(2.0, label='a'), Value(-3.0, label='b')
    >>> c = a * b; c.label = 'c'
    >>> c.backward()
    >>> print(dump_graph(c))
    #0 a: op='', data=2.0, grad=-3.0, parents=[]
    #1 b: op='', data=-3.0, grad=2.0, parents=[]
    #2 c: op='*', data=-6.0, grad=1.0, parents=[#0 a, #1 b]
    """
    _check_is_value('dump_graph', root)
    order = topological_order(root)
    names = {v: f"#{i} {v.label}".rstrip() for i, v in enumerate(order)}
    return '\n'.join(
        f"{names[v]}: op={op_name(v)!r}, data={v.data!r}, grad={v.grad!r}, "
        f"parents=[{', '.join(names[child] for child in v._prev)}]"
        for v in order)


def count_values(root, stop_after):
    """How many Values the graph behind `root` holds, counting no further than stop_after + 1.

    Cheap even for a graph of a million values, so callers can refuse big graphs early.
    """
    seen, stack = {root}, [root]
    while stack and len(seen) <= stop_after:
        for child in stack.pop()._prev:
            if child not in seen:
                seen.add(child)
                stack.append(child)
    return len(seen)


def op_name(v):
    """The op that made `v` as code writes it: '+', 'tanh', '**2' (its exponent shown)."""
    op = OPS.get(v._op)
    if op is not None and op.takes_number:
        k = v._arg
        return op.shown(int(k) if k.is_integer() else short(k)).replace(' ', '')
    return v._op


def escape_record(text):
    """`text` with the characters that graphviz record labels treat specially escaped."""
    return re.sub(r'([\\{}|<>"])', r'\\\1', text)


def grad_fill(grad, largest_grad):
    """Graphviz node attributes that fill a box by |grad| / largest_grad, in 5 steps."""
    if math.isnan(grad):
        return {'style': 'filled', 'fillcolor': NOT_A_NUMBER_COLOR}
    if largest_grad == 0:
        share = 0.0
    elif math.isinf(grad):
        share = 1.0
    else:
        share = abs(grad) / largest_grad  # past 1 for the root, which largest_grad leaves out
    step = min(int(share * len(GRAD_COLORS)), len(GRAD_COLORS) - 1)
    style = {'style': 'filled', 'fillcolor': GRAD_COLORS[step]}
    if step >= WHITE_TEXT_FROM:
        style['fontcolor'] = 'white'
    return style


def _value_label(v, rankdir):
    fields = [f"data {short(v.data)}", f"grad {short(v.grad)}"]
    if v.label:
        fields.insert(0, escape_record(v.label))
    # A record's fields run across the rank direction, and braces turn them: so both forms
    # stack label, data and grad top to bottom, which keeps a left-to-right graph narrow.
    row = ' | '.join(fields)
    return row if rankdir in ('LR', 'RL') else '{ ' + row + ' }'


def _grad_legend(largest_grad):
    if largest_grad == 0:
        return 'every grad is 0: call backward() on the output first'
    steps = len(GRAD_COLORS)
    cells = ''.join(
        f'<td bgcolor="{color}"><font color="{"white" if i >= WHITE_TEXT_FROM else "black"}">'
        f'{100 * i // steps}-{100 * (i + 1) // steps}%</font></td>'
        for i, color in enumerate(GRAD_COLORS))
    return (f'<<table border="0" cellspacing="0" cellpadding="3"><tr>'
            f'<td colspan="{steps}">fill: |grad| as a share of the largest below the output, '
            f'{short(largest_grad)}</td></tr><tr>{cells}</tr></table>>')


def _check_is_value(caller, root):
    if not isinstance(root, Value):
        raise TypeError(f"{caller} takes one Value (the output of a computation), got "
                        f"{type(root).__name__}: {root!r:.80}; for a whole model use "
                        f"tapegrad.viz.draw_network(model)")
