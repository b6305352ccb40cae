"""micrograd, served by tapegrad: code written for micrograd 0.1.0 runs unchanged.

`micrograd.engine.Value` is `tapegrad.Value` itself, so a micrograd script also gets
everything tapegrad adds (tanh, exp, log, sigmoid, graph drawing, `fit`, the tape), and
`micrograd.nn` builds micrograd's ReLU networks from tapegrad's modules. Installing
tapegrad replaces an installed micrograd: both provide the `micrograd` package.
"""
