"""In Jupyter, a Value made by operations displays as the drawing of its graph."""

from ..engine import Value
from .graph import count_values, draw_dot

INLINE_MAX_NODES = 150


def register_jupyter_display(max_nodes=INLINE_MAX_NODES):
    """Make IPython display a computed Value as its graph (SVG); True if registered.

    Leaves (Values you created yourself) and graphs of more than `max_nodes` Values keep
    their text repr, so that displaying the loss of a big model costs nothing. Outside
    IPython this does nothing and returns False.
    """
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    if shell is None:
        return False
    shell.display_formatter.formatters['image/svg+xml'].for_type(
        Value, lambda value: graph_svg(value, max_nodes))
    return True


def graph_svg(value, max_nodes=INLINE_MAX_NODES):
    """The SVG drawing of `value`'s graph, or None (meaning: show the text repr instead).

    None for a leaf, for a graph of more than `max_nodes` Values (found without walking all
    of it), and when graphviz (the package or its `dot` program) is missing.
    """
    if not value._prev or count_values(value, stop_after=max_nodes) > max_nodes:
        return None
    try:
        return draw_dot(value, max_nodes=max_nodes).pipe(format='svg', encoding='utf-8')
    except (ImportError, RuntimeError):  # graphviz.ExecutableNotFound is a RuntimeError
        return None
