"""A model's forward pass in NumPy, for many inputs at once and without building a graph.

Drawing a decision boundary evaluates the model at tens of thousands of grid points; the
eager forward pass builds a graph of Values for each one and takes minutes. This reads the
same weights and computes the same sums, in the same order, on arrays: milliseconds.
"""

from ._common import layers_of


def numpy_forward(model, X):
    """The outputs of an MLP, Layer or Neuron for each row of X: an array (rows, outputs).

    Agrees with the eager model to the last bit: each neuron adds b + w1*x1 + w2*x2 + ...
    in the order `Neuron.__call__` does, and applies the engine's own activation.
    """
    import numpy as np  # here rather than at the top, so that importing tapegrad.viz stays fast

    from ..tape.replay import rows_rule  # the tape's NumPy replay: the engine's formulas on rows

    def activation(name):
        if name == 'linear':
            return lambda z: z
        rule = rows_rule(name)
        return lambda z: rule.forward(z, None)

    layers = layers_of(model)
    h = np.asarray(X, dtype=float)
    nin = layers[0][0].nin
    if h.ndim != 2 or h.shape[1] != nin:
        raise ValueError(f"numpy_forward: X must hold one row of {nin} inputs per example, "
                         f"got an array of shape {h.shape}")
    with np.errstate(over='ignore'):  # exp overflows to inf where sigmoid is 0, as in Value
        for neurons in layers:
            weights = np.array([[w.data for w in n.w] for n in neurons])  # (neurons, inputs)
            z = np.tile([n.b.data for n in neurons], (len(h), 1))
            for j in range(weights.shape[1]):
                z = z + weights[:, j] * h[:, j:j + 1]
            h = np.column_stack([activation(n.act)(z[:, i]) for i, n in enumerate(neurons)])
    return h
