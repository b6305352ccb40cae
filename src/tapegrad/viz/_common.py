"""What the drawing and plotting modules share: optional imports, number format, rendering."""

import importlib
import math
import sys
from pathlib import Path

GRAPH_FORMATS = ('svg', 'png', 'pdf')


def require(module):
    """Import an optional dependency, or say which extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(f"tapegrad.viz needs the {module!r} package, which is not installed: "
                          f"pip install 'tapegrad[viz]'") from error


def short(x):
    """A number in at most 4 significant digits, exponent without padding: 0.7071, -6, 1.5e-05."""
    text = f"{x:.4g}"
    if 'e' in text:
        mantissa, exponent = text.split('e')
        text = f"{mantissa}e{int(exponent)}"
    return text


def largest_finite(numbers):
    """The largest finite absolute value among `numbers`; 0.0 if there is none."""
    return max((abs(x) for x in numbers if math.isfinite(x)), default=0.0)


def layers_of(model):
    """The neurons of an MLP, a Layer or a Neuron as a list of layers, each a list of neurons."""
    if hasattr(model, 'layers'):
        return [layer.neurons for layer in model.layers]
    if hasattr(model, 'neurons'):
        return [model.neurons]
    if hasattr(model, 'w') and hasattr(model, 'b'):
        return [[model]]
    raise TypeError(f"expected an MLP, a Layer or a Neuron, got {type(model).__name__}: {model!r}")


def render(graph, path, format=None):
    """Draw a graphviz graph into `path` (its format from `format` or the path's suffix).

    Returns the path written. Without graphviz's `dot` program, writes the graph's source
    to a `.dot` file beside `path` instead, says so in one line, and returns that path.
    """
    graphviz = require('graphviz')
    path = Path(path)
    suffix = path.suffix.lstrip('.').lower()
    format = (format or suffix).lower()
    if format not in GRAPH_FORMATS:
        raise ValueError(f"cannot tell how to draw {str(path)!r}: give a path ending in "
                         f"{', '.join('.' + f for f in GRAPH_FORMATS)}, or pass format='svg'")
    if not suffix:
        path = path.with_suffix('.' + format)
    elif suffix != format:
        raise ValueError(f"path {str(path)!r} ends in .{suffix} but format is {format!r}; "
                         f"make them agree")
    try:
        drawing = graph.pipe(format=format)
    except graphviz.ExecutableNotFound:
        source_path = path.with_suffix('.dot')
        source_path.write_text(graph.source, encoding='utf-8')
        print(f"tapegrad: graphviz's 'dot' program was not found, so {path} was not drawn; "
              f"wrote its source to {source_path}. To draw it, install graphviz "
              f"(apt-get install graphviz / brew install graphviz).", file=sys.stderr)
        return source_path
    path.write_bytes(drawing)
    return path


def finish(graph, path, format, return_path):
    """What draw_dot and draw_network return: the graph, or the path they drew it into."""
    if path is None:
        if return_path:
            raise ValueError("return_path=True needs a path to draw into")
        return graph
    written = render(graph, path, format)
    return written if return_path else graph
