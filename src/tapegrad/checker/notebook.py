"""`tapegrad exercises DIR`: a fresh exercise notebook, and its solutions beside it.

The exercises follow the course seeds' path (a numerical derivative, a Value, its ops,
backpropagation, neurons, layers, training); the text is tapegrad's own, and each
exercise's text, stub and solution live with its check in `exercises/`. `Value` is
defined once, in exercise 1, and each later exercise attaches its functions to it
(`Value.__add__ = __add__`), so a method is written in one place only and a stub never
replaces work already done. `tapegrad check` grades a copy being worked on: the
untouched notebook is "not started" everywhere, the solutions pass everything.
"""

import json
from pathlib import Path

from .exercises import EXERCISES

EXERCISES_FILE, SOLUTIONS_FILE = 'exercises.ipynb', 'solutions.ipynb'


def markdown(text):
    return ('markdown', text.strip('\n'))


def code(exercise, solution=None):
    """A code cell: `exercise` in the exercise notebook, `solution` (if any) in the other."""
    return ('code', exercise.strip('\n'), (solution or exercise).strip('\n'))


INTRO = """
# Build your own micrograd: exercises

In these exercises you write a small automatic-differentiation engine, the idea at the
heart of PyTorch and JAX, on single numbers: a `Value` that remembers how it was computed,
and a `backward()` that works out how the final result depends on every number that went
into it. On top of it you build neurons, layers and a training loop.

How to work:

- Each exercise explains an idea, then gives a code cell whose stubs raise
  `NotImplementedError`. Replace each `raise` line with your code.
- `Value` is defined in exercise 1; later exercises add methods to it with lines like
  `Value.__add__ = __add__`. After changing a cell, run all the cells again from the top.
- Check your work from a terminal at any time (save the notebook first):
  `tapegrad check exercises.ipynb`. It tells which exercises pass and, for the first
  mistake, the case that shows it.
- The solutions are in `solutions.ipynb`, next to this notebook. Try first!
"""

OUTRO = """
## What you built

A scalar autograd engine (Values that remember their inputs, local derivatives, and a
backward pass over the graph in reverse topological order) and a small neural-network
library on top of it. PyTorch does the same on tensors. tapegrad is this engine too,
with checks against PyTorch and a tape that replays a graph fast: `from tapegrad import
Value, MLP`.
"""


CELLS = ([markdown(INTRO)]
         + [cell for e in EXERCISES for cell in (markdown(e.text), code(e.stub, e.solution))]
         + [markdown(OUTRO)])


def _notebook(cells, use_solutions):
    return {
        'cells': [_cell(i, cell, use_solutions) for i, cell in enumerate(cells)],
        'metadata': {
            'kernelspec': {'display_name': 'Python 3', 'language': 'python', 'name': 'python3'},
            'language_info': {'name': 'python'},
        },
        'nbformat': 4,
        'nbformat_minor': 5,
    }


def _cell(index, cell, use_solutions):
    kind, text = cell[0], cell[-1] if use_solutions else cell[1]
    fields = {'cell_type': kind, 'id': f'cell-{index}', 'metadata': {},
              'source': text.splitlines(keepends=True)}
    if kind == 'code':
        fields.update(execution_count=None, outputs=[])
    return fields


def write_exercises(directory):
    """Write exercises.ipynb and solutions.ipynb into `directory`; returns their paths.

    Refuses to overwrite an existing exercises.ipynb, which may hold a learner's work.
    """
    directory = Path(directory)
    exercises, solutions = directory / EXERCISES_FILE, directory / SOLUTIONS_FILE
    if exercises.exists():
        raise FileExistsError(f"{exercises} already exists and may hold your work: "
                              "move it away, or choose another directory")
    directory.mkdir(parents=True, exist_ok=True)
    for path, use_solutions in ((exercises, False), (solutions, True)):
        path.write_text(json.dumps(_notebook(CELLS, use_solutions), indent=1) + '\n',
                        encoding='utf-8')
    return [exercises, solutions]
