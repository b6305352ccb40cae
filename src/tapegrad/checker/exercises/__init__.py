"""The exercises, in the course's order: each module holds its text, stub, solution and check."""

from . import (e0_numerical_derivative, e1_value, e2_add_mul, e3_graph, e4_backward,
               e5_more_ops, e6_neuron, e7_mlp, e8_training)

EXERCISES = tuple(module.EXERCISE for module in (
    e0_numerical_derivative, e1_value, e2_add_mul, e3_graph, e4_backward, e5_more_ops,
    e6_neuron, e7_mlp, e8_training))
