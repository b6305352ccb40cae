"""Pictures of tapegrad's graphs, models and training runs.

    draw_dot(value)            the computation graph behind a Value (graphviz)
    dump_graph(value)          the same graph as text, one line per Value
    draw_network(model)        an MLP's inputs, neurons and weights (graphviz)
    plot_loss(history)         loss (and accuracy) per training step (matplotlib)
    plot_lr_sweep(curves)      loss curves for several learning rates
    plot_decision_boundary(model, X, y)   a 2-D classifier's regions and its data
    plot_gradients(model)      |grad| of every weight and bias, layer by layer
    numpy_forward(model, X)    a model's outputs for many inputs at once, without a graph
    register_jupyter_display() in Jupyter, show a computed Value as its graph

graphviz and matplotlib are optional (`pip install 'tapegrad[viz]'`) and imported only by
the functions that use them, so importing this package costs next to nothing.
"""

from .forward import numpy_forward
from .graph import draw_dot, dump_graph
from .jupyter import register_jupyter_display
from .network import draw_network
from .plots import plot_decision_boundary, plot_gradients, plot_loss, plot_lr_sweep

__all__ = ['draw_dot', 'dump_graph', 'draw_network', 'plot_loss', 'plot_lr_sweep',
           'plot_decision_boundary', 'plot_gradients', 'numpy_forward',
           'register_jupyter_display']
