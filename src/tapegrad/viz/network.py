"""A diagram of a network's neurons and weights: the Day 4 page's "Exhibit B".

Where `draw_dot` of a model's output has a node for every multiplication (thousands for a
batch), this draws one node per input and per neuron and one line per weight, so the whole
model stays readable: the colour of a line is the sign of its weight (or of the weight's
gradient), its thickness and strength the size.
"""

import math

from ._common import finish, largest_finite, layers_of, require, short

POSITIVE, NEGATIVE, UNDEFINED = '#2166ac', '#b2182b', '#999999'  # blue, red, grey for nan
SHOWS = ('weights', 'grads')
ROW_GAP = 0.75  # inches between the neurons of a layer


def draw_network(model, path=None, show='weights', format=None, return_path=False):
    """Draw an MLP (or a Layer or a Neuron) as inputs, neurons and one line per weight.

    show='weights': colour and thickness of each line come from its weight;
    show='grads': from the weight's gradient, after `loss.backward()`: which weights would
        a gradient step change most?
    Each neuron shows its activation and its bias (or `b.grad`). The caption counts the
    parameters as the seeds do: "41 parameters: (3x4+4) + (4x4+4) + (4x1+1)".
    path: also draw into this file, SVG or PNG by its suffix (or by `format`).
    return_path: return the path written rather than the graph (see `draw_dot`).
    """
    graphviz = require('graphviz')
    if show not in SHOWS:
        raise ValueError(f"draw_network: show must be 'weights' or 'grads', got {show!r}")
    layers = layers_of(model)
    sizes = [layers[0][0].nin] + [len(neurons) for neurons in layers]

    def amount(v):
        return v.data if show == 'weights' else v.grad

    largest = largest_finite(amount(w) for neurons in layers for n in neurons for w in n.w)
    graph = graphviz.Digraph(
        engine='neato',  # neato leaves nodes where `pos` pins them: columns in order
        graph_attr={'splines': 'false', 'outputorder': 'edgesfirst', 'fontname': 'Helvetica',
                    'fontsize': '12', 'labelloc': 'b', 'pad': '0.2',
                    'label': _caption(sizes, show, largest)},
        node_attr={'fontname': 'Helvetica', 'fontsize': '10', 'shape': 'ellipse',
                   'fixedsize': 'true', 'width': '1.3', 'height': '0.6', 'style': 'filled',
                   'fillcolor': 'white'},
        edge_attr={'arrowhead': 'none'})

    # Columns further apart between big layers, so that their many lines fan out.
    column_x = [0.0]
    for before, after in zip(sizes, sizes[1:]):
        column_x.append(column_x[-1] + 2.0 + 0.12 * max(before, after))
    tallest = max(sizes)

    def place(column, row, size):  # neato reads inches; "!" pins the node
        return f"{column_x[column]:.2f},{-((tallest - size) / 2 + row) * ROW_GAP:.2f}!"

    headers = ['input'] + [f"hidden {i}" for i in range(1, len(layers))] + ['output']
    for column, (header, size) in enumerate(zip(headers, sizes)):
        graph.node(f"header{column}", label=f"{header} ({size})", shape='plaintext',
                   fixedsize='false', fontsize='12', pos=place(column, -0.9, tallest))

    inputs = [f"x{i + 1}" for i in range(sizes[0])]
    for row, name in enumerate(inputs):
        graph.node(name, label=name, shape='circle', width='0.55', fillcolor='#eeeeee',
                   fontsize='12', pos=place(0, row, sizes[0]))
    for column, neurons in enumerate(layers, start=1):
        widest = _widest_line(len(inputs) * len(neurons))
        names = [f"layer{column}_neuron{row + 1}" for row in range(len(neurons))]
        for row, (name, neuron) in enumerate(zip(names, neurons)):
            graph.node(name, label=_neuron_label(neuron.act, amount(neuron.b), show),
                       pos=place(column, row, len(neurons)))
            for j, (source, w) in enumerate(zip(inputs, neuron.w)):
                graph.edge(source, name, **_line_style(amount(w), largest, widest),
                           tooltip=f"layer {column}, neuron {row + 1}, w{j + 1}: "
                                   f"{'w' if show == 'weights' else 'w.grad'} {short(amount(w))}")
        inputs = names
    return finish(graph, path, format, return_path)


def parameter_count(sizes):
    """'41 parameters: (3x4+4) + (4x4+4) + (4x1+1)' for sizes [3, 4, 4, 1]."""
    terms = [f"({nin}x{nout}+{nout})" for nin, nout in zip(sizes, sizes[1:])]
    total = sum(nin * nout + nout for nin, nout in zip(sizes, sizes[1:]))
    return f"{total} parameters: {' + '.join(terms)}"


def _widest_line(lines):
    # Thick lines are readable when few; between two layers of 16 they merge into a blur.
    return min(5.0, max(1.5, 100 / lines))


def _line_style(value, largest, widest):
    """Colour by sign; width and opacity by |value| / largest, so that small weights fade."""
    if not math.isfinite(value):
        return {'color': UNDEFINED, 'penwidth': '1', 'style': 'dashed'}
    share = abs(value) / largest if largest > 0 else 0.0
    color = (NEGATIVE if value < 0 else POSITIVE) + f"{round(40 + 215 * share):02x}"
    return {'color': color, 'penwidth': f"{0.3 + (widest - 0.3) * share:.2f}"}


def _neuron_label(act, bias, show):
    color = NEGATIVE if bias < 0 else POSITIVE if bias > 0 else 'black'
    name = 'b' if show == 'weights' else 'b.grad'
    return f'<{act}<br/><font color="{color}" point-size="9">{name} {bias:.3g}</font>>'


def _caption(sizes, show, largest):
    if show == 'grads' and largest == 0:
        key = 'every grad is 0: call backward() on the loss first'
    else:
        what = 'w' if show == 'weights' else 'w.grad'
        key = (f"one line per weight w: blue where {what} > 0, red where {what} < 0; "
               f"thicker and darker where |{what}| is larger (largest {short(largest)})")
    return f"{parameter_count(sizes)}\n{key}"
