"""Seeded toy datasets: X is a list of rows of floats, y a list of labels or targets."""

import numpy as np


def _random_state(random_state):
    """None: NumPy's global generator (as scikit-learn does); an int: a new seeded one."""
    if random_state is None:
        return np.random.mtrand._rand
    if isinstance(random_state, np.random.RandomState):
        return random_state
    return np.random.RandomState(random_state)


def make_moons(n_samples=100, noise=None, random_state=None, shuffle=True):
    """Two interleaving half circles, labels 0 and 1: scikit-learn's make_moons, float for float.

    The same arguments give bit-identical X and y to `sklearn.datasets.make_moons`, without
    depending on scikit-learn.
    """
    n_out = n_samples // 2
    n_in = n_samples - n_out
    rng = _random_state(random_state)
    t_out = np.linspace(0, np.pi, n_out)
    t_in = np.linspace(0, np.pi, n_in)
    X = np.vstack([np.append(np.cos(t_out), 1 - np.cos(t_in)),
                   np.append(np.sin(t_out), 1 - np.sin(t_in) - 0.5)]).T
    y = np.hstack([np.zeros(n_out, dtype=np.intp), np.ones(n_in, dtype=np.intp)])
    if shuffle:
        order = np.arange(n_samples)
        rng.shuffle(order)
        X, y = X[order], y[order]
    if noise is not None:
        X = X + rng.normal(scale=noise, size=X.shape)
    return X.tolist(), y.tolist()
